"""A chapter as an nbgrader assignment: the instructor notebook with nbgrader's cell metadata and test cells.

The chapters keep the book's own conventions (solutions between `### BEGIN SOLUTION` / `### END SOLUTION`
inside the exercise's function, the checker call `exercise_N = lu.check_...(fn)` at the end of the same cell,
answers in markdown cells tagged `solution`), so that their `.py` sources stay readable. This module turns one
into nbgrader's *source* version:

* each exercise cell is split in two: the solution cell (nbgrader `solution`), and a locked, autograded test
  cell holding the checker call, an `assert` on its verdict and, between nbgrader's hidden-test markers, the
  same checker run again from a pristine copy of `labutils/checks/` (so that redefining or monkeypatching a
  checker in the notebook earns nothing);
* after it, one locked, autograded cell per hidden check of that exercise (`labbook.hidden`), whose code
  is entirely hidden from students;
* each answer becomes a manually graded markdown cell with its points;
* the question and exercise texts, the set-up cell and the closing cells (results summary, run record) are
  locked: nbgrader restores them from this version when it grades.

Points live in one place, `labbook/points.yml`, one section per chapter.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from typing import Any

import nbformat
import yaml
from nbformat import NotebookNode

from . import hidden, inventory

POINTS_FILE = Path(__file__).with_name("points.yml")
CHECK_ASSIGN = re.compile(r"^exercise_(\d+)\s*=\s*lu\.(check_[A-Za-z0-9_]+)\(")
LOCKED_CODE = ("lu.setup(", "lu.finish(", "lu.results_summary(", "lu.run_record(")


class AssignmentError(ValueError):
    """A chapter cannot be turned into an nbgrader assignment (a convention is broken, or points are missing)."""


def load_points(path: Path = POINTS_FILE) -> dict[str, dict[str, Any]]:
    """Return the points of every chapter: {chapter: {"exercises": {N: points}, "questions": {label: points}}}."""
    return yaml.safe_load(path.read_text())


def chapter_points(chapter: str, points: dict[str, Any] | None = None) -> dict[str, dict[Any, int]]:
    """Return one chapter's points, or raise AssignmentError when the points file has no section for it."""
    points = load_points() if points is None else points
    if chapter not in points:
        raise AssignmentError(
            f"{POINTS_FILE.name} has no section for chapter {chapter!r}: add its exercises' and "
            "questions' points there."
        )
    section = points[chapter]
    return {
        "exercises": {int(k): int(v) for k, v in (section.get("exercises") or {}).items()},
        "questions": {str(k): int(v) for k, v in (section.get("questions") or {}).items()},
    }


def grade_id(text: str) -> str:
    """Return an nbgrader grade id made from a label: letters, digits and underscores only."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def nbgrader_metadata(
    grade_id_: str,
    *,
    grade: bool = False,
    solution: bool = False,
    locked: bool = False,
    points: int | None = None,
) -> dict[str, Any]:
    """Return the `nbgrader` cell metadata (schema version 3) of one cell."""
    meta: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id_,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return meta


def split_exercise(source: str, where: str) -> tuple[str, list[tuple[int, str, str]]]:
    """Split an exercise cell into its solution code and its checker calls [(N, checker, call source)]."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise AssignmentError(f"{where}: the exercise cell is not valid Python ({err}).") from None
    lines = source.splitlines()
    calls, keep = [], [True] * len(lines)
    for node in tree.body:
        segment = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        match = CHECK_ASSIGN.match(segment)
        if match:
            calls.append((int(match.group(1)), match.group(2), segment))
            for index in range(node.lineno - 1, node.end_lineno):
                keep[index] = False
    if not calls:
        raise AssignmentError(
            f"{where}: an exercise cell must end with `exercise_N = lu.check_...(...)`."
        )
    solution = "\n".join(line for line, kept in zip(lines, keep) if kept).rstrip()
    return solution, calls


def test_cell_source(number: int, checker: str, call: str) -> str:
    """Return the autograded test cell of an exercise: the visible checker, its verdict, the pristine re-run."""
    pristine = (
        call.split("=", 1)[1]
        .strip()
        .replace(f"lu.{checker}(", f"labbook.hidden.pristine_checks().{checker}(", 1)
    )
    return "\n".join(
        [
            f"# Exercise {number}: its checker (graded again when you hand in; this cell is restored then).",
            call,
            "### BEGIN HIDDEN TESTS",
            f'assert exercise_{number}, "Exercise {number} does not pass its checker: read its message above."',
            "import labbook.hidden",
            "with labbook.hidden.silenced():",
            f"    _verdict = {pristine}",
            f'assert _verdict, "Exercise {number}: its checker, run again from a fresh copy, '
            'does not pass (was it changed?)."',
            "### END HIDDEN TESTS",
        ]
    )


