"""Real image datasets (MNIST, Fashion-MNIST, USPS) as in-memory tensors, and a resumable minibatch iterator."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import os
import shutil
import warnings
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .settings import get_data_dir
from .text import say

DATASETS = ("mnist", "fashion", "usps")

# torchvision's folder name and files for the two idx datasets: (gz file, md5 of the gz, size of the extracted file).
_IDX_FILES = {
    "mnist": (
        "MNIST",
        {
            "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 47_040_016),
            "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 60_008),
            "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 7_840_016),
            "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 10_008),
        },
    ),
    "fashion": (
        "FashionMNIST",
        {
            "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", 47_040_016),
            "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", 60_008),
            "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", 7_840_016),
            "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", 10_008),
        },
    ),
}
# USPS (LIBSVM files, read directly by torchvision): accepted md5s and the number of images in each split.
# The train file has two known good versions: torchvision's and a faithful rebuild from the original USPS data
# (the course machines' copy; its provenance is described in the SOURCES.md beside those datasets).
_USPS_FILES = {
    True: (
        "usps.bz2",
        {"ec16c51db3855ca6c91edd34d0e9b197", "87922cc43ed42d3d18caceec739190db"},
        7291,
    ),
    False: ("usps.t.bz2", {"8ea070ee2aca1ac39742fdd1ef5ed118"}, 2007),
}
EXPECTED_SIZES = {
    ("mnist", True): 60000,
    ("mnist", False): 10000,
    ("fashion", True): 60000,
    ("fashion", False): 10000,
    ("usps", True): 7291,
    ("usps", False): 2007,
}
IMAGE_SIZE = {"mnist": 28, "fashion": 28, "usps": 16}
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "usps": [str(i) for i in range(10)],
    "fashion": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}


class DatasetError(RuntimeError):
    """A dataset file is missing, cannot be downloaded, or is corrupt; the message says how to fix it."""


class DatasetMissingError(DatasetError):
    """A dataset file is missing and could not be downloaded (offline)."""


def _md5(path: Path) -> str:
    """Return the md5 hex digest of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _how_to_fix(data_dir: Path) -> str:
    """Return the standard advice for getting the datasets into `data_dir`."""
    return (
        f"Fix: copy the datasets into {data_dir} in torchvision's layout (on the course machines: "
        f"`cp -r ../shared/data/. {data_dir}/`), point LABBOOK_DATA at a folder that has them, "
        "or run once with internet access so that torchvision downloads them."
    )


def _download(name: str, data_dir: Path, train: bool, missing: Path) -> None:
    """Let torchvision download a missing dataset, turning any failure into a DatasetError."""
    import torchvision.datasets as tvd

    cls = {"mnist": tvd.MNIST, "fashion": tvd.FashionMNIST, "usps": tvd.USPS}[name]
    say(
        f"labutils: {missing.name} is missing from {missing.parent}; downloading {name} with torchvision..."
    )
    try:
        cls(root=str(data_dir), train=train, download=True)
    except Exception as err:  # offline, DNS failure, HTTP error, bad checksum...
        raise DatasetMissingError(
            f"Dataset {name!r}: the file {missing} is missing and the download failed "
            f"({type(err).__name__}: {str(err)[:200]}). You are probably offline. {_how_to_fix(data_dir)}"
        ) from None


