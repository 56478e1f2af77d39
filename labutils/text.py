"""What labutils prints, wrapped in a notebook to the rendered book's code column (79 characters).

Outside a notebook (scripts, the unit tests, a terminal) lines are printed whole, one message per line.
"""

from __future__ import annotations

import textwrap

WIDTH = 79  # the book's code column shows about 78 characters; longer lines scroll sideways


def _in_notebook() -> bool:
    """Return whether the code runs in an IPython kernel (a notebook), where output is read in the book."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def say(text: str = "") -> None:
    """Print text; in a notebook, each line wrapped at 79 characters, continuations indented."""
    if not _in_notebook():
        print(text)
        return
    for line in str(text).splitlines() or [""]:
        indent = line[: len(line) - len(line.lstrip())]
        print(
            textwrap.fill(
                line,
                width=WIDTH,
                subsequent_indent=indent + "    ",
                break_on_hyphens=False,
                replace_whitespace=False,
                drop_whitespace=True,
            )
            if len(line) > WIDTH
            else line
        )
