"""A short grading report on a student's executed chapter notebook, for instructors.

    python -m labutils.grade path/to/01_minimax.ipynb                  # the report on the terminal
    python -m labutils.grade path/to/01_minimax.ipynb --out report.md  # ... or into a Markdown file

The notebook is compared with the chapter's instructor edition (chapters/NN_topic.ipynb, or --reference):
exercises passed (from the checkers' [pass] / [fail] / [not done] lines), questions answered or left empty,
the metrics of the results summary against the instructor edition's full-profile ranges, and the figures
that the instructor edition shows but the student's notebook does not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from . import inventory
from .settings import REPO_ROOT

CHAPTERS_DIR = REPO_ROOT / "chapters"


def exercise_results(student: dict[str, Any], reference: dict[str, Any]) -> list[dict[str, Any]]:
    """Return, for each exercise of the reference, the student's status: passed, failed, not done or not run."""
    found = {e["number"]: e for e in student["exercises"]}
    results = []
    for expected in reference["exercises"]:
        mine = found.get(expected["number"])
        if mine is None:
            status, detail = "missing", "the exercise's cell is not in the notebook"
        elif mine["error"]:
            status, detail = "failed", f"the cell raised {mine['error']}"
        elif not mine["executed"]:
            status, detail = "not run", "the cell was not executed"
        elif not mine["statuses"]:
            status, detail = "not run", "no checker output (was the checker call removed?)"
        else:
            words = [s for s, _ in mine["statuses"]]
            status = ("passed" if all(w == "pass" for w in words) else
                      "not done" if "not done" in words else "failed")
            detail = "; ".join(f"[{s}] {name}" for s, name in mine["statuses"])
        results.append({"label": expected["label"], "status": status, "detail": detail})
    return results


def answer_results(student: dict[str, Any], reference: dict[str, Any]) -> list[dict[str, Any]]:
    """Return, for each question of the reference, whether the student answered it."""
    mine = {}
    for answer in student["answers"]:
        mine[answer["label"]] = mine.get(answer["label"], False) or answer["answered"]
    return [{"label": a["label"], "answered": mine.get(a["label"]), "present": a["label"] in mine}
            for a in reference["answers"]]


