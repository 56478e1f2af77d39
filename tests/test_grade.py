"""Grading a class that the tests make: every submission re-executed by nbgrader in a clean kernel, the locked cells
restored, hidden checks run; the instructor's solutions score full marks, the untouched handout zero, and forged
outputs, patched checkers and edited or deleted checker cells earn nothing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest

from labbook import assignment, chapters, cli, grading, hidden

CHAPTERS = chapters.toc_chapters()
FIRST = "01_minimax"
# A discriminator loss that passes the visible checker (equal real and fake batches) but takes one mean over the
# concatenated batch: wrong as soon as the two batch sizes differ (the hidden check `unequal_batches`).
CONCATENATED_LOSS = """def discriminator_loss(real_logits, fake_logits):
    logits = torch.cat([real_logits, fake_logits])
    targets = torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)])
    return 2 * F.binary_cross_entropy_with_logits(logits, targets)"""
ANSWER = (
    "**Your answer:** The discriminator is a classifier of real against generated samples; the generator "
    "is trained to make that classifier wrong, so each objective is the other's loss."
)


def cell(notebook: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    """The cell with that nbgrader grade id."""
    return next(
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


def put(submitted: Path, student: str, notebook: nbformat.NotebookNode) -> None:
    """Hand in a notebook as `student` (nbgrader's layout)."""
    chapter = notebook.metadata["labbook"]["chapter"]
    path = submitted / student / chapter / f"{chapter}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


@pytest.fixture(scope="session")
def graded_class(handout, source_notebooks, tmp_path_factory) -> dict:
    """A class of submissions for every chapter and every way of cheating on chapter 1, graded by `labbook grade`."""
    submitted = tmp_path_factory.mktemp("submitted")
    released = {
        c: nbformat.read(handout["folder"] / "chapters" / f"{c}.ipynb", as_version=4)
        for c in CHAPTERS
    }
    solved = {c: nbformat.read(source_notebooks / c / f"{c}.ipynb", as_version=4) for c in CHAPTERS}
    for chapter in CHAPTERS:
        put(
            submitted, "solver", solved[chapter]
        )  # the instructor's solutions, with every hidden check
    put(
        submitted, "idle", released[FIRST]
    )  # the untouched handout (test_handout.py runs every chapter's)

    forged = nbformat.from_dict(json.loads(json.dumps(released[FIRST])))
    for n in (1, 2, 3):
        test = cell(forged, f"exercise_{n}")
        test.outputs = [
            nbformat.v4.new_output(
                "stream", name="stdout", text=f"[pass] exercise {n}: all correct.\n"
            )
        ]
        test.execution_count = n
    put(submitted, "forger", forged)

    patched = nbformat.from_dict(json.loads(json.dumps(released[FIRST])))
    cell(patched, "exercise_1_solution").source += (
        "\n\nimport labutils, labutils.checks\n"
        "labutils.checks.check_discriminator_loss = labutils.check_discriminator_loss = (\n"
        "    lambda fn: print('[pass] discriminator loss: fine.') or True)\n"
        "lu.check_discriminator_loss = labutils.check_discriminator_loss"
    )
    put(submitted, "patcher", patched)

    edited = nbformat.from_dict(json.loads(json.dumps(released[FIRST])))
    cell(edited, "exercise_1").source = "exercise_1 = True  # trust me"
    edited.cells.remove(cell(edited, "exercise_2"))
    put(submitted, "editor", edited)

    buggy = nbformat.from_dict(json.loads(json.dumps(solved[FIRST])))
    cell(buggy, "exercise_1_solution").source = CONCATENATED_LOSS
    for label in ("answer_Q1", "answer_Q2"):
        cell(buggy, label).source = ANSWER
    put(submitted, "buggy", buggy)
    copier = nbformat.from_dict(json.loads(json.dumps(released[FIRST])))
    cell(copier, "answer_Q1").source = ANSWER
    cell(copier, "answer_Q3").source = "**Your answer:** The discriminator."
    put(submitted, "copier", copier)

    out = tmp_path_factory.mktemp("grades")
    assert cli.main(["grade", str(submitted), "--out", str(out), "--jobs", "2"]) == 0
    results = {
        (r["student"], r["chapter"]): r
        for r in json.loads((out / "results.json").read_text())["results"]
    }
    return {"out": out, "results": results, "solved": solved}


def points(result: dict, grade_id: str) -> float | None:
    """The points a result gives one graded cell."""
    return next(i["points"] for i in result["items"] if i["id"] == grade_id)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_instructors_solutions_score_full_marks(chapter, graded_class):
    result = graded_class["results"][("solver", chapter)]
    maximum = assignment.max_points(graded_class["solved"][chapter])
    assert result["status"] == "graded", result["log"]
    assert result["auto_points"] == result["auto_max"] == maximum["auto"] > 0, [
        (i["id"], i["points"], i["diagnosis"])
        for i in result["items"]
        if i["points"] != i["max_points"]
    ]
    assert (
        len([i for i in result["items"] if i["kind"] == "hidden"])
        == len(hidden.registry()[chapter])
        >= 2
    )


def test_the_untouched_handout_scores_zero_on_every_exercise(graded_class):
    result = graded_class["results"][("idle", FIRST)]
    assert result["status"] == "graded", result["log"]
    exercises = [i for i in result["items"] if i["kind"] == "exercise"]
    assert exercises and all(not i["points"] for i in exercises)
    assert all("[not done]" in i["diagnosis"] for i in exercises), [
        i["diagnosis"] for i in exercises
    ]
    assert result["auto_points"] == 0
    assert all("empty" in i["flags"] for i in result["items"] if i["kind"] == "answer")


def test_forged_pass_lines_earn_nothing(graded_class):
    result = graded_class["results"][("forger", FIRST)]
    assert result["auto_points"] == 0 and all(
        "[not done]" in i["diagnosis"] for i in result["items"] if i["kind"] == "exercise"
    )


def test_a_patched_checker_earns_nothing(graded_class):
    result = graded_class["results"][("patcher", FIRST)]
    item = next(i for i in result["items"] if i["id"] == "exercise_1")
    assert "[pass] discriminator loss: fine." in item["diagnosis"], (
        "the patch did not take effect in the notebook"
    )
    assert item["points"] == 0 and "fresh copy" in item["diagnosis"]


def test_an_edited_or_deleted_checker_cell_is_restored(graded_class):
    result = graded_class["results"][("editor", FIRST)]
    assert result["status"] == "graded", result["log"]
    assert points(result, "exercise_1") == 0 and points(result, "exercise_2") == 0
    assert "[not done]" in next(i["diagnosis"] for i in result["items"] if i["id"] == "exercise_1")


def test_a_hidden_check_bug_loses_exactly_that_check(graded_class):
    result = graded_class["results"][("buggy", FIRST)]
    lost = [i for i in result["items"] if i["kind"] != "answer" and i["points"] != i["max_points"]]
    assert [i["id"] for i in lost] == ["exercise_1_hidden_unequal_batches"], [
        (i["id"], i["diagnosis"]) for i in lost
    ]
    assert result["auto_points"] == result["auto_max"] - lost[0]["max_points"]
    feedback = (graded_class["out"] / "feedback" / "buggy" / f"{FIRST}.md").read_text()
    assert "unequal_batches" in feedback and lost[0]["diagnosis"] in feedback
    assert "labbook.hidden" not in feedback and "HIDDEN TESTS" not in feedback, (
        "the feedback shows hidden code"
    )


def test_answers_to_read_are_flagged(graded_class):
    results = graded_class["results"]
    flags = {
        (s, i["label"]): i["flags"]
        for (s, c), r in results.items()
        if c == FIRST
        for i in r["items"]
        if i["kind"] == "answer"
    }
    assert (
        "identical to copier" in flags[("buggy", "Q1")]
        and "identical to buggy" in flags[("copier", "Q1")]
    )
    assert flags[("buggy", "Q2")] == [] and "empty" in flags[("copier", "Q2")]
    assert any(f.startswith("too short") for f in flags[("copier", "Q3")])
    summary = (graded_class["out"] / "summary.md").read_text()
    assert "copier, Q1: identical to buggy" in summary and "| Exercise 1 |" in summary


def test_grades_csv_has_nbgraders_export_columns(graded_class):
    from nbgrader.plugins.export import CsvExportPlugin  # noqa: F401  (the format's owner)

    with open(graded_class["out"] / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == grading.CSV_COLUMNS
    assert len(rows) == len(graded_class["results"])
    row = next(r for r in rows if r["student_id"] == "solver" and r["assignment"] == FIRST)
    total = assignment.max_points(graded_class["solved"][FIRST])
    assert float(row["score"]) == total["auto"] and float(row["max_score"]) == total["total"]


def test_a_hanging_cell_is_a_timeout_a_broken_file_a_crash_and_the_class_goes_on(
    handout, source_notebooks, tmp_path
):
    submitted = tmp_path / "submitted"
    hanging = nbformat.read(handout["folder"] / "chapters" / f"{FIRST}.ipynb", as_version=4)
    cell(hanging, "exercise_1_solution").source = "import time\ntime.sleep(3600)"
    put(submitted, "sleeper", hanging)
    put(
        submitted,
        "solver",
        nbformat.read(source_notebooks / FIRST / f"{FIRST}.ipynb", as_version=4),
    )
    (submitted / "broken" / FIRST).mkdir(parents=True)
    (submitted / "broken" / FIRST / f"{FIRST}.ipynb").write_text("{ not a notebook")
    results = {
        r["student"]: r
        for r in grading.grade(
            submitted, tmp_path / "out", jobs=2, cell_timeout=120, notebook_timeout=45
        )
    }
    assert results["sleeper"]["status"] == "timeout" and results["sleeper"]["auto_points"] == 0
    assert results["solver"]["status"] == "graded" and results["solver"]["auto_points"] > 0
    assert results["broken"]["status"] == "crashed" and results["broken"]["auto_points"] == 0
    assert (
        "Grading stopped: timeout"
        in (tmp_path / "out" / "feedback" / "sleeper" / f"{FIRST}.md").read_text()
    )
    assert "sleeper,0.0" in (tmp_path / "out" / "grades.csv").read_text().replace(",,,,", ",")


def test_submissions_in_the_wrong_layout_are_reported_not_graded(tmp_path):
    (tmp_path / "alice" / FIRST).mkdir(parents=True)
    (tmp_path / "alice" / FIRST / "my notebook.ipynb").write_text("{}")
    (tmp_path / "bob" / "99_unknown").mkdir(parents=True)
    (tmp_path / "bad id!").mkdir()
    (tmp_path / "notes.txt").write_text("")
    found, problems = grading.find_submissions(tmp_path)
    assert found == []
    text = "\n".join(problems)
    assert f"expected {FIRST}.ipynb" in text and "not a chapter of the book" in text
    assert "student id may hold" in text and "not a student folder" in text
    assert cli.main(["grade", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2


def test_points_cover_every_exercise_and_question():
    for chapter in CHAPTERS:
        notebook = nbformat.read(chapters.BOOK_DIR / f"{chapter}.ipynb", as_version=4)
        source = assignment.source_notebook(
            notebook
        )  # raises when an exercise or answer has no points
        assert assignment.max_points(source)["manual"] > 0
    broken = {FIRST: {"exercises": {1: 2}, "questions": {}}}
    with pytest.raises(assignment.AssignmentError, match="no points"):
        assignment.source_notebook(
            nbformat.read(chapters.BOOK_DIR / f"{FIRST}.ipynb", as_version=4), broken
        )
