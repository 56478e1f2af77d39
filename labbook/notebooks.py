"""The book's main job: sync each chapter's .ipynb from its .py source and execute it, refreshing the outputs.

labbook execute            # every chapter, full profile (the committed outputs)
labbook execute 02         # chapters whose name starts with 02
labbook check              # fail if a .py / .ipynb pair is out of sync
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import datetime
from pathlib import Path

import jupytext
import nbformat

from .chapters import chapter_sources  # noqa: F401  (the toc decides what a chapter is)


def cell_sources(path: Path) -> list[tuple[str, str]]:
    """Return the (cell type, source) of every cell of a notebook or a py:percent file, whitespace-trimmed."""
    notebook = jupytext.read(path)
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def out_of_sync(source: Path) -> str | None:
    """Return why source.py and its .ipynb twin differ (missing, or the first differing cell), or None."""
    twin = source.with_suffix(".ipynb")
    if not twin.exists():
        return f"{twin.name} is missing: run `labbook execute {source.stem[:2]}`"
    a, b = cell_sources(source), cell_sources(twin)
    for index, (cell_a, cell_b) in enumerate(zip(a, b)):
        if cell_a != cell_b:
            return f"cell {index} differs ({cell_a[0]}: {cell_a[1][:60]!r} vs {cell_b[1][:60]!r})"
    if len(a) != len(b):
        return f"{source.name} has {len(a)} cells but {twin.name} has {len(b)}"
    return None


def source_hash(path: Path) -> str:
    """Return a hash of a notebook's or py:percent file's cell sources (what the outputs were computed from)."""
    return hashlib.sha256(json.dumps(cell_sources(path)).encode()).hexdigest()


def sync(source: Path) -> Path:
    """Write source.py's cells into its .ipynb twin, keeping the outputs of unchanged cells (jupytext --update)."""
    twin = source.with_suffix(".ipynb")
    notebook = jupytext.read(source)
    if twin.exists():
        previous = nbformat.read(twin, as_version=4)
        notebook = jupytext.combine.combine_inputs_with_outputs(
            notebook, previous, fmt="py:percent"
        )
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    notebook.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nbformat.write(notebook, twin)
    return twin


def slowest_cells(notebook: nbformat.NotebookNode, n: int = 5) -> list[tuple[float, int]]:
    """Return (seconds, cell index) of the n slowest code cells, from nbclient's execution timestamps."""
    times = []
    for index, cell in enumerate(notebook.cells):
        stamps = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            begin, end = (
                datetime.fromisoformat(stamps[k].replace("Z", "+00:00"))
                for k in ("iopub.execute_input", "shell.execute_reply")
            )
            times.append(((end - begin).total_seconds(), index))
    return sorted(times, reverse=True)[:n]


def execute(notebook_path: Path, timeout_s: int = 3600) -> float:
    """Execute a notebook in place in its folder (with the current LABBOOK_* settings); return the seconds taken."""
    from nbclient import NotebookClient

    notebook = nbformat.read(notebook_path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout_s,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(notebook_path.parent)}},
    )
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    print(
        "  slowest cells: " + ", ".join(f"{s:.1f} s (cell {i})" for s, i in slowest_cells(notebook))
    )
    for cell in notebook.cells:  # keep the committed notebooks lean and their diffs readable
        cell.metadata.pop("execution", None)
    notebook.metadata.setdefault("labbook", {}).update(
        {
            "executed_source_sha256": hashlib.sha256(
                json.dumps([(c.cell_type, c.source.strip()) for c in notebook.cells]).encode()
            ).hexdigest(),
            "profile": os.environ.get("LABBOOK_PROFILE", "full"),
        }
    )  # other keys (e.g. the edition) are kept
    nbformat.write(notebook, notebook_path)
    return seconds
