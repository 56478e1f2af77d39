"""Run PyTorch-GAN's `wgan_gp.py` for a fixed wall time and measure it with the book's ruler.

Chapter 5 compares its WGAN-GP with the public reference script of Erik Linder-Norén's
PyTorch-GAN (implementations/wgan_gp/wgan_gp.py: MLP generator and critic, Adam 2e-4 with
betas (0.5, 0.999), n_critic 5, lambda 10). The script is not copied into this project: pass
the path of a checkout's copy. It runs unchanged but for three things, applied to its text:

- the data path: a temporary copy of the book's MNIST files (LABBOOK_DATA) instead of
  ../../data/mnist; its "download" then only extracts them (their md5 matches, nothing is fetched);
- a stop after --seconds of training (wall time from the first batch, its data loading included);
- a final sample: --n samples from its generator as the script draws its images (train mode,
  batches of 64, under no_grad), measured by `lu.evaluate_samples` (Fréchet distance, classes
  covered, mean confidence on the book's MNIST classifier).

Usage (alone on the machine, as chapter 5's runs):

    python benchmarks/reference_wgan_gp.py PATH/TO/wgan_gp.py --seconds 600 \
        --record

Chapter 5 shows two recorded runs, one of about its own training time (80 s) and one of 600 s,
from labutils/reference_runs.json (--record puts a result there).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import labutils as lu  # noqa: E402
from labutils.settings import get_data_dir  # noqa: E402

RECORDED = ROOT / "labutils" / "reference_runs.json"


def record(result: dict) -> None:
    """Put a result among the recorded runs that chapter 5 shows, replacing one of equal length."""
    runs = json.loads(RECORDED.read_text()) if RECORDED.is_file() else {}
    kept = [
        r
        for r in runs.get("wgan_gp.py", [])
        if round(r["training_seconds"]) != round(result["training_seconds"])
    ]
    runs["wgan_gp.py"] = sorted([*kept, result], key=lambda r: r["training_seconds"])
    RECORDED.write_text(json.dumps(runs, indent=1) + "\n")


class _Stop(Exception):
    """Raised inside the script's loop when the time is up."""


LOOP = "    for i, (imgs, _) in enumerate(dataloader):\n"
PATCHES = [
    ('os.makedirs("../../data/mnist", exist_ok=True)\n', ""),
    ('"../../data/mnist"', "_DATA_ROOT"),
    (LOOP, LOOP + "        _check_time()\n"),
]


def patched_source(script: Path) -> str:
    """The script's text with the data path, the time stop and nothing else changed."""
    source = script.read_text()
    for old, new in PATCHES:
        if source.count(old) != 1:
            raise SystemExit(
                f"{script}: expected exactly one {old.strip()!r}; this is not the wgan_gp.py "
                "this runner knows (PyTorch-GAN, implementations/wgan_gp/wgan_gp.py)."
            )
        source = source.replace(old, new)
    return source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", type=Path, help="path to PyTorch-GAN's wgan_gp.py")
    parser.add_argument("--seconds", type=float, default=600.0, help="training wall time")
    parser.add_argument("--n", type=int, default=10_000, help="samples of the final measure")
    parser.add_argument("--out", type=Path, help="also write the result to this JSON file")
    parser.add_argument(
        "--record",
        action="store_true",
        help=f"also put the result in {RECORDED.relative_to(ROOT)}, which chapter 5 reads "
        "(replacing a recorded run of the same length)",
    )
    args = parser.parse_args()
    if not args.script.is_file():
        raise SystemExit(f"{args.script}: no such file; pass the path to wgan_gp.py.")
    source = patched_source(args.script)
    data_root = get_data_dir()
    if not (data_root / "MNIST" / "raw").is_dir():
        raise SystemExit(f"{data_root}/MNIST/raw is missing; set LABBOOK_DATA to the book's data.")
    workdir = Path(tempfile.mkdtemp(prefix="wgan_gp_"))  # the script writes images/ here
    shutil.copytree(data_root / "MNIST" / "raw", workdir / "data" / "MNIST" / "raw")
    started: list[float] = []  # the time of each batch: one critic iteration each

    def check_time() -> None:
        started.append(time.perf_counter())
        if started[-1] - started[0] > args.seconds:
            raise _Stop

    namespace = {"__name__": "__main__", "_DATA_ROOT": "data", "_check_time": check_time}
    here = os.getcwd()
    os.chdir(workdir)
    sys.argv = [str(args.script)]
    try:
        exec(compile(source, str(args.script), "exec"), namespace)
    except _Stop:
        pass
    finally:
        os.chdir(here)
    seconds = time.perf_counter() - started[0]
    generator = namespace["generator"]
    with torch.no_grad():
        batches = [generator(torch.randn(64, 100)) for _ in range(-(-args.n // 64))]
        images = torch.cat(batches)[: args.n]
    measured = lu.evaluate_samples(images.clamp(-1, 1), "mnist", data_dir=str(data_root))
    result = {
        "script": "PyTorch-GAN implementations/wgan_gp/wgan_gp.py, defaults",
        "training_seconds": round(seconds, 1),
        "generator_iterations": namespace["batches_done"] // 5,
        "critic_iterations": len(started) - 1,  # the last call stopped before its batch
        "frechet_distance": measured["frechet_distance"],
        "classes_covered": measured["classes_covered"],
        "mean_confidence": measured["mean_confidence"],
        "n_samples": args.n,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    if args.record:
        record(result)


if __name__ == "__main__":
    main()
