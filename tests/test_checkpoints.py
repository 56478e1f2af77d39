"""Checkpoints: a finished run loads instead of retraining, an interrupted one resumes bit for bit, bad files retrain.

The training loop is written here the way a notebook writes it: start_run, then `for step in training_steps(run)`,
global-RNG noise (torch.randn) and labutils.minibatches for the data.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import linecache
import random
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import labutils as lu
import labutils.data
import labutils.files
from labutils import checkpoints as ck

CHAPTER = "ck_tests"
NZ = 4


class TinyGenerator(nn.Module):
    """A small MLP generator: noise (NZ) -> 2D point."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(NZ, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class TinyDiscriminator(nn.Module):
    """A small MLP discriminator: 2D point -> logit."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


DATA = lu.sample_ring(256, generator=torch.Generator().manual_seed(0))


def gan_step(G: nn.Module, D: nn.Module, opt_G, opt_D, x: torch.Tensor) -> tuple[float, float]:
    """One non-saturating GAN step on both networks, noise from the global RNG."""
    z = torch.randn(len(x), NZ)
    fake = G(z)
    loss_D = F.binary_cross_entropy_with_logits(
        D(x), torch.ones(len(x), 1)
    ) + F.binary_cross_entropy_with_logits(D(fake.detach()), torch.zeros(len(x), 1))
    opt_D.zero_grad()
    loss_D.backward()
    opt_D.step()
    loss_G = F.binary_cross_entropy_with_logits(
        D(G(torch.randn(len(x), NZ))), torch.ones(len(x), 1)
    )
    opt_G.zero_grad()
    loss_G.backward()
    opt_G.step()
    return loss_D.item(), loss_G.item()


def open_run(
    name: str, config: dict, state: dict, total_steps: int, every_s: float = 0.0, settings=None
):
    """The cell that opens a training run: every test opens its runs here, as a chapter does in one place.

    (The key hashes the code that calls start_run, so the same run opened from other code is another run.)
    """
    return lu.start_run(
        name,
        config=config,
        state=state,
        total_steps=total_steps,
        every_s=every_s,
        code=[gan_step],
        settings=settings,
    )


def notebook(
    name: str = "tiny",
    total_steps: int = 30,
    every_s: float = 0.0,
    interrupt_at: int | None = None,
    config: dict | None = None,
    seed: int = 0,
) -> dict:
    """Run the cells of a notebook that trains a tiny GAN: setup, models, start_run, the loop; return what it made."""
    settings = lu.setup(CHAPTER, seed=seed)
    G, D = TinyGenerator(), TinyDiscriminator()
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    initial = {k: v.clone() for k, v in G.state_dict().items()}
    config = (
        config if config is not None else {"lr": 1e-3, "batch_size": 32, "device": settings.device}
    )
    started = time.perf_counter()
    run = open_run(
        name,
        config,
        {"generator": G, "discriminator": D, "opt_G": opt_G, "opt_D": opt_D},
        total_steps,
        every_s,
    )
    batches = lu.minibatches(
        DATA, batch_size=config.get("batch_size", 32), seed=settings.seed, start_step=run.step
    )
    steps_run = 0
    for step in lu.training_steps(run):
        steps_run += 1
        if step == interrupt_at:
            raise KeyboardInterrupt  # the student presses stop in the middle of step `step`
        (x,) = next(batches)
        loss_D, loss_G = gan_step(G, D, opt_G, opt_D, x)
        run.history["loss_D"].append(loss_D)
        run.history["loss_G"].append(loss_G)
    elapsed = time.perf_counter() - started
    return {
        "run": run,
        "G": G,
        "D": D,
        "opt_G": opt_G,
        "opt_D": opt_D,
        "settings": settings,
        "initial": initial,
        "seconds": elapsed,
        "steps_run": steps_run,
        "after": (torch.randn(6), np.random.rand(3), random.random()),
    }


def weights(result: dict) -> dict[str, torch.Tensor]:
    """All parameters of both networks of a notebook run, by name."""
    return {
        **{f"G.{k}": v for k, v in result["G"].state_dict().items()},
        **{f"D.{k}": v for k, v in result["D"].state_dict().items()},
    }


def assert_same_weights(a: dict, b: dict) -> None:
    """Assert bit-for-bit equal weights."""
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, f"weights differ: {different}"


def assert_same_after(a: dict, b: dict) -> None:
    """Assert that the random numbers drawn after the run are the same."""
    assert torch.equal(a["after"][0], b["after"][0])
    assert np.array_equal(a["after"][1], b["after"][1])
    assert a["after"][2] == b["after"][2]


def checkpoint_lines(out: str) -> list[str]:
    """The [checkpoint] lines printed by start_run."""
    return [line for line in out.splitlines() if line.startswith("[checkpoint]")]


def checkpoint_files(settings) -> list[Path]:
    """Every file in the chapter's checkpoint folder, temporary files included."""
    folder = settings.checkpoint_dir / CHAPTER
    return sorted(folder.iterdir()) if folder.exists() else []


