"""The prose's numbers: find result-like numbers typed into markdown instead of glued from the run.

A result number in a sentence (a distance, an accuracy, a share, a count of modes or classes, a time) must come
from the code, through `lu.glue` and {glue:text}`name:.2f` in the markdown, so that it cannot drift from the
outputs. Settings, equations, paper values and citations stay typed: written in maths ($\\beta_1 = 0.5$) or code
(`lr = 2e-4`), they are not scanned. What remains and is still not a result is listed in ALLOWED_FILE.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

ALLOWED_FILE = Path(__file__).with_name("typed_numbers_allowed.toml")

# Removed before scanning: maths, code, glue roles, links' targets, HTML comments and tags, references.
_STRIP = [
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"\$[^$\n]+\$"),
    re.compile(r"```.*?```", re.S),
    re.compile(r"\{glue(:\w+)?\}`[^`]*`"),
    re.compile(r"\{\w+(:\w+)?\}`[^`]*`"),  # other roles: {cite}`...`, {numref}`...`
    re.compile(r"`[^`\n]*`"),
    re.compile(r"\]\([^)]*\)"),
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"<[^>\n]+>"),
    re.compile(r"https?://\S+"),
    re.compile(r"^#+\s+\d+(?:\.\d+)*", re.M),  # a heading's number: ## 3.6 ...
]
_SECTION = re.compile(
    r"(?:[Ss]ections?|§|[Cc]hapters?|[Ff]igures?|[Tt]ables?|[Ee]quations?|[Ee]xercises?|[Ss]teps?)"
    r"\s+\d+(?:\.\d+)*(?:\s*(?:,|and|or|to|-|–|/)\s*\d+(?:\.\d+)*)*"
)
# What a result looks like when it is typed: a decimal, a percentage, "N of M", a time, a factor.
RESULT = re.compile(
    r"(?<![\w.])(?:"
    r"\d+(?:\.\d+)?\s?%"  # 42%, 4.5 %
    r"|\d[\d,]*\.\d+(?:\s?(?:s|seconds|minutes|x|×))?"  # 0.85, 84.9, 1.5x, 12.3 s
    r"|\d+ of \d+"  # 7 of 8 (modes, classes)
    r"|\d[\d,]* ?(?:s|seconds|minutes|min)\b"  # 470 s, 8 minutes
    r"|\d+(?:\.\d+)?\s?(?:x|×)(?=\W)"  # 3x faster
    r")(?![\w])"
)


@dataclass(frozen=True)
class TypedNumber:
    """One result-like number typed into a markdown cell, with the words around it."""

    where: str
    number: str
    context: str

    def __str__(self) -> str:
        return f"{self.where}: {self.number!r} in ...{self.context}..."


def scannable(markdown: str) -> str:
    """Return the markdown without what is never a result: maths, code, roles, links, tags, references."""
    text = markdown
    for pattern in _STRIP:
        text = pattern.sub(" ", text)
    text = _SECTION.sub(" ", text)
    text = re.sub(r"\((?:\d+\.\d+(?:\s*(?:,|and|-|–|/)\s*)?)+\)", " ", text)  # (6.7), (3.6, 3.7)
    return re.sub(r"(?<![\w.])\d+\.\d+(?:\.\d+)*(?=/\d)|(?<=/)\d+\.\d+", " ", text)  # 3.6/3.7


def typed_numbers(markdown: str, where: str) -> list[TypedNumber]:
    """Return every result-like number typed into markdown (outside maths, code, glue and references)."""
    text = scannable(markdown)
    found = []
    for match in RESULT.finditer(text):
        start, end = max(0, match.start() - 40), min(len(text), match.end() + 40)
        context = " ".join(text[start:end].split())
        found.append(TypedNumber(where, match.group(0), context))
    return found


def allowed(path: Path = ALLOWED_FILE) -> dict[str, list[str]]:
    """Return the allow-list: per document, the phrases whose typed numbers are not results."""
    with path.open("rb") as handle:
        table = tomllib.load(handle)
    return {document: list(entry.get("phrases", [])) for document, entry in table.items()}


def unexplained(found: list[TypedNumber], phrases: list[str]) -> list[TypedNumber]:
    """Return the typed numbers whose context contains none of the allowed phrases."""
    return [t for t in found if not any(phrase in t.context for phrase in phrases)]


GLUE_REFERENCE = re.compile(r"\{glue(?::\w+)?\}`(?:([\w.-]+)::)?([A-Za-z_]\w*)(?::[^`]*)?`")


def glue_references(markdown: str) -> list[tuple[str | None, str]]:
    """Return the (document or None, name) of every {glue}/{glue:text} reference in markdown."""
    return [(m.group(1), m.group(2)) for m in GLUE_REFERENCE.finditer(markdown)]


def glued_names(notebook) -> set[str]:
    """Return the names glued in a notebook's outputs (myst-nb's scrapbook metadata)."""
    names = set()
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if scrapbook:
                names.add(scrapbook["name"])
    return names


def markdown_cells(notebook) -> list[tuple[int, str]]:
    """Return (index, source) of a notebook's markdown cells."""
    return [(i, c.source) for i, c in enumerate(notebook.cells) if c.cell_type == "markdown"]


def report(path: Path) -> str:
    """Say, for one executed notebook, which typed numbers are unexplained, which glue names are missing, and
    which claims hold."""
    import nbformat

    from labutils.summary import SUMMARY_KEY

    notebook = nbformat.read(path, as_version=4)
    phrases = allowed().get(path.stem, [])
    lines = [f"{path.name}:"]
    typed = [
        t
        for i, source in markdown_cells(notebook)
        for t in unexplained(typed_numbers(source, f"cell {i}"), phrases)
    ]
    lines += [f"  typed number: {t}" for t in typed] or ["  no typed result numbers"]
    have = glued_names(notebook)
    missing = sorted(
        {name for _, source in markdown_cells(notebook) for _, name in glue_references(source)}
        - have
    )
    lines += [f"  glued in the prose but never computed: {name}" for name in missing]
    lines.append(f"  {len(have)} names glued")
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            summary = output.get("metadata", {}).get(SUMMARY_KEY)
            if summary:
                for c in summary.get("claims", []):
                    lines.append(
                        f"  claim {'holds' if c['holds'] else 'DOES NOT HOLD'}: {c['claim']}"
                    )
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    for argument in sys.argv[1:]:
        print(report(Path(argument)))
