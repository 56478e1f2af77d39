"""The prose's numbers and claims: a computed value glued into the text, a sentence checked against the results.

`glue` stores a value under a name in the notebook's outputs, in the format of myst-nb's `glue`, so the rendered
book prints it where the text says {glue:text}`name:.1f`; the number in the sentence is then the number the
run computed. `claim` records a sentence about a result and whether the numbers bear it out; the results
summary lists every claim, and in the full profile one that does not hold is reported there and fails the
test of the committed outputs.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .settings import current

GLUE_PREFIX = (
    "application/papermill.record/"  # myst-nb's mime prefix for glued values that are not shown
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _plain(value: Any) -> Any:
    """Return value as a plain Python number when it is a tensor, numpy scalar or number."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    return value


def glue(name: str, value: Any) -> Any:
    """Store value under name for the prose ({glue:text}`name` in a markdown cell); return the value."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"glue: the name {name!r} must be an identifier (letters, digits, _), e.g. 'dcgan_fd'."
        )
    value = _plain(value)
    run = current()
    if isinstance(value, float) and not math.isfinite(value) and run.profile == "full":
        raise ValueError(
            f"glue: {name} is {value}; a sentence cannot show it. Check the computation above."
        )
    run.glued[name] = value
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython is a dependency
        return value
    if get_ipython() is not None:
        display(
            {GLUE_PREFIX + "text/plain": repr(value)},
            raw=True,
            metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}},
        )
    return value


def claim(sentence: str, holds: Any) -> None:
    """Record a sentence about a result and whether the numbers bear it out (shown in the results summary).

    It returns nothing, so that a claim closing a cell displays nothing in the book.
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError(
            "claim: write the sentence the prose makes, e.g. claim('covers all 8 modes', n == 8)."
        )
    holds = _plain(holds)
    if not isinstance(holds, bool):
        raise TypeError(
            f"claim({sentence!r}): the condition is {type(holds).__name__}, not a bool; write a comparison, "
            "for example covered == 8."
        )
    current().claims[sentence.strip()] = holds
