"""Settings read from the environment, seeding, the banner and the closing run record."""

from __future__ import annotations

import os
import platform
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from .text import say

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILES = ("full", "smoke")


class SettingsError(ValueError):
    """A LABBOOK_* environment variable holds a value the book cannot use."""


@dataclass
class Settings:
    """What one notebook run uses: profile, device, folders and seed."""

    chapter: str
    profile: str
    device: torch.device
    data_dir: Path
    checkpoint_dir: Path
    results_dir: Path
    retrain: bool
    seed: int
    started: float = field(default_factory=time.perf_counter)
    runs: list[dict] = field(default_factory=list)  # one entry per training run: trained or loaded
    claims: dict[str, bool] = field(
        default_factory=dict
    )  # lu.claim: each sentence and whether it holds
    glued: dict[str, object] = field(default_factory=dict)  # lu.glue: the values the prose shows


def get_profile() -> str:
    """Return LABBOOK_PROFILE ('full' by default, or 'smoke'), refusing anything else."""
    profile = os.environ.get("LABBOOK_PROFILE", "full").strip().lower() or "full"
    if profile not in PROFILES:
        raise SettingsError(
            f"LABBOOK_PROFILE={profile!r} is not a profile. Use 'full' (the course settings, default) "
            "or 'smoke' (a few seconds of training, for tests)."
        )
    return profile


def pick(full, smoke):
    """Return `full` in the full profile and `smoke` in the smoke profile (sizes and lengths only)."""
    return full if get_profile() == "full" else smoke


def get_device() -> torch.device:
    """Return LABBOOK_DEVICE, or the best available device: cuda, then mps, then cpu."""
    name = os.environ.get("LABBOOK_DEVICE", "").strip()
    if not name:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise SettingsError(
            f"LABBOOK_DEVICE={name!r} is not a device name ({err}). Use cpu, cuda, cuda:0 or mps."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(
            f"LABBOOK_DEVICE={name!r} asks for a GPU, but torch sees no CUDA device. Unset it to use the CPU."
        )
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise SettingsError(
            f"LABBOOK_DEVICE={name!r} asks for Apple's MPS, which is not available here. Unset it."
        )
    return device


def _dir_from_env(variable: str, default: Path) -> Path:
    """Return the folder named by `variable`, relative paths taken from the repository root."""
    value = os.environ.get(variable, "").strip()
    path = Path(value).expanduser() if value else default
    return path if path.is_absolute() else (REPO_ROOT / path)


def get_data_dir() -> Path:
    """Return LABBOOK_DATA, the dataset directory (default: data/ in the repository)."""
    return _dir_from_env("LABBOOK_DATA", REPO_ROOT / "data")


def get_checkpoint_dir() -> Path:
    """Return LABBOOK_CHECKPOINTS, where trained models persist (default: data/checkpoints/)."""
    return _dir_from_env("LABBOOK_CHECKPOINTS", REPO_ROOT / "data" / "checkpoints")


def get_results_dir() -> Path:
    """Return LABBOOK_RESULTS, where chapters export samples and metrics (default: data/results/)."""
    return _dir_from_env("LABBOOK_RESULTS", REPO_ROOT / "data" / "results")


def get_retrain() -> bool:
    """Return True when LABBOOK_RETRAIN asks to train again instead of loading checkpoints."""
    return os.environ.get("LABBOOK_RETRAIN", "0").strip().lower() in ("1", "true", "yes", "on")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) and ask for deterministic kernels."""
    os.environ.setdefault(
        "CUBLAS_WORKSPACE_CONFIG", ":4096:8"
    )  # deterministic cuBLAS (read when CUDA starts)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def library_versions() -> dict[str, str]:
    """Return the versions of Python and of the libraries that shape results."""
    import matplotlib
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
    }


def device_description(device: torch.device) -> str:
    """Return a human-readable name of the device, with the GPU model when there is one."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads > 1 else ''}, {platform.machine()})"
    return device.type


_current: Settings | None = None


def get_threads(suggested: int | None = None) -> int:
    """Return LABBOOK_THREADS, else the chapter's suggestion, else torch's default number of CPU threads."""
    value = os.environ.get("LABBOOK_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise SettingsError(
                f"LABBOOK_THREADS={value!r} must be a positive whole number of CPU threads."
            )
        return int(value)
    return suggested or torch.get_num_threads()


def setup(chapter: str, seed: int = 0, threads: int | None = None) -> Settings:
    """Read the settings, seed everything, print the banner and return the settings.

    `threads` suggests how many CPU threads torch uses (tiny networks run fastest on one); LABBOOK_THREADS wins.
    """
    global _current
    torch.set_num_threads(get_threads(threads))
    settings = Settings(
        chapter=chapter,
        profile=get_profile(),
        device=get_device(),
        data_dir=get_data_dir(),
        checkpoint_dir=get_checkpoint_dir(),
        results_dir=get_results_dir(),
        retrain=get_retrain(),
        seed=seed,
    )
    seed_everything(seed)
    from .plotting import use_book_style

    use_book_style()
    _current = settings
    versions = library_versions()
    say(f"GAN lab book | chapter {chapter}")
    say(
        f"  profile     : {settings.profile}  (LABBOOK_PROFILE: 'full' = course settings, 'smoke' = quick test)"
    )
    say(f"  device      : {device_description(settings.device)}  (LABBOOK_DEVICE)")
    say(f"  data        : {settings.data_dir}  (LABBOOK_DATA)")
    say(
        f"  checkpoints : {settings.checkpoint_dir}  (LABBOOK_CHECKPOINTS; "
        f"{'retrain forced by LABBOOK_RETRAIN=1' if settings.retrain else 'trained runs are loaded, not retrained'})"
    )
    say(f"  results     : {settings.results_dir}  (LABBOOK_RESULTS)")
    say(f"  seed        : {seed}")
    say("  versions    : " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return settings


def current() -> Settings:
    """Return the settings of the running notebook (call `setup` first)."""
    if _current is None:
        raise RuntimeError(
            "labutils.setup(chapter) has not been called yet: run the first code cell of the notebook."
        )
    return _current


def run_record(settings: Settings) -> dict:
    """Print and return what made this notebook's outputs: profile, device, versions, runs and wall time."""
    record = {
        "chapter": settings.chapter,
        "profile": settings.profile,
        "device": device_description(settings.device),
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_time_s": round(time.perf_counter() - settings.started, 1),
        "versions": library_versions(),
        "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores",
        "runs": list(settings.runs),
    }
    say("Run record: the outputs of this notebook were produced by")
    say(f"  profile {record['profile']} on {record['device']}, {record['platform']}")
    say(
        f"  finished {record['finished']}, wall time {record['wall_time_s']:.1f} s for the whole notebook"
    )
    say("  versions: " + ", ".join(f"{k} {v}" for k, v in record["versions"].items()))
    if record["runs"]:
        trained = sum(r["status"] != "loaded" for r in record["runs"])
        say(
            f"  training runs: {len(record['runs'])} ({trained} trained or resumed now, "
            f"{len(record['runs']) - trained} loaded from checkpoints)"
        )
        for r in record["runs"]:
            say(f"    - {r['name']}: {r['status']} ({r['summary']})")
    return record
