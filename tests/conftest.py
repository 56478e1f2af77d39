"""Shared fixtures of the unit tests: a clean LABBOOK_* environment in tmp_path, no network, no figures left open."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import labutils.data  # noqa: E402
import labutils.settings  # noqa: E402

# The real datasets, where the caller keeps them (LABBOOK_DATA, as CI sets it; else data/ in the repository).
# The idx files are extracted once here, so that tests can link the extracted files into their own folders.
REAL_DATA = labutils.settings.get_data_dir()
for _name in ("mnist", "fashion"):
    labutils.data._check_idx_files(_name, REAL_DATA, train=True)
labutils.data.load_dataset(
    "usps", train=True, data_dir=REAL_DATA
)  # parses USPS once and caches it there
# The models here are tiny: one thread is faster than two fighting each other (and than a neighbour's training job).
torch.set_num_threads(1)
LABBOOK_VARIABLES = (
    "LABBOOK_DATA",
    "LABBOOK_CHECKPOINTS",
    "LABBOOK_RESULTS",
    "LABBOOK_PROFILE",
    "LABBOOK_RETRAIN",
    "LABBOOK_RETRAIN_CLASSIFIERS",
    "LABBOOK_STANDIN",
    "LABBOOK_DEVICE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """Unset every LABBOOK_* variable, point the folders into tmp_path and forget the previous setup()."""
    for variable in LABBOOK_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LABBOOK_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("LABBOOK_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("LABBOOK_RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(labutils.settings, "_current", None)
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Make any attempt to open a network connection fail at once (the tests must never download)."""

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in the unit tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def allow_loopback_only(monkeypatch) -> None:
    """Let connections to the loopback address through (a local server, chromedriver) and refuse any other."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def loopback_only(host) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise OSError(f"network access to {host} is disabled in the tests")

    def connect(self, address):
        if isinstance(address, tuple):
            loopback_only(address[0])
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        loopback_only(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def download_calls(monkeypatch) -> list[str]:
    """Make torchvision's downloads fail quickly, as they do offline; return the list of attempted downloads."""
    import torchvision.datasets.mnist as tv_mnist
    import torchvision.datasets.usps as tv_usps

    calls: list[str] = []

    def mnist_download(self) -> None:
        calls.append(type(self).__name__)
        raise RuntimeError(
            "Error downloading (mocked): <urlopen error [Errno -3] Temporary failure in name resolution>"
        )

    def usps_download(url, root, filename=None, md5=None, **kwargs) -> None:
        calls.append(f"USPS:{filename}")
        raise RuntimeError(
            "Error downloading (mocked): <urlopen error [Errno -3] Temporary failure in name resolution>"
        )

    monkeypatch.setattr(tv_mnist.MNIST, "download", mnist_download)
    monkeypatch.setattr(tv_usps, "download_url", usps_download)
    return calls


def _link_or_copy(src: Path, dst: Path, copy: bool = False) -> Path:
    """Put `src` at `dst` as a symbolic link (read-only use) or, with copy=True, as a private copy to modify."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    if copy:
        shutil.copyfile(src, dst)
    else:
        os.symlink(src, dst)
    return dst


def _idx_tree(data_dir: Path, folder: str, extracted: bool = True, gz: bool = False) -> Path:
    """Mirror torchvision's <folder>/raw layout of the real data into data_dir with links; return the raw folder."""
    raw = data_dir / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for path in sorted((REAL_DATA / folder / "raw").iterdir()):
        if (path.suffix == ".gz" and gz) or (path.suffix != ".gz" and extracted):
            _link_or_copy(path, raw / path.name)
    return raw


@pytest.fixture
def real_data() -> Path:
    """The folder of the real datasets (LABBOOK_DATA as the caller set it, before the tests cleaned it)."""
    return REAL_DATA


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """The LABBOOK_DATA folder of this test (empty at first)."""
    path = tmp_path / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def link_or_copy():
    """link_or_copy(src, dst, copy=False): put a real data file into the test's folder (a copy when it is modified)."""
    return _link_or_copy


@pytest.fixture
def idx_tree():
    """idx_tree(data_dir, 'MNIST', extracted=True, gz=False): mirror the real raw files into data_dir; return raw/."""
    return _idx_tree


# ------------------------------- the handout and a graded class (test_handout.py, test_grade.py)
@pytest.fixture(scope="session")
def handout(tmp_path_factory) -> dict:
    """The student handout of every chapter of the toc, built once by `labbook handout` (folder and zip)."""
    from labbook import handout as handout_module

    return handout_module.build(tmp_path_factory.mktemp("handout") / "gan-labbook-handout")


@pytest.fixture(scope="session")
def source_notebooks(tmp_path_factory) -> Path:
    """The nbgrader source version of every chapter (the instructor's solutions with nbgrader's metadata)."""
    from labbook import chapters, course

    root = tmp_path_factory.mktemp("course")
    for notebook in chapters.chapter_notebooks():
        course.write_source(root, notebook)
    return root / "source"