# --- load instead of retraining -----------------------------------------------------------------------------------


def test_second_run_loads_fast_with_identical_weights_history_and_rng(capsys):
    first = notebook(total_steps=150, every_s=60)
    out = capsys.readouterr().out
    assert first["run"].status == "trained"
    assert "no checkpoint for these settings yet" in out
    assert first["run"].path.exists() and first["run"].step == 150
    assert len(first["run"].history["loss_D"]) == 150

    second = notebook(total_steps=150, every_s=60)
    lines = checkpoint_lines(capsys.readouterr().out)
    assert second["run"].status == "loaded"
    assert len(lines) == 1 and "loaded" in lines[0] and "150 steps" in lines[0]
    # Loading trains nothing: no step of the loop runs (wall-clock ratios of sub-second runs are too noisy to test).
    assert first["steps_run"] == 150 and second["steps_run"] == 0
    assert_same_weights(first, second)
    assert not torch.equal(
        second["initial"]["net.0.weight"], second["G"].state_dict()["net.0.weight"]
    )
    assert dict(second["run"].history) == dict(first["run"].history)
    assert second["opt_G"].state_dict()["state"][0]["step"] == 150
    assert_same_after(first, second)
    assert second["run"].trained_seconds == pytest.approx(first["run"].trained_seconds)
    assert second["run"].trained_on == "cpu"


def test_loaded_history_keeps_appending_as_a_list(capsys):
    notebook(total_steps=5)
    run = notebook(total_steps=5)["run"]
    assert run.status == "loaded"
    run.history["new_key"].append(1.0)  # still a defaultdict(list) after loading
    assert run.history["new_key"] == [1.0]


# --- resume after an interruption ---------------------------------------------------------------------------------


@pytest.mark.parametrize("interrupt_at", [1, 13, 29])
def test_interrupted_run_resumes_bit_for_bit(monkeypatch, tmp_path, capsys, interrupt_at):
    monkeypatch.setenv("LABBOOK_CHECKPOINTS", str(tmp_path / "uninterrupted"))
    reference = notebook(total_steps=30)
    assert reference["run"].status == "trained"

    monkeypatch.setenv("LABBOOK_CHECKPOINTS", str(tmp_path / "interrupted"))
    with pytest.raises(KeyboardInterrupt):
        notebook(total_steps=30, interrupt_at=interrupt_at)
    capsys.readouterr()

    resumed = notebook(
        total_steps=30
    )  # a fresh kernel: same seed, fresh models, the same cells again
    lines = checkpoint_lines(capsys.readouterr().out)
    assert resumed["run"].status == "resumed"
    assert (
        len(lines) == 1 and f"resuming an interrupted run at step {interrupt_at} of 30" in lines[0]
    )
    assert resumed["run"].step == 30
    assert_same_weights(reference, resumed)
    for name in ("opt_G", "opt_D"):
        ref_state, res_state = (
            reference[name].state_dict()["state"],
            resumed[name].state_dict()["state"],
        )
        assert all(
            torch.equal(ref_state[i][k], res_state[i][k]) for i in ref_state for k in ref_state[i]
        )
    assert resumed["run"].history["loss_D"] == reference["run"].history["loss_D"]
    assert resumed["run"].history["loss_G"] == reference["run"].history["loss_G"]
    assert_same_after(reference, resumed)
    assert [p.name for p in checkpoint_files(resumed["settings"])] == [resumed["run"].path.name]