def hidden_cell_source(chapter: str, check: hidden.HiddenCheck) -> str:
    """Return the autograded cell of one hidden check (everything but its first comment is hidden)."""
    return "\n".join(
        [
            f"# A hidden check of exercise {check.exercise} ({check.points} point"
            f"{'s' if check.points != 1 else ''}), run when you hand in.",
            "### BEGIN HIDDEN TESTS",
            "import labbook.hidden",
            f"labbook.hidden.run({chapter!r}, {check.name!r}, {check.target})",
            "### END HIDDEN TESTS",
        ]
    )


def source_notebook(notebook: NotebookNode, points: dict[str, Any] | None = None) -> NotebookNode:
    """Return the nbgrader source version of an instructor chapter notebook (outputs kept, metadata added)."""
    chapter = inventory.require_chapter(notebook, "notebook")
    scheme = chapter_points(chapter, points)
    checks = hidden.registry().get(chapter, [])
    numbers = inventory.exercise_numbers(notebook)
    seen_exercises, seen_questions, cells = set(), set(), []
    for index, cell in enumerate(notebook.cells):
        new = copy.deepcopy(cell)
        new.metadata.pop("nbgrader", None)
        where = f"{chapter}, cell {index}"
        if inventory.is_answer_cell(cell):
            label = inventory.question_label(notebook.cells, index)
            if label not in scheme["questions"]:
                raise AssignmentError(
                    f"{where}: the answer to {label!r} has no points in {POINTS_FILE.name}."
                )
            seen_questions.add(label)
            new.metadata["tags"] = [
                t for t in inventory.tags(cell) if t != inventory.SOLUTION_TAG
            ] + [inventory.ANSWER_TAG]
            new.metadata.setdefault("labbook", {})["question"] = label
            new.metadata["nbgrader"] = nbgrader_metadata(
                f"answer_{grade_id(label)}",
                grade=True,
                solution=True,
                points=scheme["questions"][label],
            )
            cells.append(new)
        elif cell.cell_type == "code" and inventory.BEGIN_SOLUTION in cell.source:
            solution, calls = split_exercise(cell.source, where)
            new.source, new.outputs, new.execution_count = solution, [], None
            number = numbers.get(index, calls[0][0])
            new.metadata["nbgrader"] = nbgrader_metadata(
                f"exercise_{number}_solution", solution=True
            )
            cells.append(new)
            for n, checker, call in calls:
                if n not in scheme["exercises"]:
                    raise AssignmentError(
                        f"{where}: exercise {n} has no points in {POINTS_FILE.name}."
                    )
                seen_exercises.add(n)
                test = nbformat.v4.new_code_cell(test_cell_source(n, checker, call))
                test.outputs, test.execution_count = (
                    cell.get("outputs", []),
                    cell.get("execution_count"),
                )
                test.metadata["nbgrader"] = nbgrader_metadata(
                    f"exercise_{n}", grade=True, locked=True, points=scheme["exercises"][n]
                )
                cells.append(test)
                for check in (c for c in checks if c.exercise == n):
                    hidden_test = nbformat.v4.new_code_cell(hidden_cell_source(chapter, check))
                    hidden_test.metadata["nbgrader"] = nbgrader_metadata(
                        f"exercise_{n}_hidden_{check.name}",
                        grade=True,
                        locked=True,
                        points=check.points,
                    )
                    cells.append(hidden_test)
        else:
            lock = cell.cell_type == "markdown" or any(call in cell.source for call in LOCKED_CODE)
            if lock:
                new.metadata["nbgrader"] = nbgrader_metadata(f"locked_{index}", locked=True)
            cells.append(new)
    missing = (set(scheme["exercises"]) - seen_exercises) | (
        set(scheme["questions"]) - seen_questions
    )
    if missing:
        raise AssignmentError(
            f"{POINTS_FILE.name} gives points to {sorted(map(str, missing))} of {chapter}, "
            "which the chapter does not have."
        )
    source = copy.deepcopy(notebook)
    source.cells = cells
    for cell in source.cells:  # nbgrader matches cells by id: make them unique and stable
        cell.pop("id", None)
    source.metadata["labbook"] = {
        **notebook.metadata.get("labbook", {}),
        "chapter": chapter,
        "edition": "source",
    }
    return _with_ids(source)


def _with_ids(notebook: NotebookNode) -> NotebookNode:
    """Give every cell a stable id derived from its position and grade id (nbformat 4.5)."""
    for index, cell in enumerate(notebook.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell["id"] = (gid or f"cell-{index}").replace("_", "-")[:64]
    notebook.nbformat, notebook.nbformat_minor = 4, max(5, notebook.get("nbformat_minor", 5))
    return notebook


def max_points(notebook: NotebookNode) -> dict[str, int]:
    """Return the points of an nbgrader notebook: autograded, manually graded, and total."""
    auto = manual = 0
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            if cell.cell_type == "code":
                auto += int(meta.get("points") or 0)
            else:
                manual += int(meta.get("points") or 0)
    return {"auto": auto, "manual": manual, "total": auto + manual}
