"""Real datasets from a copy of data/, clear errors for missing and corrupt files, the stand-in, and minibatches."""

from __future__ import annotations

import bz2
import gzip
import shutil
from pathlib import Path

import pytest
import torch

import labutils as lu
from conftest import REAL_DATA  # noqa: E402  (the real datasets, where the caller keeps them)
from labutils import data as data_module
from labutils.data import DatasetError, DatasetMissingError, load_dataset, make_standin, minibatches

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _check_images(images: torch.Tensor, labels: torch.Tensor, n: int, size: int) -> None:
    """Assert the format load_dataset promises: (N, 1, size, size) floats in [-1, 1], int64 labels covering 0..9."""
    assert images.shape == (n, 1, size, size)
    assert images.dtype == torch.float32
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert images.min().item() == -1.0 and 0.95 < images.max().item() <= 1.0
    assert torch.equal(labels.unique(), torch.arange(10))
    assert images.device.type == "cpu" and labels.device.type == "cpu"


# --- real data, from copies --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_from_gz(tmp_path_factory) -> Path:
    """A data folder holding copies of MNIST's four .gz files only; labutils extracts them on first use."""
    data_dir = tmp_path_factory.mktemp("mnist-gz")
    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in IDX_NAMES:
        shutil.copyfile(REAL_DATA / "MNIST" / "raw" / f"{name}.gz", raw / f"{name}.gz")
    return data_dir


def test_mnist_is_extracted_from_gz_copies_and_loaded(mnist_from_gz, monkeypatch, download_calls):
    monkeypatch.setenv("LABBOOK_DATA", str(mnist_from_gz))
    images, labels = load_dataset("mnist", train=False)
    _check_images(images, labels, 10000, 28)
    raw = mnist_from_gz / "MNIST" / "raw"
    for name in (
        IDX_NAMES
    ):  # all four extracted (torchvision wants them all), to the size the md5 table says
        assert (raw / name).stat().st_size == data_module._IDX_FILES["mnist"][1][f"{name}.gz"][1]
    assert not list(raw.glob("*.part"))
    assert download_calls == []
    # the extracted files are the real ones: the first test label of MNIST is a 7, the second a 2
    assert labels[:3].tolist() == [7, 2, 1]


def test_mnist_train_split(mnist_from_gz):
    images, labels = load_dataset("mnist", train=True, data_dir=mnist_from_gz)
    _check_images(images, labels, 60000, 28)
    assert labels[:3].tolist() == [5, 0, 4]
    assert (labels.bincount() > 5000).all()


def test_fashion_from_extracted_files(data_dir, idx_tree):
    idx_tree(data_dir, "FashionMNIST")
    images, labels = load_dataset("fashion", train=False)
    _check_images(images, labels, 10000, 28)
    assert len(lu.CLASS_NAMES["fashion"]) == 10 and lu.CLASS_NAMES["fashion"][9] == "Ankle boot"


def test_load_dataset_moves_to_the_device(data_dir, idx_tree):
    idx_tree(data_dir, "FashionMNIST")
    images, labels = load_dataset("fashion", train=False, device="meta")
    assert images.device.type == "meta" and labels.device.type == "meta"
    assert images.shape == (10000, 1, 28, 28)


@pytest.fixture(scope="module")
def usps_test_dir(tmp_path_factory) -> Path:
    """A data folder with a copy of usps.t.bz2 (the test split parses in about a second)."""
    data_dir = tmp_path_factory.mktemp("usps")
    shutil.copyfile(REAL_DATA / "usps.t.bz2", data_dir / "usps.t.bz2")
    return data_dir


def test_usps_test_split_is_parsed_and_cached(usps_test_dir):
    images, labels = load_dataset("usps", train=False, data_dir=usps_test_dir)
    _check_images(images, labels, 2007, 16)
    cache = list((usps_test_dir / "USPS").glob("usps.t.bz2.*.pt"))
    assert len(cache) == 1 and cache[0].name == "usps.t.bz2.8ea070ee2aca.pt"
    again, again_labels = load_dataset(
        "usps", train=False, data_dir=usps_test_dir
    )  # now from the cache
    assert torch.equal(again, images) and torch.equal(again_labels, labels)


def test_usps_train_split(data_dir, link_or_copy):
    link_or_copy(REAL_DATA / "usps.bz2", data_dir / "usps.bz2")
    cached = sorted(
        (REAL_DATA / "USPS").glob("usps.bz2.*.pt")
    )  # parsing 7291 lines takes seconds: reuse the cache
    assert cached, "the real data folder should hold the parsed USPS cache"
    link_or_copy(cached[0], data_dir / "USPS" / cached[0].name, copy=True)
    images, labels = load_dataset("usps", train=True)
    _check_images(images, labels, 7291, 16)


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match="Unknown dataset 'cifar'.*mnist, fashion, usps"):
        load_dataset("cifar")


# --- missing files ------------------------------------------------------------------------------------------------