def test_resume_without_restoring_the_rng_would_differ(monkeypatch, tmp_path, capsys):
    """Control for the test above: the comparison is sharp enough to see a resume that forgets the random state."""
    reference = notebook(total_steps=30)
    monkeypatch.setenv("LABBOOK_CHECKPOINTS", str(tmp_path / "other"))
    with pytest.raises(KeyboardInterrupt):
        notebook(total_steps=30, interrupt_at=13)
    # Forget the random states at resume (through the libraries: patching labutils would change the key).
    monkeypatch.setattr(torch, "set_rng_state", lambda state: None)
    monkeypatch.setattr(ck.np.random, "set_state", lambda state: None)
    monkeypatch.setattr(ck.random, "setstate", lambda state: None)
    resumed = notebook(total_steps=30)
    assert resumed["run"].status == "resumed"
    assert resumed["run"].history["loss_D"][:13] == reference["run"].history["loss_D"][:13]
    assert resumed["run"].history["loss_D"][13:] != reference["run"].history["loss_D"][13:]
    assert any(
        not torch.equal(a, b)
        for a, b in zip(weights(reference).values(), weights(resumed).values())
    )


def test_checkpoints_are_written_every_step_with_every_s_zero(capsys):
    with pytest.raises(KeyboardInterrupt):
        notebook(total_steps=30, interrupt_at=7)
    settings = lu.current()
    files = checkpoint_files(settings)
    assert len(files) == 1 and files[0].suffix == ".pt"
    payload = torch.load(files[0], map_location="cpu", weights_only=True)
    assert payload["step"] == 7 and len(payload["history"]["loss_D"]) == 7


def test_no_checkpoint_before_every_s_has_passed(capsys):
    with pytest.raises(KeyboardInterrupt):
        notebook(total_steps=30, interrupt_at=7, every_s=3600)
    assert checkpoint_files(lu.current()) == []


# --- LABBOOK_RETRAIN ----------------------------------------------------------------------------------------------


def test_retrain_ignores_an_existing_checkpoint(monkeypatch, capsys):
    first = notebook(total_steps=20)
    stamp = first["run"].path.stat().st_mtime_ns
    monkeypatch.setenv("LABBOOK_RETRAIN", "1")
    capsys.readouterr()
    again = notebook(total_steps=20)
    lines = checkpoint_lines(capsys.readouterr().out)
    assert again["run"].status == "trained"
    assert len(lines) == 1 and "LABBOOK_RETRAIN=1" in lines[0] and "from scratch" in lines[0]
    assert len(again["run"].history["loss_D"]) == 20  # trained all 20 steps again, not loaded
    assert again["run"].path.stat().st_mtime_ns >= stamp
    assert_same_weights(first, again)  # training is deterministic
    assert again["settings"].runs[-1]["status"] == "trained"


# --- unusable checkpoints: one clear line, then training from scratch -------------------------------------------


def _truncate(run) -> None:
    content = run.path.read_bytes()
    run.path.write_bytes(content[: len(content) // 2])


def _garbage(run) -> None:
    run.path.write_bytes(b"this is not a checkpoint\n" * 40)


def _other_settings(run) -> None:
    run.key = "f" * 64
    ck.save(run)


def _empty(run) -> None:
    run.path.write_bytes(b"")


def _other_format(run) -> None:
    torch.save({"format": 0, "key": run.key}, run.path)


def _other_objects(run) -> None:
    payload = torch.load(run.path, weights_only=True)
    payload["state"].pop("opt_D")
    torch.save(payload, run.path)


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_truncate, "unreadable, probably truncated or corrupt"),
        (_garbage, "unreadable, probably truncated or corrupt"),
        (_empty, "unreadable"),
        (_other_settings, "settings hash ffffffffffff does not match"),
        (_other_format, "another version of labutils"),
        (_other_objects, "it holds ['discriminator', 'generator', 'opt_G']"),
    ],
)
def test_unusable_checkpoint_is_reported_once_and_retrained(capsys, spoil, reason):
    first = notebook(total_steps=12)
    spoil(first["run"])
    capsys.readouterr()

    again = notebook(total_steps=12)
    lines = checkpoint_lines(capsys.readouterr().out)
    assert len(lines) == 1, lines
    assert (
        "ignoring" in lines[0]
        and reason in lines[0]
        and lines[0].endswith("training from scratch.")
    )
    assert again["run"].status == "trained"
    assert (
        len(again["run"].history["loss_D"]) == 12
    )  # every step trained now, nothing taken from the bad file
    assert_same_weights(
        first, again
    )  # same result as a clean run: no state leaked from the bad file
    assert_same_after(first, again)
    # the bad file has been replaced by a good checkpoint, which now loads
    third = notebook(total_steps=12)
    assert third["run"].status == "loaded"


