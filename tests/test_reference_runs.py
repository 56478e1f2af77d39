"""The recorded runs of PyTorch-GAN's wgan_gp.py that chapter 5 shows beside its own WGAN-GP."""

from __future__ import annotations

import ast
import importlib.util
import json

from labutils.settings import REPO_ROOT

FIELDS = {"training_seconds", "generator_iterations", "frechet_distance", "classes_covered",
          "mean_confidence", "n_samples", "date", "machine", "torch"}  # fmt: skip


def runner(name: str = "reference_wgan_gp"):
    """benchmarks/<name>.py as a module (benchmarks/ is not a package)."""
    path = REPO_ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chapter_runner():
    """benchmarks/chapter_wgan_gp.py as a module."""
    return runner("chapter_wgan_gp")


def test_chapter_5_has_a_short_and_a_long_recorded_reference_run():
    runs = json.loads((REPO_ROOT / "labutils" / "reference_runs.json").read_text())["wgan_gp.py"]
    assert all(FIELDS <= set(run) for run in runs), "a recorded run lacks a field the chapter reads"
    seconds = [run["training_seconds"] for run in runs]
    assert len(runs) == 2 and seconds == sorted(seconds) and seconds[0] < 200 <= 600 <= seconds[1]
    assert all(run["n_samples"] == 10_000 for run in runs)


def test_recording_replaces_a_run_of_the_same_length_and_keeps_the_others(tmp_path, monkeypatch):
    module = runner()
    monkeypatch.setattr(module, "RECORDED", tmp_path / "runs.json")
    module.record({"training_seconds": 600.2, "frechet_distance": 50.0})
    module.record({"training_seconds": 80.0, "frechet_distance": 300.0})
    module.record({"training_seconds": 599.9, "frechet_distance": 47.0})
    runs = json.loads((tmp_path / "runs.json").read_text())["wgan_gp.py"]
    assert [(r["training_seconds"], r["frechet_distance"]) for r in runs] == [
        (80.0, 300.0),
        (599.9, 47.0),
    ]


def test_the_runner_refuses_a_script_it_does_not_know(tmp_path):
    script = tmp_path / "wgan_gp.py"
    script.write_text("print('not the reference script')\n")
    try:
        runner().patched_source(script)
    except SystemExit as stop:
        assert "not the wgan_gp.py" in str(stop)
    else:
        raise AssertionError("an unknown script was patched")


def test_chapter_5_shows_its_own_wgan_gp_given_about_ten_minutes():
    runs = json.loads((REPO_ROOT / "labutils" / "reference_runs.json").read_text())
    (run,) = runs[chapter_runner().KEY]
    assert FIELDS <= set(run) and run["n_samples"] == 10_000
    assert 500 <= run["training_seconds"] <= 700


def test_the_chapter_runner_takes_definitions_and_never_a_training_cell():
    module = chapter_runner()
    cells = module.chapter_cells()
    joined = "\n".join(cells)
    assert "def train_wgan(" in joined and "class DCGANCritic(" in joined
    assert not any(module.trains(ast.parse(cell)) for cell in cells)
    assert "gp_run = train_wgan(" not in joined and "gan_run = train_gan(" not in joined


def test_the_chapter_runner_names_what_the_chapter_no_longer_defines(tmp_path, monkeypatch):
    module = chapter_runner()
    monkeypatch.setattr(module, "NEEDED", (*module.NEEDED, "no_such_name"))
    try:
        module.chapter_cells()
    except SystemExit as stop:
        assert "no_such_name" in str(stop)
    else:
        raise AssertionError("a missing definition went unnoticed")
