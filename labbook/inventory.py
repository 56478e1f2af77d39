"""What a chapter notebook contains, for the handout, the grading and the instructor page.

The conventions every chapter follows (see the README, "The book, student edition and grading"):

* code solutions sit between `### BEGIN SOLUTION` and `### END SOLUTION` lines (nbgrader's markers) inside the
  exercise's function; the cell then calls a checker, `exercise_N = lu.check_...(function)`;
* the markdown cell just before an exercise names it: `**Exercise N.**` (open exercises: `**Exercise N (open).**`);
* answers to questions are markdown cells tagged `solution`, right after the question's cell (`**Q1.** ...`);
* the chapter ends with one results tail, `lu.finish(metrics, exercises)`: the summary, the export and the run record.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from labutils.summary import SUMMARY_KEY  # noqa: F401  (defined where the summary is displayed)

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
SOLUTION_TAG = "solution"
ANSWER_TAG = "answer"
ANSWER_PROMPT = "**Your answer:**"

FIGURE_MIME_TYPES = ("image/png", "image/svg+xml", "image/jpeg")

SETUP_CALL = re.compile(r"""lu\.setup\(\s*["'](\d\d_[A-Za-z0-9_]+)["']""")
CHECK_CALL = re.compile(r"\blu\.(check_[A-Za-z0-9_]+)\(")
EXERCISE_NAME = re.compile(r"\*\*Exercise\s+(\d+)(\s*\(open\))?")
QUESTION_NAME = re.compile(r"\*\*(Q\d+)\.?\*\*")
LEADING_BOLD = re.compile(r"^\s*\*\*([^*]+?)[.:]?\*\*")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$", re.M)
STATUS_LINE = re.compile(r"^\[(pass|fail|not done)\] ([^:\n]+):", re.M)
STUB_LINE = re.compile(
    r"""raise NotImplementedError\((?:["']not implemented yet: exercise (\d+)["'])?\)"""
)


class NotAChapterError(ValueError):
    """The file is not a lab book chapter notebook (or cannot be read as one)."""


def read_notebook(path: str | Path) -> NotebookNode:
    """Read a notebook, or raise NotAChapterError saying why it cannot be read (missing, not JSON, not a notebook)."""
    path = Path(path)
    if not path.exists():
        raise NotAChapterError(f"{path}: no such notebook.")
    if path.suffix != ".ipynb":
        raise NotAChapterError(
            f"{path}: expected a Jupyter notebook (.ipynb), got a {path.suffix or 'file without suffix'}."
        )
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises several types for broken files
        raise NotAChapterError(
            f"{path}: cannot be read as a Jupyter notebook ({type(err).__name__}: {err})."
        ) from None


def chapter_id(notebook: NotebookNode) -> str | None:
    """Return the chapter name passed to lu.setup (e.g. '01_minimax'), or None if the notebook has no such call."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and (match := SETUP_CALL.search(cell.source)):
            return match.group(1)
    return None


def require_chapter(notebook: NotebookNode, path: str | Path) -> str:
    """Return the chapter name, or raise NotAChapterError when the notebook is not a lab book chapter."""
    chapter = chapter_id(notebook)
    if chapter is None:
        raise NotAChapterError(
            f'{path}: not a GAN lab book chapter (no `lu.setup("NN_topic")` call in any code cell).'
        )
    return chapter


def chapter_title(notebook: NotebookNode) -> str:
    """Return the text of the notebook's first level-1 heading ('' when there is none)."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and (
            match := re.search(r"^#\s+(.+?)\s*$", cell.source, re.M)
        ):
            return match.group(1)
    return ""


def tags(cell: NotebookNode) -> list[str]:
    """Return the cell's tags."""
    return list(cell.get("metadata", {}).get("tags", []))


def is_exercise_cell(cell: NotebookNode) -> bool:
    """True for a code cell holding an exercise: a solution block, a student stub or a checker call."""
    return cell.cell_type == "code" and bool(
        BEGIN_SOLUTION in cell.source
        or STUB_LINE.search(cell.source)
        or CHECK_CALL.search(cell.source)
    )


def is_answer_cell(cell: NotebookNode) -> bool:
    """True for a markdown cell holding an answer: tagged `solution` (instructor) or `answer` (student)."""
    return cell.cell_type == "markdown" and bool({SOLUTION_TAG, ANSWER_TAG} & set(tags(cell)))


def exercise_number(cells: list[NotebookNode], index: int) -> int | None:
    """Return N from the `**Exercise N.**` markdown just before cells[index] (None when there is none)."""
    stub = STUB_LINE.search(cells[index].source)
    if stub and stub.group(1):
        return int(stub.group(1))
    for cell in reversed(cells[:index]):
        if cell.cell_type == "code":
            return None
        found = [m for m in EXERCISE_NAME.finditer(cell.source) if not m.group(2)]
        if found:
            return int(found[-1].group(1))
    return None


def exercise_numbers(notebook: NotebookNode) -> dict[int, int]:
    """Map the index of every exercise cell to its exercise number (named, else counted in order)."""
    numbers: dict[int, int] = {}
    for index, cell in enumerate(notebook.cells):
        if is_exercise_cell(cell):
            named = exercise_number(notebook.cells, index)
            numbers[index] = named if named is not None else max(numbers.values(), default=0) + 1
    return numbers


def question_label(cells: list[NotebookNode], index: int) -> str:
    """Return the label of the answer cell cells[index]: its stored label, the question's Qn, or its bold lead-in."""
    cell = cells[index]
    stored = cell.get("metadata", {}).get("labbook", {}).get("question")
    if stored:
        return stored
    for previous in reversed(cells[:index]):
        if previous.cell_type != "markdown" or is_answer_cell(previous):
            break
        found = QUESTION_NAME.findall(previous.source)
        if found:
            return found[-1]
        break
    lead = LEADING_BOLD.match(cell.source)
    if lead and lead.group(1).strip().lower() not in ("answer", ANSWER_PROMPT.strip("*:").lower()):
        return lead.group(1).strip()
    return f"answer in cell {index}"


def answer_text(cell: NotebookNode) -> str:
    """Return what a student wrote in an answer cell (the prompt removed, whitespace trimmed)."""
    return cell.source.replace(ANSWER_PROMPT, "").strip()


def is_answered(cell: NotebookNode) -> bool:
    """True when an answer cell holds at least a few words beyond the prompt."""
    return len(re.findall(r"\w+", answer_text(cell))) >= 3


def checker_statuses(cell: NotebookNode) -> list[tuple[str, str]]:
    """Return the (status, checker name) lines a checker printed in the cell's outputs: pass, fail or not done."""
    text = "".join(
        output.get("text", "")
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream"
    )
    return STATUS_LINE.findall(text)


def error_output(cell: NotebookNode) -> str | None:
    """Return 'ErrorName: message' of the cell's error output, or None."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    return None


def figure_count(cell: NotebookNode) -> int:
    """Return how many figures (images, or an HTML animation made of images) the cell's outputs show."""
    count = 0
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if any(mime in data for mime in FIGURE_MIME_TYPES):
            count += 1
        elif "data:image/png;base64" in str(data.get("text/html", "")):
            count += 1
    return count


def section_of(cells: list[NotebookNode], index: int) -> str:
    """Return the heading of the section that cells[index] belongs to (the last heading above it)."""
    for cell in reversed(cells[:index]):
        if cell.cell_type == "markdown":
            headings = HEADING.findall(cell.source)
            if headings:
                return headings[-1][1]
    return ""


def normalised(source: str) -> str:
    """Return source with blank lines and trailing spaces removed, to match cells across editions."""
    return "\n".join(line.rstrip() for line in source.strip().splitlines() if line.strip())


def summary_output(notebook: NotebookNode) -> dict[str, Any] | None:
    """Return the structured results summary that lu.results_summary displayed, or None if there is none."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            summary = output.get("metadata", {}).get(SUMMARY_KEY)
            if summary:
                return summary
    return None


def executed_profile(notebook: NotebookNode) -> str | None:
    """Return the profile the notebook ran in, read from the banner of lu.setup ('full', 'smoke'), or None."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            match = re.search(
                r"profile\s+:\s+(\w+)",
                output.get("text", "") if output.get("output_type") == "stream" else "",
            )
            if match:
                return match.group(1)
    return None


