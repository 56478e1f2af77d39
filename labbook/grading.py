"""Grading a class: every submission re-executed by nbgrader's autograde, then grades, feedback and a summary.

    labbook grade SUBMITTED --out OUT                  # smoke profile: a class grades in minutes
    labbook grade SUBMITTED --out OUT --profile full   # re-runs the full profile (re-measures the metrics)

SUBMITTED is in nbgrader's layout, `<student_id>/<chapter>/<chapter>.ipynb`. Each submission is graded in a
course folder of its own (`labbook.course`), in a separate process, several at a time: nbgrader clears the
outputs, restores the locked cells (checker calls, hidden tests, texts, set-up and closing cells) from the
chapter's source version, executes the notebook in a clean kernel with a per-cell timeout, and scores the
test cells. A submission past the per-notebook limit is stopped and recorded as such; the others go on.

OUT receives `grades.csv` (nbgrader's CSV export, one row per student and chapter), `feedback/<student>/
<chapter>.md` (per exercise its points and the checker's diagnosis; for a failed hidden check its name and
message, never its code), `summary.md` for the class, and `results.json` with everything as data.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from labutils.summary import expected_ranges

from . import chapters, course, inventory
from .processes import run_bounded

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
CSV_COLUMNS = [
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
]  # nbgrader's CsvExportPlugin, in its order
MIN_ANSWER_WORDS = 15


@dataclass
class Submission:
    """One student's notebook of one chapter, as found in the submitted folder."""

    student: str
    chapter: str
    path: Path


def find_submissions(
    submitted: Path, prefixes: list[str] | None = None
) -> tuple[list[Submission], list[str]]:
    """Return the submissions in nbgrader's layout under submitted, and a line for each entry that is not one."""
    if not submitted.is_dir():
        raise course.CourseError(
            f"{submitted}: no such folder (expected <student_id>/<chapter>/<chapter>.ipynb)."
        )
    known = set(chapters.select(prefixes))
    found, problems = [], []
    for student_dir in sorted(p for p in submitted.iterdir() if not p.name.startswith(".")):
        if not student_dir.is_dir():
            problems.append(
                f"{student_dir.name}: not a student folder (expected <student_id>/<chapter>/...)"
            )
            continue
        if not STUDENT_ID.match(student_dir.name):
            problems.append(
                f"{student_dir.name}: a student id may hold letters, digits, '_', '.', '-' only"
            )
            continue
        for chapter_dir in sorted(p for p in student_dir.iterdir() if not p.name.startswith(".")):
            notebook = chapter_dir / f"{chapter_dir.name}.ipynb"
            if chapter_dir.name not in known:
                if prefixes is None:
                    problems.append(
                        f"{student_dir.name}/{chapter_dir.name}: not a chapter of the book"
                    )
                continue
            if not notebook.exists():
                others = ", ".join(p.name for p in chapter_dir.glob("*.ipynb")) or "no notebook"
                problems.append(
                    f"{student_dir.name}/{chapter_dir.name}: expected {notebook.name} ({others} found)"
                )
                continue
            found.append(Submission(student_dir.name, chapter_dir.name, notebook))
    return found, problems


