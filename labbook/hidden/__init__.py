"""Hidden checks: instructor-only tests that grading runs on every submission, each aimed at a bug people make.

They are never handed out: the handout ships `labutils` (the visible checkers) but not `labbook`. In the graded
notebook, each hidden check is its own nbgrader test cell (one point, unless the check says otherwise):

    ### BEGIN HIDDEN TESTS
    import labbook.hidden
    labbook.hidden.run("01_minimax", "unequal_batches", discriminator_loss)
    ### END HIDDEN TESTS

A check receives the student's object (a function, usually) and raises `HiddenCheckFailed` with a message that
says what is wrong, without showing the check's code; `run` turns that into the AssertionError that nbgrader
records, and the feedback shows the check's name and message only.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import pkgutil
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch


class HiddenCheckFailed(Exception):
    """Raised by a hidden check to say what is wrong with a submission (the message goes into the feedback)."""


@dataclass(frozen=True)
class HiddenCheck:
    """One hidden check: which exercise it belongs to, what it receives, the bug it is aimed at, and its body."""

    exercise: int  # the exercise number in its chapter
    name: str  # short snake_case name, unique in the chapter (part of the nbgrader grade id)
    target: str  # the notebook name of the object the check receives, e.g. "discriminator_loss"
    bug: str  # one line for instructors: the real bug this check catches
    body: Callable[[Any], None]  # raises HiddenCheckFailed(message) when the submission has the bug
    points: int = 1


def registry() -> dict[str, list[HiddenCheck]]:
    """Return every chapter's hidden checks: {chapter: [HiddenCheck, ...]}, from the modules of this package."""
    checks: dict[str, list[HiddenCheck]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        chapter = getattr(module, "CHAPTER", None)
        if chapter:
            checks[chapter] = list(module.CHECKS)
    return checks


def find(chapter: str, name: str) -> HiddenCheck:
    """Return the hidden check `name` of `chapter`, or raise KeyError naming the known ones."""
    checks = registry().get(chapter, [])
    for check in checks:
        if check.name == name:
            return check
    raise KeyError(
        f"chapter {chapter!r} has no hidden check {name!r} (it has: {', '.join(c.name for c in checks)})"
    )


def outcome(chapter: str, name: str, target: Any) -> str | None:
    """Run one hidden check on a submission's object; return None when it passes, else the message."""
    check = find(chapter, name)
    try:
        with torch.random.fork_rng(
            devices=range(torch.cuda.device_count())
        ):  # leave the notebook's RNG alone
            check.body(target)
    except HiddenCheckFailed as err:
        return str(err)
    except NotImplementedError:
        return "not implemented yet."
    except Exception as err:  # the student's code crashed on the check's input: say where, without the check's code
        frames = [
            f
            for f in traceback.extract_tb(err.__traceback__)
            if "labbook" not in f.filename
            and "labutils" not in f.filename
            and "-packages" not in f.filename
        ]
        where = f" (in {frames[-1].name}, line {frames[-1].lineno})" if frames else ""
        return f"your code raised {type(err).__name__}: {err}{where}"
    return None


def run(chapter: str, name: str, target: Any) -> None:
    """The hidden test cell's call: raise AssertionError('hidden check NAME: message') unless the check passes."""
    message = outcome(chapter, name, target)
    if message is not None:
        raise AssertionError(f"hidden check {name}: {message}")
    print(f"[pass] hidden check {name}")


def pristine_checks() -> ModuleType:
    """Return a fresh copy of the visible checkers, loaded from labutils/checks/ (whatever the notebook patched)."""
    import labutils

    folder = Path(next(iter(labutils.__path__))) / "checks"
    spec = importlib.util.spec_from_file_location(
        "labbook_pristine_checks", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = (
        module  # its own submodules (relative imports) load fresh under this name
    )
    try:
        spec.loader.exec_module(module)
    finally:
        for name in [n for n in sys.modules if n == spec.name or n.startswith(spec.name + ".")]:
            del sys.modules[name]
    return module


def silenced() -> contextlib.AbstractContextManager:
    """Return a context that swallows printed output (the pristine re-run of a checker prints nothing)."""
    return contextlib.redirect_stdout(io.StringIO())