def test_checkpoint_that_does_not_fit_the_models_restores_them(capsys):
    first = notebook(total_steps=6)
    payload = torch.load(first["run"].path, weights_only=True)
    payload["state"]["discriminator"]["net.0.weight"] = torch.zeros(3, 3)
    torch.save(payload, first["run"].path)
    capsys.readouterr()
    again = notebook(total_steps=6)
    lines = checkpoint_lines(capsys.readouterr().out)
    assert len(lines) == 1 and "do not fit the models" in lines[0]
    assert again["run"].status == "trained"
    assert_same_weights(first, again)


# --- atomic saves -------------------------------------------------------------------------------------------------


def test_interrupted_save_keeps_the_previous_checkpoint(monkeypatch, capsys):
    first = notebook(total_steps=10)
    path = first["run"].path
    good = path.read_bytes()
    real_save = torch.save

    def save_half_then_fail(obj, handle, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(obj, buffer)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise KeyboardInterrupt  # Ctrl-C (or a full disk) in the middle of writing

    monkeypatch.setenv("LABBOOK_RETRAIN", "1")
    monkeypatch.setattr(ck.torch, "save", save_half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        notebook(total_steps=10)
    monkeypatch.setattr(ck.torch, "save", real_save)

    assert path.read_bytes() == good
    assert checkpoint_files(lu.current()) == [path]  # no temporary file left behind
    monkeypatch.delenv("LABBOOK_RETRAIN")
    capsys.readouterr()
    again = notebook(total_steps=10)
    assert again["run"].status == "loaded"
    assert_same_weights(first, again)


def test_save_writes_through_a_temporary_file(monkeypatch, capsys):
    result = notebook(total_steps=3)
    run = result["run"]
    seen = []
    real_replace = labutils.files.os.replace

    def spy_replace(src, dst):
        seen.append((Path(src).name, Path(dst)))
        assert Path(src).exists() and Path(src).stat().st_size > 0
        return real_replace(src, dst)

    monkeypatch.setattr(labutils.files.os, "replace", spy_replace)
    ck.save(run)
    assert (
        len(seen) == 1
        and seen[0][1] == run.path
        and seen[0][0].endswith(".tmp")
        and seen[0][0].startswith(".")
    )


# --- a checkpoint written on a GPU --------------------------------------------------------------------------------


def _pretend_saved_on_cuda(path: Path) -> None:
    """Rewrite the storage locations in a torch zip checkpoint from 'cpu' to 'cuda:0', keeping the zip layout."""
    old, new = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
    source = io.BytesIO(path.read_bytes())
    target = io.BytesIO()
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            content = zin.read(info)
            if info.filename.endswith("/data.pkl"):
                assert content.count(old) >= 1
                content = content.replace(old, new)
            zout.writestr(info.filename, content, compress_type=zipfile.ZIP_STORED)
    path.write_bytes(target.getvalue())


def test_checkpoint_saved_on_gpu_loads_on_cpu(monkeypatch, capsys):
    monkeypatch.setattr(
        torch.cuda, "is_available", lambda: False
    )  # this machine has no GPU, whatever it has
    first = notebook(total_steps=8)
    _pretend_saved_on_cuda(first["run"].path)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(first["run"].path, weights_only=True)
    capsys.readouterr()
    again = notebook(total_steps=8)
    lines = checkpoint_lines(capsys.readouterr().out)
    assert again["run"].status == "loaded", lines
    assert "on cuda:0" in lines[0]
    assert all(p.device.type == "cpu" for p in again["G"].parameters())
    assert_same_weights(first, again)
    assert_same_after(first, again)


def test_checkpoint_trained_on_another_device_has_the_same_path(capsys):
    first = notebook(total_steps=4)
    settings = lu.setup(CHAPTER)
    gpu_settings = dataclasses.replace(settings, device=torch.device("cuda"), runs=[])
    G, D = TinyGenerator(), TinyDiscriminator()
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    run = open_run(
        "tiny",
        {"lr": 1e-3, "batch_size": 32, "device": gpu_settings.device},
        {"generator": G, "discriminator": D, "opt_G": opt_G, "opt_D": opt_D},
        4,
        settings=gpu_settings,
    )
    assert run.path == first["run"].path and run.status == "loaded"
    assert gpu_settings.runs[-1]["status"] == "loaded"


# --- the settings key ---------------------------------------------------------------------------------------------


def _key(
    settings=None, config=None, state=None, total_steps=10, code=(gan_step,), name="tiny"
) -> str:
    settings = settings or lu.current()
    if state is None:
        G, D = TinyGenerator(), TinyDiscriminator()
        state = {
            "generator": G,
            "discriminator": D,
            "opt_G": torch.optim.Adam(G.parameters(), lr=1e-3),
        }
    config = (
        {"lr": 1e-3, "betas": (0.5, 0.999), "device": settings.device} if config is None else config
    )
    return ck.settings_key(settings, name, config, state, total_steps, code)


def _module_from_source(tmp_path: Path, module_name: str, source: str):
    """Import `source` as a module from its own file, the way a chapter's helper module would be."""
    path = tmp_path / f"{module_name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


NET_SOURCE = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 2)

    def forward(self, x):
        return {body}
"""


def test_key_is_stable_for_the_same_settings():
    lu.setup(CHAPTER)
    assert _key() == _key()
    assert len(_key()) == 64


def test_key_changes_with_config_profile_seed_total_steps_code_and_name(monkeypatch):
    settings = lu.setup(CHAPTER)
    base = _key()
    assert _key(config={"lr": 2e-3, "betas": (0.5, 0.999), "device": settings.device}) != base
    assert _key(config={"lr": 1e-3, "betas": (0.0, 0.9), "device": settings.device}) != base
    assert (
        _key(
            settings=dataclasses.replace(
                settings, profile="smoke" if settings.profile == "full" else "full"
            )
        )
        != base
    )
    assert _key(settings=dataclasses.replace(settings, seed=1)) != base
    assert _key(total_steps=11) != base
    assert _key(code=()) != base
    assert _key(name="other") != base
    assert _key(settings=dataclasses.replace(settings, chapter="other")) != base
    monkeypatch.setenv("LABBOOK_PROFILE", "smoke")
    smoke = lu.setup(CHAPTER)
    monkeypatch.setenv("LABBOOK_PROFILE", "full")
    full = lu.setup(CHAPTER)
    assert _key(settings=smoke) != _key(settings=full)


def test_key_changes_with_the_architecture():
    lu.setup(CHAPTER)
    wider = nn.Sequential(nn.Linear(NZ, 32), nn.ReLU(), nn.Linear(32, 2))
    narrower = nn.Sequential(nn.Linear(NZ, 16), nn.ReLU(), nn.Linear(16, 2))
    assert _key(state={"generator": wider}) != _key(state={"generator": narrower})


def test_key_changes_with_the_model_class_source(tmp_path):
    lu.setup(CHAPTER)
    first = _module_from_source(tmp_path, "labbook_net_v1", NET_SOURCE.format(body="self.layer(x)"))
    same = _module_from_source(
        tmp_path, "labbook_net_v1_again", NET_SOURCE.format(body="self.layer(x)")
    )
    edited = _module_from_source(
        tmp_path, "labbook_net_v2", NET_SOURCE.format(body="torch.tanh(self.layer(x))")
    )
    try:
        assert repr(first.Net()) == repr(edited.Net())  # only the source of forward differs
        assert _key(state={"generator": first.Net()}) == _key(state={"generator": same.Net()})
        assert _key(state={"generator": first.Net()}) != _key(state={"generator": edited.Net()})
    finally:
        for name in ("labbook_net_v1", "labbook_net_v1_again", "labbook_net_v2"):
            sys.modules.pop(name, None)


def _notebook_cell(source: str, cell: int) -> dict:
    """Run source as IPython runs a notebook cell: the code is in linecache, the module has no file."""
    filename = f"<labbook-test-cell-{cell}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace = {"__name__": "__labbook_notebook__"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


NOTEBOOK_CELL = """
import torch
from torch import nn

class Critic(nn.Module):
    leak = 0.2

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 1)

    @property
    def width(self):
        return {width}

    @staticmethod
    def activation(x):
        return torch.nn.functional.leaky_relu(x, 0.2)

    def forward(self, x):
        return self.layer(self.activation(x))

