"""The chapters read like good course notebooks: short code cells, code and printed lines within 79 characters.

Measured as the issue on code craft defines it: lines between `# %%` markers, blank lines at the ends excluded.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from labbook import chapters

CHAPTERS = chapters.chapter_sources()
IDS = [c.stem[:2] for c in CHAPTERS]
WIDTH = 79  # the rendered book's code column shows about 78 characters
MAX_LINES, P90_LINES = 40, 25


def code_cells(source) -> list[list[str]]:
    """Return the code cells of a py:percent source as lists of lines, blank lines at the ends removed."""
    cells = re.split(r"^# %%.*$", source.read_text(), flags=re.M)
    headers = re.findall(r"^# %%.*$", source.read_text(), flags=re.M)
    result = []
    for header, body in zip(headers, cells[1:]):
        if "[markdown]" in header:
            continue
        lines = body.strip("\n").splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        result.append(lines)
    return result


def percentile(values: list[int], q: float) -> float:
    """Return the q-quantile of values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@pytest.mark.parametrize("source", CHAPTERS, ids=IDS)
def test_code_cells_are_short(source):
    lengths = [len(cell) for cell in code_cells(source)]
    longest = max(lengths)
    assert longest <= MAX_LINES, (
        f"{source.name}: a code cell of {longest} lines (at most {MAX_LINES})"
    )
    assert percentile(lengths, 0.9) <= P90_LINES, (
        f"{source.name}: 90th percentile {percentile(lengths, 0.9)} lines (at most {P90_LINES})"
    )


@pytest.mark.parametrize("source", CHAPTERS, ids=IDS)
def test_code_lines_fit_the_books_code_column(source):
    long = [line for cell in code_cells(source) for line in cell if len(line) > WIDTH]
    assert not long, (
        f"{source.name}: {len(long)} code lines over {WIDTH} characters:\n" + "\n".join(long[:10])
    )


@pytest.mark.parametrize("source", CHAPTERS, ids=IDS)
def test_printed_lines_fit_the_books_code_column(source):
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    long = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts = [output.get("text", "")] if output.output_type == "stream" else []
            if output.output_type in ("execute_result", "display_data"):
                data = output.get("data", {})
                shown_otherwise = (
                    "text/html",
                    "image/png",
                    "application/vnd.jupyter.widget-view+json",
                )
                if not any(kind in data for kind in shown_otherwise):
                    texts.append(data.get("text/plain", ""))
            long += [line for text in texts for line in text.splitlines() if len(line) > WIDTH]
    long = [line for line in long if "\r" not in line]  # progress bars redraw in place
    assert not long, (
        f"{source.name}: {len(long)} printed lines over {WIDTH} characters:\n"
        + "\n".join(long[:10])
    )
