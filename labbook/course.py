"""An nbgrader course folder made from the chapters: where `labbook handout` and `labbook grade` let nbgrader work.

nbgrader's layout (https://nbgrader.readthedocs.io): `source/<assignment>/` holds the instructor version,
`release/<assignment>/` the student version that `generate_assignment` writes, `submitted/<student>/<assignment>/`
what students hand in, `autograded/` what `autograde` re-executed, and `gradebook.db` the scores. Here an
assignment is a chapter, and its one notebook is named after it (`01_minimax/01_minimax.ipynb`).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import nbformat
from traitlets.config import Config

from . import assignment

COURSE_ID = "gan-labbook"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "**Your answer:**"


class CourseError(RuntimeError):
    """nbgrader could not do what was asked (its own log says why)."""


def config(root: Path, cell_timeout: int = 300) -> Config:
    """Return the nbgrader configuration of a course folder at root."""
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.ClearSolutions.code_stub = {"python": CODE_STUB}
    c.ClearSolutions.text_stub = TEXT_STUB
    c.Execute.timeout = (
        cell_timeout  # seconds per cell; a cell past it is interrupted and recorded as an error
    )
    c.Execute.interrupt_on_timeout = True
    c.OverwriteCells.add_missing_cells = (
        True  # a deleted test cell comes back (commented out, so it scores 0)
    )
    c.ClearOutput.enabled = True
    return c


def ensure_tools_on_path() -> None:
    """Put this Python's scripts folder on PATH: nbgrader runs `alembic` from there to open its gradebook."""
    scripts = os.path.dirname(sys.executable)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def api(root: Path, cell_timeout: int = 300):
    """Return nbgrader's API object for the course folder at root, logging warnings only."""
    from nbgrader.apps import NbGraderAPI

    ensure_tools_on_path()
    from nbgrader.coursedir import CourseDirectory

    cfg = config(root, cell_timeout)
    coursedir = CourseDirectory(config=cfg)
    nb_api = NbGraderAPI(coursedir=coursedir, config=cfg)
    nb_api.log.setLevel(logging.WARNING)
    return nb_api


def write_source(root: Path, chapter_notebook: Path) -> Path:
    """Write a chapter's nbgrader source version into root/source/<chapter>/; return its path."""
    notebook = nbformat.read(chapter_notebook, as_version=4)
    source = assignment.source_notebook(notebook)
    chapter = source.metadata["labbook"]["chapter"]
    path = root / "source" / chapter / f"{chapter}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(source, path)
    return path


def generate(root: Path, chapter: str) -> Path:
    """Run nbgrader's generate_assignment for one chapter; return the released student notebook."""
    result = api(root).generate_assignment(chapter, force=True)
    if not result.get("success"):
        raise CourseError(
            f"nbgrader generate_assignment failed for {chapter}:\n{result.get('error') or result.get('log')}"
        )
    return root / "release" / chapter / f"{chapter}.ipynb"
