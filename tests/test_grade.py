"""The grading report: on the instructor edition, on the student edition (generated, executed or not), on a
partly done notebook, and clear errors for files that are not chapters."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from labutils import book, grade, inventory
from labutils.settings import REPO_ROOT

CHAPTERS = book.toc_chapters()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_instructor_edition_gets_a_full_report(chapter):
    result = grade.grade(REPO_ROOT / "chapters" / f"{chapter}.ipynb")
    assert result["edition"] == "instructor" and result["profile"] == "full"
    assert result["exercises"] and all(e["status"] == "passed" for e in result["exercises"]), result["exercises"]
    assert result["answers"] and all(a["answered"] for a in result["answers"])
    assert result["metrics"] and all(m["verdict"] == "in range" for m in result["metrics"]), result["metrics"]
    assert result["missing_figures"] == [] and result["n_figures"] > 0 and result["errors"] == []
    report = grade.report_markdown(result)
    n, q = len(result["exercises"]), len(result["answers"])
    assert f"| exercises passed | {n} of {n} |" in report and f"| questions answered | {q} of {q} |" in report
    assert "OUT OF RANGE" not in report and "left empty" not in report


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_executed_student_edition_report(chapter, executed_student):
    result = grade.grade(executed_student(chapter))
    assert result["edition"] == "student" and result["profile"] == "smoke"
    assert result["exercises"] and {e["status"] for e in result["exercises"]} == {"not done"}
    assert result["answers"] and not any(a["answered"] for a in result["answers"])
    assert all(a["present"] for a in result["answers"])
    assert result["metrics"] and {m["verdict"] for m in result["metrics"]} == {"n/a"}
    assert "smoke" in result["metrics_note"] and result["missing_figures"] == []
    report = grade.report_markdown(result)
    assert f"| exercises passed | 0 of {len(result['exercises'])} |" in report
    assert report.count("**left empty**") == len(result["answers"]) and "not judged" in report


def test_unexecuted_student_edition_report(student_edition):
    chapter = CHAPTERS[0]
    result = grade.grade(student_edition / f"{chapter}.ipynb")
    assert not result["executed"] and {e["status"] for e in result["exercises"]} == {"not run"}
    assert {m["verdict"] for m in result["metrics"]} == {"missing"} and "did not run to the end" in result["metrics_note"]
    assert len(result["missing_figures"]) == len(inventory.inventory(
        nbformat.read(REPO_ROOT / "chapters" / f"{chapter}.ipynb", as_version=4))["figures"])
    assert "was not executed" in grade.report_markdown(result)


def test_answers_failures_and_missing_figures_are_reported(executed_student, tmp_path):
    chapter = CHAPTERS[0]
    path = tmp_path / f"{chapter}.ipynb"
    shutil.copyfile(executed_student(chapter), path)
    notebook = nbformat.read(path, as_version=4)
    answer = next(c for c in notebook.cells if inventory.is_answer_cell(c))
    answer.source = inventory.ANSWER_PROMPT + " The discriminator is a classifier; the generator tries to fool it."
    exercise = next(c for c in notebook.cells if inventory.is_exercise_cell(c))
    for output in exercise.outputs:
        if output.output_type == "stream":
            output.text = "[fail] some checker: the sign is flipped.\n"
    figure = next(c for c in notebook.cells if inventory.figure_count(c))
    figure.outputs = [o for o in figure.outputs if not set(o.get("data", {})) & set(inventory.FIGURE_MIME_TYPES)]
    nbformat.write(notebook, path)

    result = grade.grade(path)
    assert [a["answered"] for a in result["answers"]][0] is True
    assert sum(bool(a["answered"]) for a in result["answers"]) == 1
    assert result["exercises"][0]["status"] == "failed" and "sign is flipped" not in result["exercises"][0]["detail"]
    assert "[fail] some checker" in result["exercises"][0]["detail"]
    assert len(result["missing_figures"]) == 1 and result["missing_figures"][0]["why"] == "the cell shows no figure"
    report = grade.report_markdown(result)
    assert "**failed**" in report and "figures missing | 1 of" in report


def test_command_line_writes_the_report(tmp_path, capsys):
    out = tmp_path / "reports" / "report.md"
    assert grade.main([str(REPO_ROOT / "chapters" / f"{CHAPTERS[0]}.ipynb"), "--out", str(out)]) == 0
    assert out.read_text().startswith("# Grading report: ") and "report written to" in capsys.readouterr().out


def test_clear_errors_instead_of_tracebacks(tmp_path, capsys):
    assert grade.main([str(tmp_path / "missing.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err
    other = tmp_path / "notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Notes")]), other)
    assert grade.main([str(other)]) == 2
    assert "not a GAN lab book chapter" in capsys.readouterr().err
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    assert grade.main([str(broken)]) == 2
    assert "cannot be read as a Jupyter notebook" in capsys.readouterr().err
    unknown = tmp_path / "99_unknown.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('settings = lu.setup("99_unknown")')]), unknown)
    assert grade.main([str(unknown)]) == 2
    assert "has no instructor edition" in capsys.readouterr().err
