"""The chapters of the book, found in one place: the table of contents, chapters/_toc.yml."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from labutils.settings import REPO_ROOT

BOOK_DIR = REPO_ROOT / "chapters"
CHAPTER_FILE = re.compile(r"^\d\d_[A-Za-z0-9_]+$")


def book_config(book_dir: Path = BOOK_DIR) -> dict[str, Any]:
    """Return the book's _config.yml as a dict."""
    return yaml.safe_load((book_dir / "_config.yml").read_text())


def toc_files(book_dir: Path = BOOK_DIR) -> list[str]:
    """Return every file of the table of contents (_toc.yml), in order, without suffixes."""
    toc = yaml.safe_load((book_dir / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        """Collect the files of entries and of their sections."""
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


def toc_chapters(book_dir: Path = BOOK_DIR) -> list[str]:
    """Return the chapters of the table of contents (the NN_topic files), in order."""
    return [name for name in toc_files(book_dir) if CHAPTER_FILE.match(Path(name).name)]


def select(prefixes: list[str] | None = None, book_dir: Path = BOOK_DIR) -> list[str]:
    """Return the toc's chapters whose name starts with one of the prefixes (all of them without prefixes)."""
    names = toc_chapters(book_dir)
    if prefixes:
        names = [n for n in names if any(Path(n).name.startswith(p) for p in prefixes)]
    return names


def chapter_sources(prefixes: list[str] | None = None, book_dir: Path = BOOK_DIR) -> list[Path]:
    """Return the py:percent sources (chapters/NN_topic.py) of the selected chapters, in toc order."""
    return [book_dir / f"{name}.py" for name in select(prefixes, book_dir)]


def chapter_notebooks(prefixes: list[str] | None = None, book_dir: Path = BOOK_DIR) -> list[Path]:
    """Return the instructor notebooks (chapters/NN_topic.ipynb) of the selected chapters, in toc order."""
    return [book_dir / f"{name}.ipynb" for name in select(prefixes, book_dir)]
