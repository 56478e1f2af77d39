"""The student handout: built by nbgrader, solution-free in every file, valid paired notebooks, and every chapter runs
to the end in the smoke profile in a fresh virtual environment with the handout's own labutils."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import sysconfig
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jupytext
import nbformat
import pytest

from labbook import chapters, inventory, notebooks
from labbook import handout as handout_module
from labutils.settings import REPO_ROOT

CHAPTERS = chapters.toc_chapters()


def instructor(chapter: str) -> nbformat.NotebookNode:
    """The committed instructor edition of a chapter."""
    return nbformat.read(REPO_ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)


def non_solution_lines(notebook: nbformat.NotebookNode) -> set[str]:
    """Every stripped line of a notebook outside solution blocks, hidden tests and answer cells."""
    lines = set()
    for cell in notebook.cells:
        if inventory.is_answer_cell(cell):
            continue
        inside = False
        for line in cell.source.splitlines():
            if line.strip() in (
                inventory.BEGIN_SOLUTION,
                inventory.END_SOLUTION,
                handout_module.HIDDEN_BEGIN,
                handout_module.HIDDEN_END,
            ):
                inside = line.strip() in (inventory.BEGIN_SOLUTION, handout_module.HIDDEN_BEGIN)
            elif not inside:
                lines.add(line.strip())
    return lines


@functools.cache
def public_lines() -> frozenset[str]:
    """Lines that students may see: labutils' code and every chapter's text outside its solutions."""
    lines = {
        line.strip()
        for path in (REPO_ROOT / "labutils").rglob("*.py")
        for line in path.read_text().splitlines()
    }
    for chapter in CHAPTERS:
        lines |= non_solution_lines(instructor(chapter))
    return frozenset(lines)


def handout_texts(handout: dict) -> dict[str, str]:
    """Every file of the handout folder and of its zip, as text: {name: text}."""
    texts = {
        str(p.relative_to(handout["folder"])): p.read_text(errors="replace")
        for p in handout["folder"].rglob("*")
        if p.is_file()
    }
    with zipfile.ZipFile(handout["zip"]) as archive:
        texts.update(
            {
                f"zip:{name}": archive.read(name).decode(errors="replace")
                for name in archive.namelist()
                if not name.endswith("/")
            }
        )
    return texts


def test_the_handout_has_every_chapter_and_its_tools(handout):
    folder = handout["folder"]
    assert handout["chapters"] == CHAPTERS
    for chapter in CHAPTERS:
        assert (folder / "chapters" / f"{chapter}.ipynb").exists() and (
            folder / "chapters" / f"{chapter}.py"
        ).exists()
    for name in (
        "README.md",
        "pyproject.toml",
        "environment.yml",
        "jupytext.toml",
        "labutils/__init__.py",
        "labutils/checks/__init__.py",
        "data/README.md",
    ):
        assert (folder / name).exists(), f"the handout lacks {name}"
    assert not (folder / "labbook").exists(), (
        "the instructor tools (and their hidden checks) must not be handed out"
    )
    with zipfile.ZipFile(handout["zip"]) as archive:
        names = {n.split("/", 1)[1] for n in archive.namelist() if not n.endswith("/")}
    assert names == {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_solution_answer_or_hidden_check_in_any_file(chapter, handout, source_notebooks):
    source = nbformat.read(source_notebooks / chapter / f"{chapter}.ipynb", as_version=4)
    secrets = set(handout_module.forbidden_texts(source)) - public_lines()
    assert len(secrets) >= 3, f"{chapter} has no solutions to hide"
    assert any("labbook.hidden" in s for s in secrets), (
        "the hidden tests are not in the source version"
    )
    for name, text in handout_texts(handout).items():
        lines = {line.strip().removeprefix("# ").strip() for line in text.splitlines()} | {
            line.strip() for line in text.splitlines()
        }
        if name.endswith(".ipynb"):
            lines |= {
                line.strip()
                for c in nbformat.reads(text, as_version=4).cells
                for line in c.source.splitlines()
            }
        leaked = sorted(secrets & lines)
        assert not leaked, f"{name} contains solution, answer or hidden-check text: {leaked[:3]}"
        assert handout_module.HIDDEN_BEGIN not in text and "labbook.hidden" not in text, name


def test_no_instructor_note_in_the_handout(handout):
    notes = [
        line.strip()
        for line in (REPO_ROOT / "chapters" / "instructor.md").read_text().splitlines()
        if len(line.strip()) > 50
    ]
    assert notes
    for name, text in handout_texts(handout).items():
        assert not [n for n in notes if n in text], f"{name} contains instructor notes"
        assert "instructor.md" not in name


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_notebooks_are_valid_locked_and_paired(chapter, handout):
    ipynb = handout["folder"] / "chapters" / f"{chapter}.ipynb"
    notebook = nbformat.read(ipynb, as_version=4)
    nbformat.validate(notebook)
    assert notebooks.cell_sources(ipynb.with_suffix(".py")) == notebooks.cell_sources(ipynb), (
        "the .py and .ipynb differ"
    )
    assert jupytext.read(ipynb.with_suffix(".py")).cells[0].metadata.get("nbgrader"), (
        "the .py lost nbgrader's metadata"
    )
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code), (
        "outputs were not cleared"
    )
    assert notebook.metadata["labbook"] == {"edition": "student", "chapter": chapter}
    tests = [c for c in code if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests and all(c.metadata.get("editable") is False for c in tests), (
        "test cells must be locked"
    )
    answers = [c for c in notebook.cells if inventory.is_answer_cell(c)]
    assert answers and all(
        c.source.startswith(inventory.ANSWER_PROMPT) and not inventory.is_answered(c)
        for c in answers
    )
    assert all(
        inventory.STUB_LINE.search(c.source)
        for c in code
        if c.metadata.get("nbgrader", {}).get("solution")
    ), "an exercise has no stub"


def _fresh_environment(tmp_path: Path, folder: Path) -> Path:
    """A new virtual environment with the handout installed by pip (dependencies from this one, no network)."""
    env_dir = tmp_path / "fresh-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # This environment's packages (torch, jupyter...) as a plain path: its .pth files, and so its editable
    # install of the repository's own labutils, are not read there.
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-e",
            str(folder),
        ],
        check=True,
        capture_output=True,
    )
    return python


EXECUTE = """
import sys, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
notebook = nbformat.read(path, as_version=4)
NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(notebook, path)
"""


def test_every_chapter_of_the_handout_runs_in_a_fresh_environment(handout, tmp_path, real_data):
    folder = handout["folder"]
    python = _fresh_environment(tmp_path, folder)
    where = subprocess.run(
        [str(python), "-c", "import labutils; print(labutils.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(where).resolve().is_relative_to(folder.resolve()), (
        f"labutils came from {where}, not the handout"
    )
    env = {
        **os.environ,
        "LABBOOK_PROFILE": "smoke",
        "LABBOOK_DATA": str(real_data),
        "LABBOOK_CHECKPOINTS": str(tmp_path / "checkpoints"),
        "LABBOOK_RESULTS": str(tmp_path / "results"),
        "LABBOOK_THREADS": "1",
    }

    def run(chapter: str) -> tuple[str, subprocess.CompletedProcess]:
        path = folder / "chapters" / f"{chapter}.ipynb"
        copy = tmp_path / f"{chapter}.ipynb"
        copy.write_bytes(path.read_bytes())
        return chapter, subprocess.run(
            [str(python), "-c", EXECUTE, str(copy), str(folder / "chapters")],
            env=env,
            capture_output=True,
            text=True,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(run, CHAPTERS))
    for chapter, result in runs:
        assert result.returncode == 0, (
            f"{chapter} does not run to the end:\n{result.stderr[-3000:]}"
        )
        notebook = nbformat.read(tmp_path / f"{chapter}.ipynb", as_version=4)
        text = "".join(
            o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs
        )
        statuses = {s for s, _ in inventory.STATUS_LINE.findall(text)}
        assert statuses == {"not done"}, (
            f"{chapter}: the untouched handout's checkers say {statuses}"
        )
        assert "Run record" in text, f"{chapter} did not reach its run record"