def test_missing_mnist_offline_names_the_file_and_the_fix(data_dir, download_calls, capsys):
    with pytest.raises(DatasetMissingError) as info:
        load_dataset("mnist", train=False)
    message = str(info.value)
    assert str(data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte.gz") in message
    assert "missing" in message and "download failed" in message and "offline" in message
    assert "Fix:" in message and "LABBOOK_DATA" in message and str(data_dir) in message
    assert download_calls == ["MNIST"]
    assert "downloading mnist" in capsys.readouterr().out


def test_one_missing_idx_file_is_reported_by_name(data_dir, idx_tree, download_calls):
    raw = idx_tree(data_dir, "FashionMNIST")
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion", train=False)
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value) and "Fix:" in str(info.value)
    assert download_calls == ["FashionMNIST"]


def test_missing_usps_offline(data_dir, download_calls):
    with pytest.raises(DatasetMissingError) as info:
        load_dataset("usps", train=False)
    assert str(data_dir / "usps.t.bz2") in str(info.value) and "Fix:" in str(info.value)
    assert download_calls == ["USPS:usps.t.bz2"]


# --- corrupt files ------------------------------------------------------------------------------------------------


def test_corrupt_gz_is_reported_not_extracted(data_dir, idx_tree, link_or_copy):
    raw = idx_tree(data_dir, "MNIST")
    (raw / "t10k-labels-idx1-ubyte").unlink()
    gz = link_or_copy(
        REAL_DATA / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz",
        raw / "t10k-labels-idx1-ubyte.gz",
        copy=True,
    )
    content = bytearray(gz.read_bytes())
    content[len(content) // 2] ^= 0xFF
    gz.write_bytes(bytes(content))
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", train=False)
    assert not isinstance(info.value, DatasetMissingError)
    assert str(gz) in str(info.value) and "corrupt" in str(info.value)
    assert not (raw / "t10k-labels-idx1-ubyte").exists()


def test_truncated_gz_cannot_be_extracted(tmp_path):
    gz = tmp_path / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes((REAL_DATA / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").read_bytes()[:2000])
    with pytest.raises(DatasetError, match="corrupt") as info:
        data_module._extract_idx(gz, 10_008)
    assert str(gz) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        gz.name
    ]  # neither the raw file nor a .part is left


def test_gz_of_the_wrong_size_is_corrupt(tmp_path):
    gz = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(gz, "wb") as handle:
        handle.write(b"\0" * 100)
    with pytest.raises(DatasetError, match="wrong size.*corrupt"):
        data_module._extract_idx(gz, 10_008)
    assert not (tmp_path / "t10k-labels-idx1-ubyte").exists()


def test_truncated_extracted_file_is_reported(data_dir, idx_tree, link_or_copy, download_calls):
    raw = idx_tree(data_dir, "MNIST")
    target = link_or_copy(
        REAL_DATA / "MNIST" / "raw" / "t10k-images-idx3-ubyte",
        raw / "t10k-images-idx3-ubyte",
        copy=True,
    )
    with open(target, "r+b") as handle:
        handle.truncate(1_000_000)
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", train=False)
    message = str(info.value)
    assert (
        str(target) in message and "truncated or corrupt" in message and "1000000 bytes" in message
    )
    assert download_calls == []


def test_corrupt_usps_file_is_reported(data_dir, link_or_copy):
    path = link_or_copy(REAL_DATA / "usps.t.bz2", data_dir / "usps.t.bz2", copy=True)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 3])
    with pytest.warns(UserWarning, match="not one of the known good versions"):
        with pytest.raises(DatasetError) as info:
            load_dataset("usps", train=False)
    assert not isinstance(info.value, DatasetMissingError)
    assert (
        str(path) in str(info.value) and "corrupt" in str(info.value) and "Fix:" in str(info.value)
    )
    assert not list(data_dir.rglob("*.pt"))  # nothing cached from a corrupt file


def test_usps_with_missing_lines_is_corrupt(data_dir):
    lines = bz2.decompress((REAL_DATA / "usps.t.bz2").read_bytes()).splitlines(keepends=True)
    (data_dir / "usps.t.bz2").write_bytes(bz2.compress(b"".join(lines[:100])))
    with pytest.warns(UserWarning):
        with pytest.raises(DatasetError, match="100 images instead of 2007"):
            load_dataset("usps", train=False)


# --- stand-in -----------------------------------------------------------------------------------------------------


def test_standin_replaces_a_missing_dataset_loudly(monkeypatch, capsys, download_calls):
    monkeypatch.setenv("LABBOOK_STANDIN", "1")
    with pytest.warns(UserWarning, match="STAND-IN DATA"):
        images, labels = load_dataset("mnist", train=False)
    out = capsys.readouterr().out
    assert "STAND-IN" in out and "NOT about the real dataset" in out
    assert download_calls == ["MNIST"]
    _check_images(images, labels, 1000, 28)
    expected, expected_labels = make_standin("mnist", train=False)
    assert torch.equal(labels, expected_labels)
    assert torch.equal(images, expected.unsqueeze(1).float() / 127.5 - 1)


