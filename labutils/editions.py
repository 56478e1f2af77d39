"""The student edition: the chapters without their solutions, generated from the instructor edition in chapters/.

    python -m labutils.editions student                      # every chapter of the toc -> build/student/
    python -m labutils.editions student 01 02 --out DIR      # chapters whose name starts with 01 or 02

For each chapter it writes NN_topic.ipynb (outputs cleared) and NN_topic.py (py:percent). Code between
`### BEGIN SOLUTION` and `### END SOLUTION` becomes `raise NotImplementedError("not implemented yet: exercise N")`
at the same indentation, so the exercise's checker reports "[not done]" and the notebook still runs to the end;
every markdown cell tagged `solution` becomes an empty answer cell, tagged `answer`, starting with "Your answer:".
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import jupytext
import nbformat
from nbformat import NotebookNode

from . import inventory
from .settings import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "build" / "student"


class EditionError(ValueError):
    """A chapter cannot be turned into a student edition (e.g. unbalanced solution markers)."""


def stub_solutions(source: str, number: int, where: str) -> str:
    """Replace every BEGIN/END SOLUTION block of a code cell by a NotImplementedError stub at the same indentation."""
    lines, out, inside, indent = source.splitlines(), [], False, ""
    for line in lines:
        stripped = line.strip()
        if stripped == inventory.BEGIN_SOLUTION:
            if inside:
                raise EditionError(f"{where}: `{inventory.BEGIN_SOLUTION}` inside another solution block.")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# YOUR CODE HERE (exercise {number})")
            out.append(f"{indent}raise NotImplementedError(\"{inventory.STUB_MESSAGE.format(number=number)}\")")
        elif stripped == inventory.END_SOLUTION:
            if not inside:
                raise EditionError(f"{where}: `{inventory.END_SOLUTION}` without a `{inventory.BEGIN_SOLUTION}` before it.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise EditionError(f"{where}: `{inventory.BEGIN_SOLUTION}` is never closed by `{inventory.END_SOLUTION}`.")
    return "\n".join(out)


def answer_cell(label: str, cell_id: str | None) -> NotebookNode:
    """Return the empty answer cell that replaces a solution-tagged markdown cell."""
    cell = nbformat.v4.new_markdown_cell(f"{inventory.ANSWER_PROMPT}\n\n",
                                         metadata={"tags": [inventory.ANSWER_TAG], "labbook": {"question": label}})
    if cell_id:
        cell.id = cell_id
    return cell


def student_notebook(notebook: NotebookNode, name: str = "notebook") -> NotebookNode:
    """Return the student edition of an instructor notebook: stubs, empty answers, no outputs, no widget state."""
    student = copy.deepcopy(notebook)
    numbers = inventory.exercise_numbers(notebook)
    cells = []
    for index, cell in enumerate(notebook.cells):
        if inventory.is_answer_cell(cell):
            cells.append(answer_cell(inventory.question_label(notebook.cells, index), cell.get("id")))
            continue
        new = copy.deepcopy(cell)
        if new.cell_type == "code":
            if inventory.BEGIN_SOLUTION in new.source or inventory.END_SOLUTION in new.source:
                number = numbers.get(index) or max(numbers.values(), default=0) + 1
                new.source = stub_solutions(new.source, number, f"{name}, cell {index}")
            new.outputs, new.execution_count = [], None
        new.metadata.pop("execution", None)
        cells.append(new)
    student.cells = cells
    student.metadata.pop("widgets", None)
    student.metadata["labbook"] = {"edition": "student", "chapter": inventory.chapter_id(notebook)}
    return student


def solution_texts(notebook: NotebookNode) -> list[str]:
    """Return every line of solution code and of solution-tagged answers (the text no student edition may contain)."""
    texts = []
    for cell in notebook.cells:
        if inventory.is_answer_cell(cell):
            texts += [line.strip() for line in cell.source.splitlines() if line.strip()]
        elif cell.cell_type == "code":
            inside = False
            for line in cell.source.splitlines():
                if line.strip() in (inventory.BEGIN_SOLUTION, inventory.END_SOLUTION):
                    inside = line.strip() == inventory.BEGIN_SOLUTION
                elif inside and line.strip():
                    texts.append(line.strip())
    return texts


def chapter_notebooks(prefixes: list[str] | None = None, chapters_dir: Path = REPO_ROOT / "chapters") -> list[Path]:
    """Return the instructor notebooks of the toc's chapters (all, or those whose name starts with a prefix)."""
    from .book import toc_chapters

    names = toc_chapters(chapters_dir)
    if prefixes:
        names = [n for n in names if any(Path(n).name.startswith(p) for p in prefixes)]
    return [chapters_dir / f"{name}.ipynb" for name in names]


def write_student_edition(source: Path, out_dir: Path) -> list[Path]:
    """Write the student edition of one chapter notebook as .ipynb and .py into out_dir; return both paths."""
    notebook = inventory.read_notebook(source)
    inventory.require_chapter(notebook, source)
    student = student_notebook(notebook, source.name)
    nbformat.validate(student)
    out_dir.mkdir(parents=True, exist_ok=True)
    ipynb, py = out_dir / source.name, out_dir / f"{source.stem}.py"
    nbformat.write(student, ipynb)
    student.metadata["jupytext"] = {"formats": "ipynb,py:percent", "notebook_metadata_filter": "kernelspec,jupytext",
                                    "cell_metadata_filter": "tags,labbook,-all"}
    jupytext.write(student, py, fmt="py:percent")
    return [ipynb, py]


def main(argv: list[str] | None = None) -> int:
    """Command line: `student [prefixes] [--out DIR]`."""
    parser = argparse.ArgumentParser(prog="python -m labutils.editions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("edition", choices=["student"])
    parser.add_argument("chapters", nargs="*", help="chapter name prefixes, e.g. 01 02 (default: every chapter)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    sources = chapter_notebooks(args.chapters)
    if not sources:
        print(f"error: no chapter of chapters/_toc.yml matches {args.chapters}", file=sys.stderr)
        return 2
    for source in sources:
        try:
            paths = write_student_edition(source, args.out)
        except (inventory.NotAChapterError, EditionError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        notebook = nbformat.read(paths[0], as_version=4)
        stubs = sum(len(inventory.STUB_LINE.findall(c.source)) for c in notebook.cells if c.cell_type == "code")
        answers = sum(inventory.is_answer_cell(c) for c in notebook.cells)
        print(f"{source.stem}: {stubs} exercise stubs, {answers} answer cells -> "
              f"{', '.join(str(p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p) for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