def train_step(batch):
    return batch.sum()
"""


def test_key_is_stable_across_kernels_for_classes_defined_in_a_notebook():
    """A class defined in a notebook cell has no source file: its key must not depend on memory addresses."""
    lu.setup(CHAPTER)
    try:
        kernel_1 = _notebook_cell(NOTEBOOK_CELL.format(width=1), 1)
        kernel_2 = _notebook_cell(NOTEBOOK_CELL.format(width=1), 2)
        edited = _notebook_cell(NOTEBOOK_CELL.format(width=2), 3)
        with pytest.raises((OSError, TypeError)):  # as in a notebook: no source file for the class
            __import__("inspect").getsource(kernel_1["Critic"])

        def key(ns):
            return _key(state={"critic": ns["Critic"]()}, code=[ns["train_step"]])

        assert key(kernel_1) == key(kernel_2)
        assert key(kernel_1) != key(edited)  # an edited property body changes the key
    finally:
        for cell in (1, 2, 3):
            linecache.cache.pop(f"<labbook-test-cell-{cell}>", None)


def test_key_does_not_change_with_the_device():
    settings = lu.setup(CHAPTER)
    on_gpu = dataclasses.replace(settings, device=torch.device("cuda"))
    on_mps = dataclasses.replace(settings, device=torch.device("mps"))
    keys = {
        _key(settings=s, config={"lr": 1e-3, "device": s.device})
        for s in (settings, on_gpu, on_mps)
    }
    assert len(keys) == 1


def test_key_changes_with_optimiser_hyperparameters():
    """An lr typed into the optimiser call (not in config) changes the result, so it must change the key."""
    lu.setup(CHAPTER)
    G = TinyGenerator()
    slow = _key(state={"generator": G, "opt": torch.optim.Adam(G.parameters(), lr=1e-4)})
    fast = _key(state={"generator": G, "opt": torch.optim.Adam(G.parameters(), lr=1e-3)})
    sgd = _key(state={"generator": G, "opt": torch.optim.SGD(G.parameters(), lr=1e-3)})
    assert len({slow, fast, sgd}) == 3
    assert slow == _key(state={"generator": G, "opt": torch.optim.Adam(G.parameters(), lr=1e-4)})


def test_changed_config_trains_a_new_run_next_to_the_old_one(capsys):
    first = notebook(total_steps=5)
    second = notebook(total_steps=5, config={"lr": 1e-3, "batch_size": 16})
    assert second["run"].status == "trained"
    assert second["run"].path != first["run"].path
    assert len(checkpoint_files(second["settings"])) == 2


# --- the run record -----------------------------------------------------------------------------------------------


def test_run_record_says_trained_resumed_and_loaded(capsys):
    trained = notebook(name="first", total_steps=6)
    assert [r["status"] for r in trained["settings"].runs] == ["trained"]
    assert trained["settings"].runs[0]["summary"].startswith("6/6 steps")

    with pytest.raises(KeyboardInterrupt):
        notebook(name="second", total_steps=6, interrupt_at=3)

    resumed = notebook(name="second", total_steps=6)
    loaded = open_run(
        "first",
        {"lr": 1e-3, "batch_size": 32, "device": resumed["settings"].device},
        _fresh_state(),
        6,
    )
    assert loaded.status == "loaded"
    capsys.readouterr()
    record = lu.run_record(resumed["settings"])
    assert [(r["name"], r["status"]) for r in record["runs"]] == [
        ("second", "resumed"),
        ("first", "loaded"),
    ]
    assert record["runs"][0]["summary"].startswith("6/6 steps")
    out = capsys.readouterr().out
    assert "training runs: 2 (1 trained or resumed now, 1 loaded from checkpoints)" in out
    assert "- first: loaded (6/6 steps" in out and "- second: resumed (6/6 steps" in out


def _fresh_state() -> dict:
    G, D = TinyGenerator(), TinyDiscriminator()
    return {
        "generator": G,
        "discriminator": D,
        "opt_G": torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999)),
        "opt_D": torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999)),
    }


# --- arguments ----------------------------------------------------------------------------------------------------


def test_start_run_rejects_bad_arguments():
    lu.setup(CHAPTER)
    with pytest.raises(ValueError, match="total_steps must be >= 0"):
        lu.start_run("bad", config={}, state=_fresh_state(), total_steps=-1)
    with pytest.raises(TypeError, match=r"\['data'\] have no state_dict"):
        lu.start_run("bad", config={}, state={"data": torch.zeros(3)}, total_steps=1)


def test_start_run_needs_setup():
    with pytest.raises(RuntimeError, match="setup"):
        lu.start_run("tiny", config={}, state=_fresh_state(), total_steps=1)


def test_zero_step_run_is_finished_at_once(capsys):
    run = notebook(total_steps=0)["run"]
    assert run.finished and run.history == {}


# --- the key hashes what the code means, everything training runs, and the data -------------------------------

TRAINING_SOURCE = '''
import labutils as lu
import labutils.data
import labutils.files
import torch


def train(data, state):
    """Train on the data.{doc}"""
    {comment}
    run = lu.start_run("tiny", config={{"lr": 1e-3}}, state=state, total_steps=1, every_s=0)
    batches = lu.minibatches(data, batch_size=4, seed=0)
    (x,) = next(batches)
    return run, x.{reduction}()
'''


def _training(tmp_path: Path, name: str, doc: str = "", comment: str = "", reduction: str = "sum"):
    """A chapter's training function, defined in its own module (as a notebook cell defines it)."""
    source = TRAINING_SOURCE.format(doc=doc, comment=comment or "# -", reduction=reduction)
    return _module_from_source(tmp_path, name, source).train