# ------------------------------------------------------------------------------------------- one submission
def autograde_one(root: Path, chapter: str, student: str, cell_timeout: int) -> int:
    """In a child process: autograde one submission in its course folder; write root/outcome.json and grades.csv."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    nb_api = course.api(root, cell_timeout)
    result = nb_api.autograde(chapter, student, force=True, create=True)
    outcome: dict[str, Any] = {
        "success": bool(result.get("success")),
        "cells": {},
        "log": (result.get("error") or "")[-3000:],
    }
    with Gradebook(nb_api.coursedir.db_url, course.COURSE_ID) as gradebook:
        try:
            notebook = gradebook.find_submission_notebook(chapter, chapter, student)
        except Exception:  # nothing was recorded: autograde failed before scoring
            notebook = None
        if notebook is not None:
            outcome["cells"] = {
                g.name: {
                    "score": g.score,
                    "max_score": g.max_score,
                    "auto": g.auto_score is not None,
                    "type": g.cell_type,
                }
                for g in notebook.grades
            }
        CsvExportPlugin(to=str(root / "grades.csv")).export(gradebook)
    (root / "outcome.json").write_text(json.dumps(outcome))
    return 0


def prepare(template: Path, submission: Submission, work: Path) -> Path:
    """Make the course folder of one submission: the chapter's generated assignment and the submitted notebook."""
    root = work / f"{submission.student}--{submission.chapter}"
    shutil.copytree(template, root)
    target = (
        root / "submitted" / submission.student / submission.chapter / f"{submission.chapter}.ipynb"
    )
    target.parent.mkdir(parents=True)
    shutil.copyfile(submission.path, target)
    stamp = (
        submission.path.parent / "timestamp.txt"
    )  # nbgrader's submission time, when the exchange wrote one
    if stamp.exists():
        shutil.copyfile(stamp, target.parent / "timestamp.txt")
    return root


def run_one(
    root: Path, submission: Submission, profile: str, cell_timeout: int, limit: int, threads: int
) -> dict:
    """Autograde one submission in a separate process, stopped after limit seconds; return what happened."""
    env = {
        **os.environ,
        "LABBOOK_PROFILE": profile,
        "LABBOOK_CHECKPOINTS": str(root / "checkpoints"),
        "LABBOOK_RESULTS": str(root / "results"),
        "LABBOOK_THREADS": str(threads),
    }
    env.pop("LABBOOK_RETRAIN", None)
    course.ensure_tools_on_path()
    env["PATH"] = os.environ["PATH"]
    command = [
        sys.executable,
        "-m",
        "labbook.grading",
        "--one",
        str(root),
        submission.chapter,
        submission.student,
        str(cell_timeout),
    ]
    ran = run_bounded(command, env, limit)
    if ran["returncode"] is None:
        status = "timeout"
    else:
        status = (
            "graded" if ran["returncode"] == 0 and (root / "outcome.json").exists() else "crashed"
        )
    return {"status": status, "seconds": ran["seconds"], "log": ran["output"][-3000:]}


# ------------------------------------------------------------------------------------------- reading results
def _stream_text(cell: NotebookNode) -> str:
    """Return what a cell printed."""
    return "".join(
        o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream"
    )