def test_standin_for_usps_has_usps_size(monkeypatch, capsys):
    monkeypatch.setenv("LABBOOK_STANDIN", "yes")
    with pytest.warns(UserWarning, match="STAND-IN"):
        images, labels = load_dataset("usps", train=False)
    _check_images(images, labels, 1000, 16)
    assert "STAND-IN" in capsys.readouterr().out


def test_without_standin_a_missing_dataset_raises(monkeypatch):
    monkeypatch.setenv("LABBOOK_STANDIN", "0")
    with pytest.raises(DatasetMissingError):
        load_dataset("fashion", train=False)


def test_standin_never_replaces_a_corrupt_file(
    monkeypatch, data_dir, idx_tree, link_or_copy, capsys
):
    monkeypatch.setenv("LABBOOK_STANDIN", "1")
    raw = idx_tree(data_dir, "MNIST")
    target = link_or_copy(
        REAL_DATA / "MNIST" / "raw" / "t10k-labels-idx1-ubyte",
        raw / "t10k-labels-idx1-ubyte",
        copy=True,
    )
    target.write_bytes(target.read_bytes()[:5000])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        load_dataset("mnist", train=False)
    assert "STAND-IN" not in capsys.readouterr().out


def test_standin_never_replaces_a_corrupt_usps_file(monkeypatch, data_dir):
    monkeypatch.setenv("LABBOOK_STANDIN", "1")
    (data_dir / "usps.t.bz2").write_bytes(b"BZh91AY&SY this is not bzip2 data")
    with pytest.warns(UserWarning):
        with pytest.raises(DatasetError, match="corrupt"):
            load_dataset("usps", train=False)


def test_make_standin_is_deterministic_and_balanced():
    images, labels = make_standin("fashion", train=False, n=200)
    again, again_labels = make_standin("fashion", train=False, n=200)
    assert torch.equal(images, again) and torch.equal(labels, again_labels)
    assert images.shape == (200, 28, 28) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and torch.equal(labels.bincount(), torch.full((10,), 20))
    assert images.float().std() > 20  # digits, not a blank page
    train_images, _ = make_standin("fashion", train=True, n=200)
    assert not torch.equal(train_images, images)  # the splits differ
    assert make_standin("usps", train=True, n=30)[0].shape == (30, 16, 16)


# --- minibatches --------------------------------------------------------------------------------------------------


def test_minibatch_shapes_and_pairing():
    x = torch.arange(100, dtype=torch.float32).reshape(100, 1).expand(100, 3).contiguous()
    y = torch.arange(100)
    batches = minibatches(x, y, batch_size=16, seed=3)
    for _ in range(10):
        bx, by = next(batches)
        assert bx.shape == (16, 3) and by.shape == (16,)
        assert torch.equal(bx[:, 0].long(), by)  # rows stay paired with their labels


def test_each_example_once_per_epoch():
    y = torch.arange(120)
    batches = minibatches(y, batch_size=12, seed=0)
    epochs = []
    for _ in range(3):
        epoch = torch.cat([next(batches)[0] for _ in range(10)])
        assert torch.equal(epoch.sort().values, y)
        epochs.append(epoch)
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled every epoch


def test_no_repeats_within_an_epoch_when_the_size_does_not_divide():
    y = torch.arange(50)
    batches = minibatches(y, batch_size=16, seed=1)
    epoch = torch.cat([next(batches)[0] for _ in range(3)])  # 50 // 16 = 3 full batches per epoch
    assert len(epoch.unique()) == 48


@pytest.mark.parametrize("k", [0, 1, 7, 10, 23])
def test_start_step_resumes_exactly(k):
    y = torch.arange(40)
    fresh = minibatches(y, batch_size=4, seed=5)
    expected = [next(fresh)[0] for _ in range(k + 15)][k:]
    resumed = minibatches(y, batch_size=4, seed=5, start_step=k)
    got = [next(resumed)[0] for _ in range(15)]
    assert all(torch.equal(a, b) for a, b in zip(expected, got))


def test_minibatches_depend_on_the_seed_not_the_global_rng():
    y = torch.arange(64)
    torch.manual_seed(0)
    first = next(minibatches(y, batch_size=8, seed=2))[0]
    torch.manual_seed(99)
    assert torch.equal(next(minibatches(y, batch_size=8, seed=2))[0], first)
    assert not torch.equal(next(minibatches(y, batch_size=8, seed=3))[0], first)


@pytest.mark.parametrize("batch_size", [0, -1, 11])
def test_bad_batch_size(batch_size):
    with pytest.raises(
        ValueError, match=f"batch_size={batch_size} must be between 1 and the dataset size 10"
    ):
        next(minibatches(torch.zeros(10), batch_size=batch_size))


def test_mismatched_lengths():
    with pytest.raises(ValueError, match=r"different lengths \[10, 9\]"):
        next(minibatches(torch.zeros(10), torch.zeros(9), batch_size=2))


def test_no_tensors():
    with pytest.raises(ValueError, match="at least one tensor"):
        next(minibatches(batch_size=2))
