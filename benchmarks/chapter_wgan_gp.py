"""Run chapter 5's WGAN-GP with its budget settings for about 600 s, beside the reference's 600 s.

Chapter 5 trains its WGAN-GP for 3,200 generator iterations (about 90 s on two CPU cores) and
compares it with PyTorch-GAN's `wgan_gp.py` stopped after 600 s (benchmarks/reference_wgan_gp.py).
This runner answers the other half of that comparison: what the chapter's settings reach in the
reference's time. It does not copy the chapter's code: it executes, from chapters/05_wgan.py, the
code cells that define the names the run needs (the settings, the models, the steps, the data and
the measure), and none that trains. The run is the chapter's, with one change: the number of
generator iterations, scaled so that the training takes about --seconds on this machine (the rate
is measured on the first 200 iterations); the learning rates still fall to 0 over its second half.
Its final measure is the reference's: --n samples, `lu.evaluate_samples` on the book's classifier.

Usage (alone on the machine; its checkpoints and results go to a temporary folder):

    python benchmarks/chapter_wgan_gp.py --seconds 600 --record

--record puts the result in labutils/reference_runs.json under "chapter 5 WGAN-GP", which the
chapter shows beside the reference's runs.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHAPTER = ROOT / "chapters" / "05_wgan.py"
RECORDED = ROOT / "labutils" / "reference_runs.json"
KEY = "chapter 5 WGAN-GP"
# what the run needs from the chapter; each comes from the cell that defines it
NEEDED = (
    "settings", "dataset", "nz", "fast_adam", "lazy_every", "gp_weight", "DCGANGenerator",
    "DCGANCritic", "critic_iters_before", "clip_weights", "gradient_penalty", "critic_step",
    "generator_step", "record", "check_finite", "maybe_measure", "lr_schedule", "wgan_state",
    "wgan_config", "train_wgan", "conv_format", "mnist_batches", "measure",
    "mnist_batches_fast", "fast",
)  # fmt: skip
TRAINERS = {"train_wgan", "train_gan"}  # a cell that calls one of these trains


def defined_names(tree: ast.Module) -> set[str]:
    """The names a cell binds at its top level (assignments, functions, classes)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        for target in getattr(node, "targets", []) + [getattr(node, "target", None)]:
            for name in ast.walk(target) if target is not None else ():
                if isinstance(name, ast.Name):
                    names.add(name.id)
    return names


def trains(tree: ast.Module) -> bool:
    """Whether a cell calls a training function at its top level (not inside a definition)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            continue
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and getattr(call.func, "id", None) in TRAINERS:
                return True
    return False


def chapter_cells(path: Path = CHAPTER) -> list[str]:
    """The code cells of the chapter that define a needed name and train nothing, in order."""
    import jupytext

    cells = [c.source for c in jupytext.read(path).cells if c.cell_type == "code"]
    kept, missing = [], set(NEEDED)
    for source in cells:
        tree = ast.parse(source)
        names = defined_names(tree)
        if names & set(NEEDED) and not trains(tree):
            kept.append(source)
            missing -= names
    if missing:
        raise SystemExit(
            f"{path}: no training-free cell defines {sorted(missing)}; update NEEDED in "
            f"{Path(__file__).name} to the chapter's names."
        )
    return kept


def record(result: dict) -> None:
    """Put the result in labutils/reference_runs.json under KEY (one run kept)."""
    runs = json.loads(RECORDED.read_text()) if RECORDED.is_file() else {}
    runs[KEY] = [result]
    RECORDED.write_text(json.dumps(runs, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="training wall time aimed at")
    parser.add_argument("--n", type=int, default=10_000, help="samples of the final measure")
    parser.add_argument("--record", action="store_true", help=f"put the result under {KEY!r}")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="chapter_wgan_gp_"))
    os.environ.setdefault("LABBOOK_CHECKPOINTS", str(scratch / "checkpoints"))
    os.environ.setdefault("LABBOOK_RESULTS", str(scratch / "results"))
    os.environ["LABBOOK_PROFILE"] = "full"
    ns: dict = {"__name__": "chapter_5"}
    for source in chapter_cells():
        exec(compile(source, str(CHAPTER), "exec"), ns)
    import torch

    import labutils as lu

    def new_run(iters: int, name: str):
        torch.manual_seed(ns["settings"].seed)
        where = dict(device=ns["settings"].device, memory_format=ns["conv_format"])
        generator = ns["DCGANGenerator"]().to(**where)
        critic = ns["DCGANCritic"](batch_norm=False).to(**where)
        generator.apply(lu.dcgan_weights_init)
        critic.apply(lu.dcgan_weights_init)
        fast = ns["fast"] | {"every": max(1, iters // 10)}
        batches, lazy = ns["mnist_batches_fast"], ns["lazy_every"]
        run = ns["train_wgan"](name, generator, critic, batches, iters, "gp", lazy=lazy, **fast)
        return run, generator

    probe, _ = new_run(200, "rate probe")
    rate = 200 / probe.history["train_seconds"][-1]  # cumulative seconds
    iters = int(round(rate * args.seconds, -2))
    print(f"{rate:.1f} generator iterations per second: training {iters} iterations")
    run, generator = new_run(iters, "mnist wgan-gp long")
    images = lu.generate(generator, lu.latent_noise(args.n, ns["nz"], seed=3))
    measured = lu.evaluate_samples(images, ns["dataset"])
    h = run.history
    result = {
        "script": "chapters/05_wgan.py, WGAN-GP with its budget settings, longer",
        "training_seconds": round(h["train_seconds"][-1], 1),
        "generator_iterations": iters,
        "critic_iterations": iters * ns["fast"]["n_critic"],
        "frechet_distance": measured["frechet_distance"],
        "classes_covered": measured["classes_covered"],
        "mean_confidence": measured["mean_confidence"],
        "fd_curve": {"seconds": h["eval_seconds"], "fd": h["fd"]},
        "n_samples": args.n,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    print(json.dumps(result, indent=1))
    if args.record:
        record(result)


if __name__ == "__main__":
    main()