def _error(cell: NotebookNode) -> tuple[str, str] | None:
    """Return (error name, message) of a cell's error output, or None."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output.get("ename", "Error"), output.get("evalue", "")
    return None


def read_items(
    source: NotebookNode, graded: NotebookNode | None, scores: dict[str, dict]
) -> list[dict[str, Any]]:
    """Return every graded item of a submission: exercises, hidden checks and answers, with points and diagnosis."""
    cells = {
        c.metadata.get("nbgrader", {}).get("grade_id"): c for c in (graded.cells if graded else [])
    }
    items = []
    for index, cell in enumerate(source.cells):
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        gid, max_points = meta["grade_id"], meta.get("points", 0)
        score = (scores.get(gid) or {}).get("score")
        done = cells.get(gid)
        item: dict[str, Any] = {
            "id": gid,
            "max_points": max_points,
            "points": score,
            "diagnosis": "",
        }
        if cell.cell_type == "markdown":
            item.update(
                kind="answer",
                label=cell.metadata.get("labbook", {}).get("question", gid),
                points=None,
                text=inventory.answer_text(done) if done is not None else "",
                question=source.cells[index - 1].source,
            )
        else:
            kind = "hidden" if "_hidden_" in gid else "exercise"
            number = int(re.match(r"exercise_(\d+)", gid).group(1))
            item.update(
                kind=kind,
                exercise=number,
                label=f"Exercise {number}"
                + (f", hidden check {gid.split('_hidden_', 1)[1]}" if kind == "hidden" else ""),
            )
            if done is None:
                item["diagnosis"] = "not executed (the notebook stopped before this cell)"
            else:
                error = _error(done)
                if kind == "exercise":
                    lines = " ".join(
                        line
                        for line in _stream_text(done).splitlines()
                        if inventory.STATUS_LINE.match(line)
                    )
                    if error:
                        lines = (
                            f"{lines} (graded: {error[1] or error[0]})"
                            if lines
                            else f"{error[0]}: {error[1]}"
                        )
                    item["diagnosis"] = lines or "the checker printed nothing"
                else:
                    item["diagnosis"] = (
                        "passed"
                        if not error
                        else error[1]
                        if error[0] == "AssertionError"
                        else f"{error[0]}: {error[1]}"
                    )
        items.append(item)
    return items


def reported_metrics(notebook: NotebookNode | None, chapter: str) -> list[dict[str, Any]]:
    """Return the metrics a re-executed notebook reported, judged against the book's own expected ranges.

    The ranges come from labutils/expected.toml, never from the submission, whose summary could be edited.
    """
    summary = inventory.summary_output(notebook) if notebook is not None else None
    if not summary:
        return []
    ranges = expected_ranges(chapter)
    reported = {r["name"]: r["value"] for r in summary["metrics"]}
    rows = []
    for name, (low, high) in ranges.items():
        value = reported.get(name)
        if value is None:
            verdict = "missing"
        elif summary.get("profile") != "full":
            verdict = "not judged (not a full-profile run)"
        else:
            verdict = "in range" if low <= value <= high else "OUT OF RANGE"
        rows.append({"name": name, "value": value, "expected": [low, high], "verdict": verdict})
    return rows


def collect(
    submission: Submission, root: Path, run: dict, source: NotebookNode, profile: str
) -> dict[str, Any]:
    """Gather one submission's grading result from its course folder."""
    outcome = (
        json.loads((root / "outcome.json").read_text()) if (root / "outcome.json").exists() else {}
    )
    graded_path = (
        root
        / "autograded"
        / submission.student
        / submission.chapter
        / f"{submission.chapter}.ipynb"
    )
    graded = nbformat.read(graded_path, as_version=4) if graded_path.exists() else None
    status = run["status"]
    if status == "graded" and not outcome.get("success"):
        status = "crashed"
    items = read_items(source, graded, outcome.get("cells", {}))
    try:
        submitted = nbformat.read(submission.path, as_version=4)
    except Exception:  # a broken file: nbgrader could not grade it either (status "crashed")
        submitted, status = None, "crashed"
    auto = [i for i in items if i["kind"] != "answer"]
    rows = []
    if (root / "grades.csv").exists():
        rows = [
            r
            for r in csv.DictReader(io.StringIO((root / "grades.csv").read_text()))
            if r["student_id"] == submission.student and r["assignment"] == submission.chapter
        ]
    max_total = sum(i["max_points"] for i in items)
    row = (
        rows[0]
        if rows
        else {
            **dict.fromkeys(CSV_COLUMNS, ""),
            "assignment": submission.chapter,
            "student_id": submission.student,
            "raw_score": 0.0,
            "late_submission_penalty": 0.0,
            "score": 0.0,
            "max_score": float(max_total),
        }
    )
    cell_errors = [
        f"cell {i}: {e[0]}: {e[1]}"
        for i, c in enumerate(graded.cells if graded else [])
        if c.cell_type == "code"
        and (e := _error(c))
        and not c.metadata.get("nbgrader", {}).get("grade")
    ]
    return {
        "student": submission.student,
        "chapter": submission.chapter,
        "status": status,
        "seconds": round(run["seconds"], 1),
        "items": items,
        "csv": row,
        "auto_points": sum(i["points"] or 0 for i in auto),
        "auto_max": sum(i["max_points"] for i in auto),
        "manual_max": sum(i["max_points"] for i in items if i["kind"] == "answer"),
        "metrics": reported_metrics(graded if profile == "full" else submitted, submission.chapter),
        "metrics_source": "re-measured" if profile == "full" else "reported, not re-measured",
        "cell_errors": cell_errors,
        "log": run["log"] if status != "graded" else "",
    }


