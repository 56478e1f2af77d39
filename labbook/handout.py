"""The student handout: a self-contained folder (and zip) with the chapters' student notebooks, built by nbgrader.

    labbook handout --out DIR            # every chapter of the toc -> DIR/ and DIR.zip
    labbook handout 01 02 --out DIR      # chapters whose name starts with 01 or 02

nbgrader's `generate_assignment` writes each student notebook from the chapter's nbgrader source version
(`labbook.assignment`): solution code becomes `raise NotImplementedError`, answers become empty
"**Your answer:**" cells, hidden tests and outputs are removed, and the test cells are locked. The folder
holds those notebooks (and their py:percent twins), `labutils` (what the notebooks import; the hidden
checks live in `labbook`, which is not handed out), the environment files and a student README. No
solution line, answer text, hidden check or instructor note is in any file of it (the tests scan it).
"""

from __future__ import annotations

import shutil
import tempfile
import tomllib
from pathlib import Path

import jupytext
import nbformat
from nbformat import NotebookNode

from labutils.settings import REPO_ROOT

from . import chapters, course, inventory

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
PAIRED_METADATA = (
    "tags,labbook,nbgrader,editable,deletable,-all"  # what the .py twin keeps of each cell
)

STUDENT_README = """\
# The GAN lab book: student handout

The practical sessions of the GAN lab book: one notebook per chapter in `chapters/`, each a pair
(`NN_topic.ipynb`, the notebook you hand in, and `NN_topic.py`, the same cells as a script; Jupyter keeps
them in sync when you save). Chapters in this handout: {chapters}.

## Install (Python 3.11 or newer)

```bash
python3 -m venv .venv && source .venv/bin/activate
pip install "torch>=2.2" "torchvision>=0.17"
pip install -e .
jupyter lab chapters/
```

Or with conda: `conda env create -f environment.yml && conda activate gan-labbook-student`.

The datasets (MNIST, Fashion-MNIST, USPS) are downloaded into `data/` on first use; on a machine without
internet, copy them there first in torchvision's layout (see `data/README.md`).

## Working on a chapter

* Run the cells in order. Each exercise is a function to complete where it says `# YOUR CODE HERE`
  (delete the `raise NotImplementedError` line); the cell after it runs the exercise's checker, which
  prints `[pass]`, `[fail]` with what is wrong, or `[not done]`.
* Each question has an answer cell that starts with **Your answer:**: write your answer there, in your own
  words, from the results your notebook shows.
* `LABBOOK_PROFILE=smoke jupyter lab chapters/` runs every chapter in seconds (tiny trainings, same code)
  while you work; the default profile, `full`, gives the results the questions are about.
* Some cells cannot be edited (the checker cells, the texts, the set-up and closing cells). When you hand
  in, the notebook is executed again from the start in a clean kernel, with those cells as they were given
  and with further checks of your exercises; what counts is what your code does then, not the outputs you
  saved.

## Handing in

Hand in `chapters/NN_topic.ipynb`, executed from top to bottom and saved. Do not rename it.
"""

DATA_README = """\
# data/

Datasets (downloaded by torchvision on first use), the evaluation classifiers, checkpoints and results live
here. Offline, copy MNIST, FashionMNIST (their `raw/*.gz` files) and `usps.bz2`, `usps.t.bz2` here first, in
torchvision's layout, or point the `LABBOOK_DATA` environment variable at a folder that has them.
"""


def student_pyproject() -> str:
    """Return the handout's pyproject.toml: the labutils package with the book's own dependency ranges."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    dependencies = "".join(f'    "{d}",\n' for d in project["dependencies"])
    return (
        f'[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "gan-labbook-student"\nversion = "{project["version"]}"\n'
        f'description = "The GAN lab book, student handout: labutils and the chapters."\n'
        f'requires-python = "{project["requires-python"]}"\ndependencies = [\n{dependencies}]\n\n'
        '[tool.setuptools]\npackages = ["labutils"]\n'
    )


def student_environment() -> str:
    """Return the handout's environment.yml (conda): the same dependencies as its pyproject.toml."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    conda = "".join(
        f"  - {d.replace('torch>', 'pytorch>', 1) if d.startswith('torch>') else d}\n"
        for d in project["dependencies"]
    )
    return (
        f"name: gan-labbook-student\nchannels:\n  - conda-forge\ndependencies:\n"
        f"  - python{project['requires-python']}\n  - pip\n{conda}  - pip:\n      - -e .\n"
    )


def write_pair(notebook: NotebookNode, out_dir: Path, name: str) -> list[Path]:
    """Write a student notebook as NAME.ipynb and its py:percent twin NAME.py; return both paths."""
    notebook.metadata["jupytext"] = {
        "formats": "ipynb,py:percent",
        "notebook_metadata_filter": "kernelspec,jupytext",
        "cell_metadata_filter": PAIRED_METADATA,
    }
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    ipynb, py = out_dir / f"{name}.ipynb", out_dir / f"{name}.py"
    nbformat.write(notebook, ipynb)
    jupytext.write(notebook, py, fmt="py:percent")
    return [ipynb, py]


def build(out: Path, prefixes: list[str] | None = None, zip_it: bool = True) -> dict[str, object]:
    """Build the handout of the selected chapters into out (replaced) and out.zip; return what was written."""
    names = chapters.select(prefixes)
    if not names:
        raise course.CourseError(f"no chapter of chapters/_toc.yml matches {prefixes}")
    out = out.resolve()
    if out.exists():
        shutil.rmtree(out)
    (out / "chapters").mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="labbook-course-") as tmp:
        root = Path(tmp)
        for name in names:
            course.write_source(root, chapters.BOOK_DIR / f"{name}.ipynb")
            released = course.generate(root, name)
            notebook = nbformat.read(released, as_version=4)
            notebook.metadata["labbook"] = {"edition": "student", "chapter": name}
            write_pair(notebook, out / "chapters", name)
    shutil.copytree(
        REPO_ROOT / "labutils",
        out / "labutils",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    (out / "pyproject.toml").write_text(student_pyproject())
    (out / "environment.yml").write_text(student_environment())
    (out / "jupytext.toml").write_text(
        f'formats = "ipynb,py:percent"\nnotebook_metadata_filter = "-all"\n'
        f'cell_metadata_filter = "{PAIRED_METADATA}"\n'
    )
    (out / "README.md").write_text(STUDENT_README.format(chapters=", ".join(names)))
    (out / "data").mkdir()
    (out / "data" / "README.md").write_text(DATA_README)
    archive = (
        Path(shutil.make_archive(str(out), "zip", root_dir=out.parent, base_dir=out.name))
        if zip_it
        else None
    )
    return {"folder": out, "zip": archive, "chapters": names}


def forbidden_texts(notebook: NotebookNode) -> list[str]:
    """Return every line no handout may contain: solution code, answers and hidden tests of an instructor notebook."""
    texts = []
    for cell in notebook.cells:
        if inventory.is_answer_cell(cell):
            texts += [line.strip() for line in cell.source.splitlines() if line.strip()]
        elif cell.cell_type == "code":
            inside = False
            for line in cell.source.splitlines():
                if line.strip() in (
                    inventory.BEGIN_SOLUTION,
                    inventory.END_SOLUTION,
                    HIDDEN_BEGIN,
                    HIDDEN_END,
                ):
                    inside = line.strip() in (inventory.BEGIN_SOLUTION, HIDDEN_BEGIN)
                elif inside and line.strip():
                    texts.append(line.strip())
    return texts