def inventory(notebook: NotebookNode) -> dict[str, Any]:
    """Describe a chapter: its exercises (with checker results), open exercises, answers, figures and summary."""
    cells = notebook.cells
    numbers = exercise_numbers(notebook)
    exercises = []
    for index, number in numbers.items():
        statuses = checker_statuses(cells[index])
        exercises.append(
            {
                "number": number,
                "label": f"Exercise {number}",
                "cell": index,
                "checkers": CHECK_CALL.findall(cells[index].source),
                "statuses": statuses,
                "error": error_output(cells[index]),
                "executed": cells[index].get("execution_count") is not None,
            }
        )
    open_exercises = sorted(
        {
            int(m.group(1))
            for cell in cells
            if cell.cell_type == "markdown"
            for m in EXERCISE_NAME.finditer(cell.source)
            if m.group(2)
        }
    )
    answers = [
        {"label": question_label(cells, index), "cell": index, "answered": is_answered(cell)}
        for index, cell in enumerate(cells)
        if is_answer_cell(cell)
    ]
    figures = [
        {
            "cell": index,
            "section": section_of(cells, index),
            "count": figure_count(cell),
            "source": normalised(cell.source),
        }
        for index, cell in enumerate(cells)
        if cell.cell_type == "code" and figure_count(cell)
    ]
    return {
        "chapter": chapter_id(notebook),
        "title": chapter_title(notebook),
        "exercises": exercises,
        "open_exercises": open_exercises,
        "answers": answers,
        "figures": figures,
        "summary": summary_output(notebook),
        "profile": executed_profile(notebook),
        "errors": [(index, err) for index, cell in enumerate(cells) if (err := error_output(cell))],
    }