# ------------------------------------------------------------------------------------------- answers
def _words(text: str) -> list[str]:
    """Return the lower-case words of a text."""
    return re.findall(r"[a-z0-9]+", text.lower())


def answer_flags(results: list[dict[str, Any]]) -> None:
    """Flag answers to read: empty, too short, copied from the question, or identical between students."""
    by_text: dict[tuple[str, str, str], list[str]] = {}
    for result in results:
        for item in (i for i in result["items"] if i["kind"] == "answer"):
            words = _words(item["text"])
            question = " ".join(_words(re.sub(r"\*\*Q\d+\.?\*\*", "", item["question"])))
            flags = []
            if not words:
                flags.append("empty")
            elif len(words) < MIN_ANSWER_WORDS:
                flags.append(f"too short ({len(words)} words)")
            if words and " ".join(words) in question:
                flags.append("copied from the question")
            item["flags"] = flags
            if words:
                by_text.setdefault((result["chapter"], item["label"], " ".join(words)), []).append(
                    result["student"]
                )
    for result in results:
        for item in (i for i in result["items"] if i["kind"] == "answer"):
            others = [
                s
                for s in by_text.get(
                    (result["chapter"], item["label"], " ".join(_words(item["text"]))), []
                )
                if s != result["student"]
            ]
            if others:
                item["flags"].append("identical to " + ", ".join(others))


