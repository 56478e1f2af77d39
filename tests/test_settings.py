"""Settings read from LABBOOK_*: profile, pick, device, folders, retrain, seeding and the run record."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import labutils as lu
from labutils import settings as settings_module


def _no_accelerator(monkeypatch) -> None:
    """Pretend that this machine has neither CUDA nor MPS, whatever it really has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None:
        monkeypatch.setattr(mps, "is_available", lambda: False)


# --- profile and pick ---------------------------------------------------------------------------------------------


def test_profile_defaults_to_full(monkeypatch):
    monkeypatch.delenv("LABBOOK_PROFILE", raising=False)
    assert lu.get_profile() == "full"
    assert lu.setup("settings").profile == "full"
    assert lu.pick(1000, 10) == 1000


def test_empty_profile_means_full(monkeypatch):
    monkeypatch.setenv("LABBOOK_PROFILE", "  ")
    assert lu.get_profile() == "full"


@pytest.mark.parametrize("value", ["smoke", "SMOKE", " Smoke\n"])
def test_smoke_profile_is_parsed_leniently(monkeypatch, value):
    monkeypatch.setenv("LABBOOK_PROFILE", value)
    assert lu.setup("settings").profile == "smoke"
    assert lu.pick(1000, 10) == 10
    assert lu.pick(full=(64, 64), smoke=(4, 4)) == (4, 4)


@pytest.mark.parametrize("value", ["fast", "quick", "ful", "1"])
def test_bad_profile_raises_a_helpful_settings_error(monkeypatch, value):
    monkeypatch.setenv("LABBOOK_PROFILE", value)
    with pytest.raises(lu.SettingsError) as info:
        lu.setup("settings")
    message = str(info.value)
    assert "LABBOOK_PROFILE" in message and repr(value.strip().lower()) in message
    assert "'full'" in message and "'smoke'" in message
    assert isinstance(info.value, ValueError)
    with pytest.raises(lu.SettingsError):
        lu.pick(1, 2)


def test_setup_reads_the_environment_at_every_call(monkeypatch):
    monkeypatch.setenv("LABBOOK_PROFILE", "smoke")
    assert lu.setup("settings").profile == "smoke"
    monkeypatch.setenv("LABBOOK_PROFILE", "full")
    monkeypatch.setenv("LABBOOK_RETRAIN", "1")
    second = lu.setup("settings")
    assert second.profile == "full" and second.retrain is True
    assert lu.current() is second


# --- device -------------------------------------------------------------------------------------------------------


def test_device_defaults_to_cpu_without_accelerator(monkeypatch):
    _no_accelerator(monkeypatch)
    monkeypatch.delenv("LABBOOK_DEVICE", raising=False)
    assert lu.get_device() == torch.device("cpu")
    assert lu.setup("settings").device.type == "cpu"


def test_device_default_on_this_machine_is_the_best_available(monkeypatch):
    monkeypatch.delenv("LABBOOK_DEVICE", raising=False)
    mps = getattr(torch.backends, "mps", None)
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else ("mps" if mps is not None and mps.is_available() else "cpu")
    )
    assert lu.get_device().type == expected


def test_device_cpu_can_be_forced(monkeypatch):
    monkeypatch.setenv("LABBOOK_DEVICE", " cpu ")
    assert lu.setup("settings").device == torch.device("cpu")


def test_cuda_device_without_gpu_is_a_settings_error(monkeypatch):
    _no_accelerator(monkeypatch)
    monkeypatch.setenv("LABBOOK_DEVICE", "cuda")
    with pytest.raises(lu.SettingsError, match="no CUDA device") as info:
        lu.setup("settings")
    assert "LABBOOK_DEVICE='cuda'" in str(info.value) and "Unset it" in str(info.value)


def test_mps_device_without_mps_is_a_settings_error(monkeypatch):
    _no_accelerator(monkeypatch)
    monkeypatch.setenv("LABBOOK_DEVICE", "mps")
    with pytest.raises(lu.SettingsError, match="MPS"):
        lu.get_device()


@pytest.mark.parametrize("value", ["banana", "cuda:x", "gpu"])
def test_unknown_device_name_is_a_settings_error(monkeypatch, value):
    monkeypatch.setenv("LABBOOK_DEVICE", value)
    with pytest.raises(lu.SettingsError) as info:
        lu.get_device()
    message = str(info.value)
    assert f"LABBOOK_DEVICE={value!r}" in message and "cpu, cuda" in message
    assert info.value.__cause__ is None  # the torch traceback is suppressed: one clear message


# --- folders and retrain ------------------------------------------------------------------------------------------