def _extract_idx(gz_path: Path, expected_size: int) -> Path:
    """Check a torchvision idx .gz (md5) and extract it next to itself, atomically; return the raw file."""
    raw = gz_path.with_suffix("")
    tmp = raw.with_name(raw.name + ".part")
    try:
        with gzip.open(gz_path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
    except PermissionError:
        raise DatasetError(
            f"cannot extract {gz_path.name}: {raw.parent} is not writable. Copy the datasets into a "
            "writable folder (for example the repository's data/) and point LABBOOK_DATA at it."
        ) from None
    except (OSError, EOFError) as err:
        tmp.unlink(missing_ok=True)
        raise DatasetError(
            f"{gz_path} is corrupt and cannot be decompressed ({err}). "
            f"Delete it and copy a good one again. {_how_to_fix(gz_path.parent.parent.parent)}"
        ) from None
    if tmp.stat().st_size != expected_size:
        tmp.unlink(missing_ok=True)
        raise DatasetError(
            f"{gz_path} decompresses to the wrong size (expected {expected_size} bytes): the file is "
            f"corrupt. Delete it and copy a good one again. {_how_to_fix(gz_path.parent.parent.parent)}"
        )
    os.replace(tmp, raw)
    return raw


def _check_idx_files(name: str, data_dir: Path, train: bool) -> None:
    """Make sure the four extracted idx files exist and are whole (torchvision wants all); extract or download them."""
    folder, files = _IDX_FILES[name]
    raw_dir = data_dir / folder / "raw"
    for gz_name, (md5, size) in files.items():
        gz_path, raw_path = raw_dir / gz_name, raw_dir / gz_name[:-3]
        if raw_path.exists():
            if raw_path.stat().st_size != size:
                raise DatasetError(
                    f"{raw_path} has {raw_path.stat().st_size} bytes instead of {size}: it is truncated or corrupt. "
                    f"Delete it (it is re-extracted from {gz_name} if that file is there). {_how_to_fix(data_dir)}"
                )
            continue
        if not gz_path.exists():
            _download(name, data_dir, train, gz_path)
        if _md5(gz_path) != md5:
            raise DatasetError(
                f"{gz_path} is corrupt: its md5 is not torchvision's {md5}. "
                f"Delete it and copy or download it again. {_how_to_fix(data_dir)}"
            )
        _extract_idx(gz_path, size)


def _read_idx(name: str, data_dir: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Return uint8 images (N, H, W) and int64 labels of MNIST or Fashion-MNIST via torchvision."""
    import torchvision.datasets as tvd

    _check_idx_files(name, data_dir, train)
    cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
    dataset = cls(root=str(data_dir), train=train, download=False)
    return dataset.data, dataset.targets.long()


def _read_usps(data_dir: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Return uint8 images (N, 16, 16) and int64 labels of USPS, parsed once and cached as a .pt file."""
    import torchvision.datasets as tvd

    file_name, good_md5s, count = _USPS_FILES[train]
    path = data_dir / file_name
    if not path.exists():
        _download("usps", data_dir, train, path)
    md5 = _md5(path)
    cache = data_dir / "USPS" / f"{file_name}.{md5[:12]}.pt"
    if cache.exists():
        try:
            cached = torch.load(cache, weights_only=True)
            return cached["images"], cached["labels"]
        except Exception:
            cache.unlink(missing_ok=True)  # a broken cache is rebuilt from the source file
    if md5 not in good_md5s:
        warnings.warn(
            f"{path} has an md5 ({md5}) that is not one of the known good versions; checking its contents.",
            stacklevel=2,
        )
    try:
        # a quick full read: a truncated bz2 fails here, with a clear cause
        with bz2.open(path) as handle:
            lines = handle.read().decode().strip().splitlines()
        if len(lines) != count:
            raise ValueError(f"{len(lines)} images instead of {count}")
        dataset = tvd.USPS(root=str(data_dir), train=train, download=False)
    except Exception as err:
        raise DatasetError(
            f"{path} is corrupt ({type(err).__name__}: {str(err)[:150]}). "
            f"Delete it and copy a good one again. {_how_to_fix(data_dir)}"
        ) from None
    images = torch.as_tensor(np.asarray(dataset.data), dtype=torch.uint8)
    labels = torch.as_tensor(dataset.targets, dtype=torch.long)
    try:  # the cache only saves time: a read-only data folder just goes without it
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".part")
        torch.save({"images": images, "labels": labels}, tmp)
        os.replace(tmp, cache)
    except OSError:
        pass
    return images, labels


def standin_allowed() -> bool:
    """Return True when LABBOOK_STANDIN=1 lets a generated stand-in replace a missing dataset (tests only)."""
    return os.environ.get("LABBOOK_STANDIN", "0").strip().lower() in ("1", "true", "yes", "on")


@lru_cache(maxsize=1)
def _glyphs(size: int = 48) -> torch.Tensor:
    """Render the ten digits 0-9 with matplotlib's bundled font, as a (10, size, size) float tensor in [0, 1]."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    glyphs = []
    for digit in range(10):
        fig = Figure(figsize=(1, 1), dpi=size)
        fig.text(
            0.5,
            0.5,
            str(digit),
            ha="center",
            va="center",
            fontsize=size * 0.9,
            color="black",
            family="DejaVu Sans",
            weight="bold",
        )
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())[..., :3].mean(axis=-1)
        glyphs.append(torch.tensor(1.0 - rgba / 255.0, dtype=torch.float32))
    return torch.stack(glyphs)


def make_standin(name: str, train: bool, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate a deterministic stand-in for a dataset: rendered digits with random affine jitter (uint8, labels)."""
    size = IMAGE_SIZE[name]
    n = n or (6000 if train else 1000)
    generator = torch.Generator().manual_seed(
        1234 + (0 if train else 1) + 10 * DATASETS.index(name)
    )
    labels = torch.arange(n) % 10
    labels = labels[torch.randperm(n, generator=generator)]
    glyphs = _glyphs()[labels].unsqueeze(1)
    angle = (torch.rand(n, generator=generator) - 0.5) * 0.6
    scale = 1.0 + (torch.rand(n, generator=generator) - 0.5) * 0.3
    shift = (torch.rand(n, 2, generator=generator) - 0.5) * 0.2
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = scale * torch.cos(angle), -scale * torch.sin(angle)
    theta[:, 1, 0], theta[:, 1, 1] = scale * torch.sin(angle), scale * torch.cos(angle)
    theta[:, :, 2] = shift
    grid = torch.nn.functional.affine_grid(theta, (n, 1, size, size), align_corners=False)
    warped = torch.nn.functional.grid_sample(glyphs, grid, align_corners=False)
    return (warped.squeeze(1).clamp(0, 1) * 255).round().to(torch.uint8), labels.long()


_FINGERPRINTS: dict[str, str] = {}  # dataset and split -> hash of the images and labels as loaded


def load_dataset(
    name: str,
    train: bool = True,
    device: torch.device | str | None = None,
    data_dir: Path | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (images, labels): float images (N, 1, H, W) scaled to [-1, 1] and int64 labels, on `device`."""
    if name not in DATASETS:
        raise DatasetError(f"Unknown dataset {name!r}: choose one of {', '.join(DATASETS)}.")
    data_dir = Path(data_dir) if data_dir is not None else get_data_dir()
    try:
        if name == "usps":
            images, labels = _read_usps(data_dir, train)
        else:
            images, labels = _read_idx(name, data_dir, train)
    except DatasetMissingError as err:
        if not standin_allowed():
            raise
        warnings.warn(f"STAND-IN DATA: {err}", stacklevel=2)
        say("!" * 100)
        say(
            f"!! STAND-IN DATA: the real {name} dataset is missing, so LABBOOK_STANDIN=1 replaced it with generated"
        )
        say(
            "!! digits rendered from a font. Numbers and figures below are NOT about the real dataset."
        )
        say("!" * 100)
        images, labels = make_standin(name, train)
    else:
        expected = EXPECTED_SIZES[(name, train)]
        if len(images) != expected or len(labels) != expected:
            raise DatasetError(
                f"{name} ({'train' if train else 'test'}) has {len(images)} images instead of "
                f"{expected}: the files in {data_dir} are incomplete. {_how_to_fix(data_dir)}"
            )
    _FINGERPRINTS[f"{name}-{'train' if train else 'test'}"] = hashlib.sha256(
        images.contiguous().numpy().tobytes() + labels.numpy().tobytes()
    ).hexdigest()[:16]
    images = images.unsqueeze(1).float().div_(127.5).sub_(1.0)
    return images.to(device or "cpu"), labels.to(device or "cpu")


def data_fingerprints() -> dict[str, str]:
    """Return a fingerprint of every dataset loaded so far ({"mnist-train": hash, ...}): checkpoint keys use it."""
    return dict(sorted(_FINGERPRINTS.items()))


@lru_cache(maxsize=8)
def _epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """Return the shuffled order of `n` examples in one epoch: a pure function of (seed, epoch)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def minibatches(
    *tensors: torch.Tensor, batch_size: int, seed: int = 0, start_step: int = 0
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Yield random minibatches of the tensors forever; batch k depends only on (seed, k), so runs resume exactly."""
    if not tensors:
        raise ValueError("minibatches needs at least one tensor.")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(
            f"minibatches: the tensors have different lengths {[len(t) for t in tensors]}."
        )
    if not 1 <= batch_size <= n:
        raise ValueError(
            f"minibatches: batch_size={batch_size} must be between 1 and the dataset size {n}."
        )
    per_epoch = n // batch_size
    step = start_step
    while True:
        epoch, index = divmod(step, per_epoch)
        order = _epoch_permutation(n, seed, epoch)[index * batch_size : (index + 1) * batch_size]
        order = order.to(tensors[0].device)
        yield tuple(t[order] for t in tensors)
        step += 1