# ------------------------------------------------------------------------------------------- reports
def feedback_markdown(result: dict[str, Any]) -> str:
    """Return the feedback file of one submission (what the student may read: no hidden check's code)."""
    lines = [f"# Feedback: {result['chapter']}, {result['student']}", ""]
    if result["status"] != "graded":
        lines += [
            f"**Grading stopped: {result['status']}** after {result['seconds']:.0f} s. "
            + (
                "A cell ran past the time limit: check for an endless loop or a much longer training than "
                "the chapter asks for."
                if result["status"] == "timeout"
                else "The notebook could not be graded; the instructor has the log."
            ),
            "",
        ]
    lines += [
        f"Autograded points: **{result['auto_points']:g} of {result['auto_max']:g}**; the answers "
        f"({result['manual_max']:g} points) are read by the instructor.",
        "",
        "| item | points | diagnosis |",
        "|---|---|---|",
    ]
    for item in result["items"]:
        if item["kind"] == "answer":
            continue
        points = "-" if item["points"] is None else f"{item['points']:g}"
        diagnosis = item["diagnosis"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {item['label']} | {points} / {item['max_points']:g} | {diagnosis} |")
    answers = [i for i in result["items"] if i["kind"] == "answer"]
    if answers:
        lines += ["", "## Answers", ""]
        lines += [
            f"* {a['label']}: " + ("; ".join(a.get("flags", [])) or "to be read") for a in answers
        ]
    if result["metrics"]:
        lines += [
            "",
            f"## Metrics ({result['metrics_source']})",
            "",
            "| metric | value | expected | verdict |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{m['name']}` | {'missing' if m['value'] is None else format(m['value'], '.4g')} | "
            f"[{m['expected'][0]:.4g}, {m['expected'][1]:.4g}] | {m['verdict']} |"
            for m in result["metrics"]
        ]
    if result["cell_errors"]:
        lines += ["", "## Cells that raised an error", ""] + [
            f"* {e}" for e in result["cell_errors"]
        ]
    return "\n".join(lines) + "\n"


def summary_markdown(
    results: list[dict[str, Any]], problems: list[str], profile: str, seconds: float
) -> str:
    """Return the class summary: scores, per exercise the share passing and the frequent diagnoses, answers."""
    lines = [
        "# Class summary",
        "",
        f"{len(results)} submissions graded in {seconds:.0f} s (profile {profile}).",
        "",
    ]
    if problems:
        lines += ["## Not graded", ""] + [f"* {p}" for p in problems] + [""]
    for chapter in sorted({r["chapter"] for r in results}):
        mine = [r for r in results if r["chapter"] == chapter]
        lines += [
            f"## {chapter}",
            "",
            "| student | status | autograded points | seconds |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['student']} | {r['status']} | {r['auto_points']:g} / {r['auto_max']:g} | {r['seconds']:.0f} |"
            for r in mine
        ]
        lines += ["", "| item | students passing | most frequent diagnoses |", "|---|---|---|"]
        labels = [i["label"] for i in mine[0]["items"] if i["kind"] != "answer"]
        for label in labels:
            found = [i for r in mine for i in r["items"] if i["label"] == label]
            passing = sum(bool(i["points"]) and i["points"] == i["max_points"] for i in found)
            common = Counter(
                i["diagnosis"][:120]
                for i in found
                if not (i["points"] and i["points"] == i["max_points"])
            )
            text = "; ".join(f"{d} ({n})" for d, n in common.most_common(3)).replace("|", "\\|")
            lines.append(
                f"| {label} | {passing} of {len(found)} ({100 * passing / len(found):.0f}%) | {text} |"
            )
        flagged = [
            (r["student"], i["label"], f)
            for r in mine
            for i in r["items"]
            if i["kind"] == "answer"
            for f in i.get("flags", [])
        ]
        lines += [
            "",
            "Answers to read first (empty, too short, copied from the question, or identical between "
            "students):",
            "",
        ]
        lines += [f"* {s}, {label}: {flag}" for s, label, flag in flagged] or ["* none"]
        metrics = [
            (r["student"], m) for r in mine for m in r["metrics"] if m["verdict"] == "OUT OF RANGE"
        ]
        source = mine[0]["metrics_source"]
        lines += [
            "",
            f"Metrics ({source}): "
            + (
                ", ".join(f"{s}: `{m['name']}` out of range" for s, m in metrics)
                or "none out of its expected range"
            )
            + ".",
            "",
        ]
    return "\n".join(lines)


def grade(
    submitted: Path,
    out: Path,
    profile: str = "smoke",
    jobs: int | None = None,
    cell_timeout: int = 300,
    notebook_timeout: int = 1800,
    prefixes: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Grade every submission under submitted into out (grades.csv, feedback/, summary.md); return the results."""
    if profile not in ("smoke", "full"):
        raise course.CourseError(f"unknown profile {profile!r}: use smoke or full.")
    started = time.perf_counter()
    submissions, problems = find_submissions(submitted.resolve(), prefixes)
    jobs = max(1, jobs or os.cpu_count() or 1)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="labbook-grade-") as tmp:
        work = Path(tmp)
        templates, sources = {}, {}
        for chapter in sorted({s.chapter for s in submissions}):
            template = work / "templates" / chapter
            course.write_source(template, chapters.BOOK_DIR / f"{chapter}.ipynb")
            course.generate(template, chapter)
            templates[chapter] = template
            sources[chapter] = nbformat.read(
                template / "source" / chapter / f"{chapter}.ipynb", as_version=4
            )
        roots = [prepare(templates[s.chapter], s, work / "runs") for s in submissions]

        def one(index: int) -> dict[str, Any]:
            """Grade submission number index."""
            sub, root = submissions[index], roots[index]
            run = run_one(root, sub, profile, cell_timeout, notebook_timeout, threads)
            return collect(sub, root, run, sources[sub.chapter], profile)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, range(len(submissions))))
    answer_flags(results)
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(r["csv"] for r in results)
    for result in results:
        path = out / "feedback" / result["student"] / f"{result['chapter']}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(feedback_markdown(result))
    seconds = time.perf_counter() - started
    (out / "summary.md").write_text(summary_markdown(results, problems, profile, seconds))
    (out / "results.json").write_text(
        json.dumps(
            {"profile": profile, "seconds": seconds, "problems": problems, "results": results},
            indent=1,
            default=str,
        )
    )
    return results


if (
    __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "--one"
):  # the child process of run_one
    sys.exit(autograde_one(Path(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])))
