"""The student edition: no solution survives, the notebooks are valid and run to the end, checkers say "not done";
and the instructor edition passes every checker and ends with its results summary."""

from __future__ import annotations

import re

import jupytext
import nbformat
import pytest

from labutils import book, editions, inventory, notebooks
from labutils.settings import REPO_ROOT

CHAPTERS = book.toc_chapters()


def instructor(chapter: str) -> nbformat.NotebookNode:
    """The committed instructor edition of a chapter."""
    return nbformat.read(REPO_ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)


def non_solution_lines(notebook: nbformat.NotebookNode) -> set[str]:
    """Every stripped line of the notebook outside solution blocks and solution-tagged cells."""
    lines = set()
    for cell in notebook.cells:
        if inventory.is_answer_cell(cell):
            continue
        inside = False
        for line in cell.source.splitlines():
            if line.strip() in (inventory.BEGIN_SOLUTION, inventory.END_SOLUTION):
                inside = line.strip() == inventory.BEGIN_SOLUTION
            elif not inside:
                lines.add(line.strip())
    return lines


def test_the_toc_has_chapters():
    assert len(CHAPTERS) >= 2 and all(re.match(r"\d\d_", c) for c in CHAPTERS)


def test_stub_keeps_the_indentation_and_names_the_exercise():
    source = "def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n\n\nok = check(f)"
    stub = editions.stub_solutions(source, 4, "demo")
    assert "y = x + 1" not in stub and "return y" not in stub and "SOLUTION" not in stub
    assert '    raise NotImplementedError("not implemented yet: exercise 4")' in stub.splitlines()
    assert stub.splitlines()[0] == "def f(x):" and stub.splitlines()[-1] == "ok = check(f)"
    namespace: dict = {}
    exec(stub.replace("ok = check(f)", ""), namespace)
    with pytest.raises(NotImplementedError, match="exercise 4"):
        namespace["f"](1)


@pytest.mark.parametrize("source, problem", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another"),
])
def test_unbalanced_markers_are_reported_with_their_cell(source, problem):
    with pytest.raises(editions.EditionError, match=problem) as info:
        editions.stub_solutions(source, 1, "03_demo.ipynb, cell 7")
    assert "cell 7" in str(info.value)


def test_a_notebook_that_is_not_a_chapter_is_refused(tmp_path):
    path = tmp_path / "notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), path)
    with pytest.raises(inventory.NotAChapterError, match="not a GAN lab book chapter"):
        editions.write_student_edition(path, tmp_path / "out")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_solution_text_survives(chapter, student_edition):
    secrets = set(editions.solution_texts(instructor(chapter))) - non_solution_lines(instructor(chapter))
    assert len(secrets) >= 3, f"{chapter} has no solutions to hide: mark them (see labutils/inventory.py)"
    for path in (student_edition / f"{chapter}.ipynb", student_edition / f"{chapter}.py"):
        cells = jupytext.read(path).cells
        lines = {line.strip() for cell in cells for line in cell.source.splitlines()}
        leaked = sorted(secrets & lines)
        assert not leaked, f"{path.name} still contains solution text: {leaked[:3]}"
        assert not any(inventory.BEGIN_SOLUTION in c.source or inventory.SOLUTION_TAG in inventory.tags(c) for c in cells)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_notebooks_are_valid_and_open(chapter, student_edition):
    ipynb, py = student_edition / f"{chapter}.ipynb", student_edition / f"{chapter}.py"
    notebook = nbformat.read(ipynb, as_version=4)
    nbformat.validate(notebook)
    assert notebooks.cell_sources(py) == notebooks.cell_sources(ipynb), "the .py and .ipynb differ"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code), "outputs were not cleared"
    assert "widgets" not in notebook.metadata
    assert notebook.metadata["labbook"] == {"edition": "student", "chapter": chapter}
    from IPython.core.inputtransformer2 import TransformerManager

    for cell in code:  # every code cell is valid (I)Python
        compile(TransformerManager().transform_cell(cell.source), f"{chapter} cell", "exec")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_stubs_and_answer_cells_replace_every_solution(chapter, student_edition):
    teacher = instructor(chapter)
    student = nbformat.read(student_edition / f"{chapter}.ipynb", as_version=4)
    assert len(student.cells) == len(teacher.cells)
    blocks = {i: c.source.count(inventory.BEGIN_SOLUTION) for i, c in enumerate(teacher.cells) if c.cell_type == "code"}
    numbers = inventory.exercise_numbers(teacher)
    for index, count in blocks.items():
        stubs = [int(n) for n in inventory.STUB_LINE.findall(student.cells[index].source)]
        assert stubs == [numbers[index]] * count if count else stubs == []
    teacher_answers = [(i, inventory.question_label(teacher.cells, i)) for i, c in enumerate(teacher.cells)
                       if inventory.is_answer_cell(c)]
    assert teacher_answers, f"{chapter} has no answer cells tagged `solution`"
    for index, label in teacher_answers:
        cell = student.cells[index]
        assert inventory.tags(cell) == [inventory.ANSWER_TAG] and cell.source.startswith(inventory.ANSWER_PROMPT)
        assert inventory.question_label(student.cells, index) == label and not inventory.is_answered(cell)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_edition_runs_and_every_checker_says_not_done(chapter, executed_student):
    notebook = nbformat.read(executed_student(chapter), as_version=4)
    info = inventory.inventory(notebook)
    assert not info["errors"], f"cells raised errors: {info['errors']}"
    assert info["exercises"], f"{chapter} has no exercises"
    for exercise in info["exercises"]:
        assert exercise["statuses"], f"{exercise['label']}: its checker printed nothing"
        assert {status for status, _ in exercise["statuses"]} == {"not done"}, exercise
    assert info["summary"] is not None, "the results summary did not run"
    assert info["summary"]["profile"] == "smoke" and not any(e["passed"] for e in info["summary"]["exercises"])
    outputs = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "not implemented yet: exercise" in outputs and "Run record" in outputs


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_instructor_edition_passes_every_checker(chapter):
    info = inventory.inventory(instructor(chapter))
    assert info["exercises"]
    for exercise in info["exercises"]:
        assert exercise["checkers"], f"{exercise['label']} calls no lu.check_... checker"
        assert [s for s, _ in exercise["statuses"]] == ["pass"] * len(exercise["checkers"]), exercise


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_ends_with_its_results_summary(chapter):
    """lu.results_summary(metrics, expected, exercises) runs in the full profile, lists every exercise, all in range."""
    notebook = instructor(chapter)
    summary = inventory.summary_output(notebook)
    assert summary is not None, f"{chapter} has no results summary: call lu.results_summary before the run record"
    assert summary["profile"] == "full" and summary["chapter"] == chapter
    assert len(summary["exercises"]) == len(inventory.inventory(notebook)["exercises"])
    assert all(e["passed"] for e in summary["exercises"])
    assert summary["metrics"] and all(m["ok"] for m in summary["metrics"]), [m for m in summary["metrics"] if not m["ok"]]


def test_command_line_writes_both_files_and_refuses_unknown_chapters(tmp_path, capsys):
    assert editions.main(["student", CHAPTERS[0][:2], "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{CHAPTERS[0]}.ipynb", f"{CHAPTERS[0]}.py"]
    assert "exercise stubs" in capsys.readouterr().out
    assert editions.main(["student", "99", "--out", str(tmp_path)]) == 2
    assert "no chapter" in capsys.readouterr().err