def metric_results(student: dict[str, Any], reference: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Return each reference metric with the student's value and verdict, and a note on the run's profile."""
    ranges = {row["name"]: row["expected"] for row in (reference["summary"] or {}).get("metrics", [])}
    values = {row["name"]: row["value"] for row in (student["summary"] or {}).get("metrics", [])}
    profile = (student["summary"] or {}).get("profile") or student["profile"]
    if not ranges:
        return [], "the chapter has no results summary with expected ranges."
    if student["summary"] is None:
        return ([{"name": n, "value": None, "expected": r, "verdict": "missing"} for n, r in ranges.items()],
                "no results summary in the notebook: it did not run to the end.")
    note = "" if profile == "full" else (f"the notebook ran in the {profile!r} profile: the ranges are those of the "
                                          "full profile, so its numbers are shown but not judged.")
    rows = []
    for name, (low, high) in ranges.items():
        value = values.get(name)
        verdict = ("missing" if value is None else "n/a" if profile != "full" else
                   "in range" if low <= value <= high else "OUT OF RANGE")
        rows.append({"name": name, "value": value, "expected": [low, high], "verdict": verdict})
    return rows, note


def figure_results(student_notebook: NotebookNode, reference: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the reference's figure cells that have no figure in the student's notebook."""
    by_source: dict[str, list[NotebookNode]] = {}
    for cell in student_notebook.cells:
        if cell.cell_type == "code":
            by_source.setdefault(inventory.normalised(cell.source), []).append(cell)
    missing = []
    for figure in reference["figures"]:
        cells = by_source.get(figure["source"], [])
        if not cells:
            missing.append({**figure, "why": "the cell was changed or removed"})
        elif not any(inventory.figure_count(c) for c in cells):
            why = ("the cell raised " + err if (err := inventory.error_output(cells[0])) else
                   "the cell was not executed" if cells[0].get("execution_count") is None else "the cell shows no figure")
            missing.append({**figure, "why": why})
    return missing


def grade(notebook_path: str | Path, reference_path: str | Path | None = None) -> dict[str, Any]:
    """Compare a student's executed notebook with the instructor edition; return every finding as data."""
    notebook = inventory.read_notebook(notebook_path)
    chapter = inventory.require_chapter(notebook, notebook_path)
    reference_path = Path(reference_path) if reference_path else CHAPTERS_DIR / f"{chapter}.ipynb"
    if not reference_path.exists():
        raise inventory.NotAChapterError(f"{notebook_path}: chapter {chapter!r} has no instructor edition at "
                                         f"{reference_path} (pass --reference PATH).")
    reference_notebook = inventory.read_notebook(reference_path)
    if inventory.chapter_id(reference_notebook) != chapter:
        raise inventory.NotAChapterError(f"{reference_path} is chapter {inventory.chapter_id(reference_notebook)!r}, "
                                         f"not {chapter!r}.")
    student, reference = inventory.inventory(notebook), inventory.inventory(reference_notebook)
    metrics, metrics_note = metric_results(student, reference)
    return {"notebook": str(notebook_path), "chapter": chapter, "title": reference["title"],
            "edition": notebook.metadata.get("labbook", {}).get("edition", "instructor"),
            "profile": student["profile"], "executed": any(c.get("execution_count") for c in notebook.cells
                                                           if c.cell_type == "code"),
            "exercises": exercise_results(student, reference), "open_exercises": reference["open_exercises"],
            "answers": answer_results(student, reference), "metrics": metrics, "metrics_note": metrics_note,
            "missing_figures": figure_results(notebook, reference),
            "n_figures": sum(f["count"] for f in reference["figures"]), "errors": student["errors"]}


def _value(value: float | None) -> str:
    """Format a metric value for the report."""
    return "missing" if value is None else f"{value:.4g}"


def report_markdown(result: dict[str, Any]) -> str:
    """Render a grading result as a short Markdown report."""
    passed = sum(e["status"] == "passed" for e in result["exercises"])
    answered = sum(bool(a["answered"]) for a in result["answers"])
    in_range = sum(m["verdict"] == "in range" for m in result["metrics"])
    lines = [f"# Grading report: {result['title'] or result['chapter']}", "",
             f"Notebook `{result['notebook']}` ({result['edition']} edition, chapter `{result['chapter']}`, "
             f"profile {result['profile'] or 'unknown: not executed'}).", ""]
    if not result["executed"]:
        lines += ["**The notebook was not executed**: ask for the executed notebook (run every cell, then save).", ""]
    lines += ["| | result |", "|---|---|",
              f"| exercises passed | {passed} of {len(result['exercises'])} |",
              f"| questions answered | {answered} of {len(result['answers'])} |",
              f"| metrics in range | {in_range} of {len(result['metrics'])}"
              + (" (not judged: not a full-profile run)" if result["metrics_note"].startswith("the notebook ran") else "")
              + " |",
              f"| figures missing | {len(result['missing_figures'])} of {result['n_figures']} |",
              f"| cells with errors | {len(result['errors'])} |", "", "## Exercises", ""]
    lines += [f"* {e['label']}: **{e['status']}** ({e['detail']})" for e in result["exercises"]] or ["* none"]
    if result["open_exercises"]:
        lines.append("* open exercises to read by hand: " + ", ".join(f"Exercise {n}" for n in result["open_exercises"]))
    lines += ["", "## Questions", ""]
    lines += [f"* {a['label']}: " + ("answered" if a["answered"] else "**left empty**" if a["present"]
                                     else "**answer cell missing**") for a in result["answers"]] or ["* none"]
    lines += ["", "## Metrics", ""]
    if result["metrics_note"]:
        lines += [f"Note: {result['metrics_note']}", ""]
    if result["metrics"]:
        lines += ["| metric | value | expected (full profile) | verdict |", "|---|---|---|---|"]
        lines += [f"| `{m['name']}` | {_value(m['value'])} | [{m['expected'][0]:.4g}, {m['expected'][1]:.4g}] | "
                  f"{m['verdict']} |" for m in result["metrics"]]
    lines += ["", "## Figures", ""]
    if result["missing_figures"]:
        lines += [f"* missing: the figure of section *{f['section'] or 'start'}* ({f['why']}; the cell begins "
                  f"`{f['source'].splitlines()[0][:70]}`)" for f in result["missing_figures"]]
    else:
        lines.append(f"All {result['n_figures']} figures of the instructor edition are present.")
    if result["errors"]:
        lines += ["", "## Errors", ""]
        lines += [f"* cell {index}: {error}" for index, error in result["errors"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: `NOTEBOOK [--out report.md] [--reference INSTRUCTOR.ipynb]`."""
    parser = argparse.ArgumentParser(prog="python -m labutils.grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", type=Path, help="the student's executed notebook (.ipynb)")
    parser.add_argument("--out", type=Path, help="write the Markdown report there instead of printing it")
    parser.add_argument("--reference", type=Path, help="the instructor edition (default: chapters/<chapter>.ipynb)")
    args = parser.parse_args(argv)
    try:
        report = report_markdown(grade(args.notebook, args.reference))
    except inventory.NotAChapterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
        print(f"report written to {args.out}")
    else:
        print(report, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