def test_folders_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LABBOOK_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("LABBOOK_CHECKPOINTS", str(tmp_path / "c"))
    monkeypatch.setenv("LABBOOK_RESULTS", str(tmp_path / "r"))
    settings = lu.setup("settings")
    assert (settings.data_dir, settings.checkpoint_dir, settings.results_dir) == (
        tmp_path / "d",
        tmp_path / "c",
        tmp_path / "r",
    )


def test_relative_folders_are_taken_from_the_repository_root(monkeypatch):
    monkeypatch.setenv("LABBOOK_DATA", "somewhere/data")
    assert settings_module.get_data_dir() == settings_module.REPO_ROOT / "somewhere" / "data"
    monkeypatch.delenv("LABBOOK_RESULTS")
    assert settings_module.get_results_dir() == settings_module.REPO_ROOT / "data" / "results"
    assert settings_module.REPO_ROOT == Path(lu.__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("yes", True), ("TRUE", True), ("0", False), ("", False), ("no", False)],
)
def test_retrain_flag(monkeypatch, value, expected):
    monkeypatch.setenv("LABBOOK_RETRAIN", value)
    assert lu.setup("settings").retrain is expected


def test_current_requires_setup():
    with pytest.raises(RuntimeError, match="setup"):
        lu.current()
    settings = lu.setup("settings")
    assert lu.current() is settings


def test_banner_names_the_settings(monkeypatch, capsys):
    monkeypatch.setenv("LABBOOK_PROFILE", "smoke")
    lu.setup("03_banner", seed=7)
    out = capsys.readouterr().out
    assert "chapter 03_banner" in out
    assert "profile     : smoke" in out
    assert "seed        : 7" in out
    assert f"torch {torch.__version__}" in out


# --- seeding ------------------------------------------------------------------------------------------------------


def _draws() -> tuple[torch.Tensor, np.ndarray, list[float]]:
    """Draw from every random generator the book uses."""
    return torch.randn(8), np.random.rand(8), [random.random() for _ in range(8)]


def test_seed_everything_repeats_every_generator_exactly():
    lu.seed_everything(123)
    first = _draws()
    lu.seed_everything(123)
    second = _draws()
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1])
    assert first[2] == second[2]
    lu.seed_everything(124)
    other = _draws()
    assert not torch.equal(first[0], other[0])
    assert not np.array_equal(first[1], other[1])
    assert first[2] != other[2]


def test_seed_everything_accepts_large_seeds_and_sets_deterministic_mode():
    lu.seed_everything(2**40 + 3)
    assert torch.are_deterministic_algorithms_enabled()
    first = _draws()
    lu.seed_everything(2**40 + 3)
    assert torch.equal(first[0], _draws()[0])


def test_setup_seeds_everything():
    settings = lu.setup("settings", seed=5)
    after_setup = _draws()
    lu.seed_everything(5)
    assert torch.equal(after_setup[0], _draws()[0])
    assert settings.seed == 5


# --- run record ---------------------------------------------------------------------------------------------------


def test_run_record_reports_profile_device_versions_wall_time_and_runs(monkeypatch, capsys):
    monkeypatch.setenv("LABBOOK_PROFILE", "smoke")
    monkeypatch.setenv("LABBOOK_DEVICE", "cpu")
    settings = lu.setup("record")
    settings.runs.append({"name": "vanilla", "status": "trained", "summary": "10/10 steps"})
    settings.runs.append({"name": "wgan", "status": "loaded", "summary": "10/10 steps"})
    settings.runs.append({"name": "dcgan", "status": "resumed", "summary": "10/10 steps"})
    time.sleep(0.25)
    capsys.readouterr()
    record = lu.run_record(settings)
    out = capsys.readouterr().out

    assert record["chapter"] == "record" and record["profile"] == "smoke"
    assert record["device"].startswith("cpu (")
    assert record["versions"]["torch"] == torch.__version__
    assert record["versions"]["numpy"] == np.__version__
    assert set(record["versions"]) >= {"python", "torch", "torchvision", "numpy", "matplotlib"}
    assert 0.2 <= record["wall_time_s"] < 60
    assert [r["status"] for r in record["runs"]] == ["trained", "loaded", "resumed"]
    assert record["runs"] is not settings.runs  # a copy: later runs do not rewrite a printed record

    assert "profile smoke on cpu" in out
    assert "training runs: 3 (2 trained or resumed now, 1 loaded from checkpoints)" in out
    assert "- wgan: loaded (10/10 steps)" in out
    assert "- dcgan: resumed" in out


def test_run_record_without_runs_prints_no_run_list(capsys):
    settings = lu.setup("record")
    record = lu.run_record(settings)
    assert record["runs"] == []
    assert "training runs" not in capsys.readouterr().out