def test_a_comment_or_docstring_change_keeps_the_key(tmp_path):
    lu.setup(CHAPTER)
    plain = _training(tmp_path, "lb_train_plain")
    commented = _training(
        tmp_path, "lb_train_commented", doc=" Now documented.", comment="# why: a comment"
    )
    edited = _training(tmp_path, "lb_train_edited", reduction="mean")
    assert _key(code=[plain]) == _key(code=[commented])
    assert _key(code=[plain]) != _key(code=[edited])


def test_the_training_function_is_found_without_a_list(tmp_path, capsys):
    """start_run hashes the function that calls it: no `code=[...]` needed in the chapters."""
    lu.setup(CHAPTER)
    data = torch.randn(16, 2)
    plain, commented, edited = (
        _training(tmp_path, "lb_found_plain"),
        _training(tmp_path, "lb_found_commented", comment="# only a comment"),
        _training(tmp_path, "lb_found_edited", reduction="mean"),
    )
    paths = [f(data, {"generator": TinyGenerator()})[0].path for f in (plain, commented, edited)]
    assert paths[0] == paths[1] and paths[0] != paths[2]


def test_a_change_to_the_minibatch_order_changes_the_key(monkeypatch, tmp_path):
    """lu.minibatches and what it calls are part of the key, though no chapter lists them."""
    lu.setup(CHAPTER)
    train = _training(tmp_path, "lb_train_order")
    base = _key(code=[train])
    original = labutils.data._epoch_permutation

    def reversed_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
        return original(n, seed, epoch).flip(0)

    monkeypatch.setattr(labutils.data, "_epoch_permutation", reversed_permutation)
    assert _key(code=[train]) != base
    monkeypatch.setattr(labutils.data, "_epoch_permutation", original)
    assert _key(code=[train]) == base


