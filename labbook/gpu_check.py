"""The prepared GPU check: every chapter through nbval and in the full profile on a device, in a time budget.

    labbook gpu-check --out DIR --time-limit 540                      # on a machine with CUDA
    labbook gpu-check --out DIR --device cpu --chapters 01 --smoke-only  # its logic, on a CPU (the tests)

Stages, in order, each only while time is left (the most informative first):

1. nbval over every chapter in the smoke profile on the device (`pytest --nbval-lax`);
2. every chapter in the full profile from scratch (empty checkpoint folder), timed, chapters ordered by
   what a device bug would break first (the convolutional chapters, then the small ones);
3. each chapter executed again from its checkpoints (it must load every run instead of retraining);
4. one checkpoint written on the device loaded on the CPU (`torch.load(..., map_location="cpu")` and
   `lu.start_run` with the CPU device);
5. the summary, written after every step and at the end, whatever happened: `DIR/summary.md` and
   `DIR/summary.json` (per chapter: pass or fail, seconds, and the exported metrics beside the committed
   CPU values and the full-profile ranges of the results summary).

Notebooks run on copies in a scratch folder; the committed ones are never touched. The script stops
cleanly at its time limit: a stage that would not finish is killed and recorded as "stopped at the time
limit". On the GPU machine, tools/gpu_check.sh first installs the Jupyter packages from carried wheels.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat

from labutils.settings import REPO_ROOT

from . import chapters, inventory, processes

ANSI = re.compile(r"\x1b\[[0-9;]*m")
FIRST_ERROR = re.compile(r"^\w*(?:Error|Exception|Interrupt)\b: .+$", re.M)
# A device bug shows first where tensors, convolutions, evaluation and checkpoints meet.
INFORMATIVE_ORDER = ("03", "05", "07", "04", "06", "02", "01")


class Budget:
    """The seconds left before the check's time limit."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.deadline - time.monotonic())


def run_bounded(command: list[str], env: dict[str, str], limit: float, cwd: Path) -> dict[str, Any]:
    """Run a command with a wall-clock limit (its process group killed past it); return status and output."""
    if limit < 1:
        return {"status": "skipped (no time left)", "seconds": 0.0, "output": ""}
    ran = processes.run_bounded(command, env, limit, cwd)
    status = {None: "stopped at the time limit", 0: "pass"}.get(ran["returncode"], "fail")
    output = ANSI.sub("", ran["output"])
    first = FIRST_ERROR.search(output)
    return {
        "status": status,
        "seconds": round(ran["seconds"], 1),
        "first_error": first.group(0) if first else "",
        "output": output[-4000:],
    }


def committed_metrics(chapter: str) -> dict[str, dict[str, Any]]:
    """Return the committed (CPU, full-profile) metrics of a chapter with their expected ranges."""
    notebook = nbformat.read(chapters.BOOK_DIR / f"{chapter}.ipynb", as_version=4)
    summary = inventory.summary_output(notebook) or {"metrics": []}
    return {r["name"]: {"cpu": r["value"], "expected": r["expected"]} for r in summary["metrics"]}


def execute_copy(
    chapter: str, scratch: Path, env: dict[str, str], limit: float, tag: str
) -> dict[str, Any]:
    """Execute a copy of a chapter's notebook in a scratch folder; return the run, its output and its checkpoints."""
    target = scratch / "notebooks" / tag / f"{chapter}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(chapters.BOOK_DIR / f"{chapter}.ipynb", target)
    code = "import sys; from pathlib import Path; from labbook.notebooks import execute; execute(Path(sys.argv[1]))"
    result = run_bounded([sys.executable, "-c", code, str(target)], env, limit, REPO_ROOT)
    if target.exists():
        executed = nbformat.read(target, as_version=4)
        text = "".join(
            o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs
        )
        result["checkpoints"] = re.findall(r"\[checkpoint\] [^:]+: (\w+)", text)
    return result


def read_exported(results_dir: Path, chapter: str) -> dict[str, Any]:
    """Return the metrics a chapter exported (metrics.json), or {} when it did not get that far."""
    path = results_dir / chapter / "metrics.json"
    return json.loads(path.read_text()).get("metrics", {}) if path.exists() else {}


def cpu_load_check(checkpoints: Path) -> dict[str, Any]:
    """Load one checkpoint written on the device on the CPU, as torch.load and as the chapters do."""
    import torch

    files = sorted(checkpoints.rglob("*.pt"))
    if not files:
        return {"status": "skipped (no checkpoint was written)"}
    path = files[0]
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        tensors = [
            t
            for state in payload["state"].values()
            for t in state.values()
            if isinstance(t, torch.Tensor)
        ]
        on_cpu = all(t.device.type == "cpu" for t in tensors)
        status = "pass" if on_cpu and payload["step"] == payload["total_steps"] else "fail"
        return {
            "status": status,
            "file": str(path.relative_to(checkpoints)),
            "trained_on": payload["trained_on"],
            "tensors": len(tensors),
        }
    except (
        Exception
    ) as err:  # a checkpoint that does not round-trip is exactly what this stage looks for
        return {"status": "fail", "file": str(path), "error": f"{type(err).__name__}: {err}"}


def summary_markdown(report: dict[str, Any]) -> str:
    """Render the check's report as Markdown."""
    lines = [
        f"# GPU check: {report['device']}",
        "",
        f"Started {report['started']}, {report['seconds']:.0f} s of {report['time_limit']:.0f} s used; "
        f"torch {report['torch']}.",
        "",
        f"| chapter | nbval (smoke) | {report['profile']}, from scratch | again, from checkpoints |",
        "|---|---|---|---|",
    ]
    for chapter, row in report["chapters"].items():
        cells = []
        for stage in ("nbval", "full", "again"):
            result = row.get(stage)
            cells.append(
                "-" if result is None else f"{result['status']} ({result['seconds']:.0f} s)"
            )
        lines.append(f"| {chapter} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Checkpoint written on the device, loaded on the CPU: {report['cpu_load'].get('status', '-')}"
        f" {report['cpu_load'].get('file', '')}",
        "",
    ]
    for chapter, row in report["chapters"].items():
        if row.get("metrics"):
            lines += [
                f"## {chapter}: metrics on the device beside the committed CPU run",
                "",
                "| metric | device | CPU (committed) | expected range | in range |",
                "|---|---|---|---|---|",
            ]
            for name, m in row["metrics"].items():
                low, high = m["expected"]
                value = m["device"]
                ok = "-" if value is None else ("yes" if low <= value <= high else "NO")
                lines.append(
                    f"| `{name}` | {'-' if value is None else format(value, '.4g')} | "
                    f"{'-' if m['cpu'] is None else format(m['cpu'], '.4g')} | [{low:.4g}, {high:.4g}] | {ok} |"
                )
            lines.append("")
    failures = [
        (c, s, r[s]["output"])
        for c, r in report["chapters"].items()
        for s in ("nbval", "full", "again")
        if r.get(s) and r[s]["status"] == "fail"
    ]
    if failures:
        lines += ["## Failures (end of the output)", ""]
        for chapter, stage, output in failures:
            first = report["chapters"][chapter][stage].get("first_error")
            lines += [
                f"### {chapter}, {stage}",
                "",
                f"First error: `{first}`" if first else "",
                "",
                "```",
                output[-2500:],
                "```",
                "",
            ]
    return "\n".join(lines) + "\n"


def write_report(out: Path, report: dict[str, Any], started: float) -> None:
    """Write summary.json and summary.md (called after every step, so a stopped check still leaves them)."""
    report["seconds"] = time.monotonic() - started
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "summary.md").write_text(summary_markdown(report))


def check(
    out: Path,
    time_limit: float,
    device: str = "cuda",
    prefixes: list[str] | None = None,
    smoke_only: bool = False,
    profile: str = "full",
) -> dict[str, Any]:
    """Run the stages within time_limit seconds; write and return the report.

    `profile` is that of stages 2 and 3 (full on the GPU; smoke lets the tests run every stage on a CPU).
    """
    import torch

    started, budget = time.monotonic(), Budget(time_limit)
    names = chapters.select(prefixes)
    ordered = sorted(
        names, key=lambda n: INFORMATIVE_ORDER.index(n[:2]) if n[:2] in INFORMATIVE_ORDER else 99
    )
    report: dict[str, Any] = {
        "device": device,
        "torch": torch.__version__,
        "time_limit": time_limit,
        "profile": profile,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "chapters": {n: {} for n in ordered},
        "cpu_load": {},
    }
    scratch = Path(tempfile.mkdtemp(prefix="labbook-gpu-check-"))
    base_env = {**os.environ, "LABBOOK_DEVICE": device, "PYTHONUNBUFFERED": "1"}
    base_env.pop("LABBOOK_RETRAIN", None)
    try:
        smoke_env = {
            **base_env,
            "LABBOOK_PROFILE": "smoke",
            "LABBOOK_CHECKPOINTS": str(scratch / "smoke-ck"),
            "LABBOOK_RESULTS": str(scratch / "smoke-results"),
        }
        for name in ordered:  # 1. nbval, smoke profile
            command = [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-o",
                "addopts=",
                "--nbval-lax",
                "--nbval-current-env",
                str(chapters.BOOK_DIR / f"{name}.ipynb"),
            ]
            report["chapters"][name]["nbval"] = run_bounded(
                command, smoke_env, budget.left(), REPO_ROOT
            )
            write_report(out, report, started)
        if not smoke_only:
            full_env = {
                **base_env,
                "LABBOOK_PROFILE": profile,
                "LABBOOK_CHECKPOINTS": str(scratch / "full-ck"),
                "LABBOOK_RESULTS": str(scratch / "full-results"),
            }
            for name in ordered:  # 2. full profile from scratch, 3. again from the checkpoints
                row = report["chapters"][name]
                row["full"] = execute_copy(name, scratch, full_env, budget.left(), "full")
                exported = read_exported(scratch / "full-results", name)
                row["metrics"] = {
                    k: {**v, "device": exported.get(k)} for k, v in committed_metrics(name).items()
                }
                write_report(out, report, started)
                if row["full"]["status"] == "pass":
                    row["again"] = execute_copy(name, scratch, full_env, budget.left(), "again")
                    if row["again"]["status"] == "pass" and any(
                        s != "loaded" for s in row["again"]["checkpoints"]
                    ):
                        row["again"]["status"] = "fail"
                        row["again"]["output"] = (
                            "runs not loaded from their checkpoints: "
                            + ", ".join(row["again"]["checkpoints"])
                        )
                write_report(out, report, started)
            report["cpu_load"] = cpu_load_check(scratch / "full-ck")  # 4.
    finally:
        write_report(out, report, started)  # 5., whatever happened
        shutil.rmtree(scratch, ignore_errors=True)
    return report