def test_a_change_to_the_data_changes_the_key(monkeypatch):
    lu.setup(CHAPTER)
    base = _key()
    monkeypatch.setitem(labutils.data._FINGERPRINTS, "mnist-train", "0" * 16)
    assert _key() != base


def test_loading_a_dataset_records_its_fingerprint(data_dir, idx_tree, monkeypatch):
    idx_tree(data_dir, "MNIST")
    monkeypatch.setattr(labutils.data, "_FINGERPRINTS", {})
    lu.load_dataset("mnist", train=False, data_dir=data_dir)
    first = labutils.data.data_fingerprints()
    assert list(first) == ["mnist-test"] and len(first["mnist-test"]) == 16
    lu.load_dataset("mnist", train=False, data_dir=data_dir)
    assert labutils.data.data_fingerprints() == first


def test_a_setting_read_by_name_is_part_of_the_key(tmp_path):
    lu.setup(CHAPTER)
    source = "LEARNING_RATE = {lr}\n\n\ndef train():\n    return LEARNING_RATE * 2\n"
    slow = _module_from_source(tmp_path, "lb_setting_slow", source.format(lr=1e-4)).train
    fast = _module_from_source(tmp_path, "lb_setting_fast", source.format(lr=1e-3)).train
    again = _module_from_source(tmp_path, "lb_setting_again", source.format(lr=1e-4)).train
    assert _key(code=[slow]) == _key(code=[again]) != _key(code=[fast])
