"""Trained models that persist: load a finished run instead of retraining, resume an interrupted one.

Usage in a notebook (the training loop itself stays in the notebook):

    run = lu.start_run("vanilla", config=config, state={"generator": G, "discriminator": D,
                       "opt_G": opt_G, "opt_D": opt_D}, total_steps=n_steps, code=[train_step])
    for step in lu.training_steps(run, desc="vanilla GAN"):
        ...                                   # one training step
        run.history["loss_D"].append(loss_D)  # everything the figures need goes into run.history
"""

from __future__ import annotations

import ast
import copy
import hashlib
import inspect
import json
import random
import re
import sys
import sysconfig
import textwrap
import time
import types
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .data import data_fingerprints
from .files import atomic_write
from .settings import Settings, current
from .text import say

FORMAT_VERSION = 2  # 2: the key hashes the code's meaning, the code it reaches and the data
_ADDRESS = re.compile(
    r" at 0x[0-9a-fA-F]+"
)  # memory addresses in default reprs differ between kernels


@dataclass
class TrainingRun:
    """The state of one training run: where its checkpoint lives, the step reached and the recorded history."""

    name: str
    path: Path
    key: str
    state: dict[str, Any]
    total_steps: int
    every_s: float
    step: int = 0
    history: defaultdict = field(default_factory=lambda: defaultdict(list))
    status: str = "trained"  # "trained" (from scratch), "resumed" or "loaded"
    trained_seconds: float = 0.0
    trained_on: str = ""
    trained_at: str = ""
    last_save: float = field(default_factory=time.perf_counter)
    record: dict = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """True when every step has been trained."""
        return self.step >= self.total_steps


def _source(obj: Any) -> str:
    """Return the source code of a function or class (for classes defined in a notebook: their methods)."""
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        if inspect.isclass(obj):
            bases = ", ".join(b.__qualname__ for b in obj.__bases__)
            parts = [f"class {obj.__qualname__}({bases})"]
            for attr, value in sorted(vars(obj).items()):
                value = (
                    value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                )
                if inspect.isfunction(value):
                    parts.append(_meaning(value))
                elif not attr.startswith("__"):
                    parts.append(f"{attr} = {_ADDRESS.sub('', repr(value))}")
            return "\n".join(parts)
        return _ADDRESS.sub("", repr(obj))


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """Remove the docstring of every module, class and function of a syntax tree (in place)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def _meaning(obj: Any) -> str:
    """Return what a function or class does, not how its text looks: its syntax tree without docstrings."""
    return _meaning_of_text(_source(obj))


def _meaning_of_text(source: str) -> str:
    """Return the syntax tree of some source without docstrings (comments never reach it), or the text itself."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:  # a class rebuilt from its methods, or a repr: already free of comments
        return source
    return ast.dump(_strip_docstrings(tree), include_attributes=False)


_LIBRARY_DIRS = tuple(
    sorted(
        {str(Path(p).resolve()) for p in sysconfig.get_paths().values() if p}
        | {str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    )
)


def _is_course_code(obj: Any) -> bool:
    """True for the functions and classes of the course (notebook, labutils, any project file), not libraries'."""
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    if module is None:
        return False
    if module.__name__ == "__main__" or module.__name__.split(".")[0] == "labutils":
        return True
    path = getattr(module, "__file__", None)
    return bool(path) and not str(Path(path).resolve()).startswith(_LIBRARY_DIRS)


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    """Yield a code object and every code object nested in it (inner functions, comprehensions, lambdas)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


_PLAIN = (int, float, str, bool, type(None))


def _is_plain(value: Any) -> bool:
    """True for a setting-like value: a number, string, bool or None, or a tuple or list of them."""
    if isinstance(value, (tuple, list)):
        return len(value) <= 64 and all(isinstance(v, _PLAIN) for v in value)
    return isinstance(value, _PLAIN)


def _referenced(obj: Any) -> tuple[list[Any], dict[str, str]]:
    """Return the course functions and classes a function or class refers to by name, and the settings it reads.

    The settings are the plain global values (numbers, strings, tuples of them) that a function reads by
    name, so that training code which reads a notebook variable directly changes its key with the value.
    """
    if inspect.isclass(obj):
        members = [
            m.fget if isinstance(m, property) else getattr(m, "__func__", m)
            for m in vars(obj).values()
        ]
        bases = [b for b in obj.__bases__ if _is_course_code(b)]
        return bases + [m for m in members if inspect.isfunction(m)], {}
    if not inspect.isfunction(obj):
        return [], {}
    names = {n for code in _code_objects(obj.__code__) for n in code.co_names}
    found = [c.cell_contents for c in obj.__closure__ or () if _has_contents(c)]
    values = {}
    for name in names:
        if name not in obj.__globals__:
            continue
        value = obj.__globals__[name]
        if inspect.ismodule(value) and value.__name__.split(".")[0] == "labutils":
            found += [getattr(value, attr) for attr in names if hasattr(value, attr)]
        elif _is_plain(value) and not name.startswith("_"):  # private ones are the machinery's
            values[name] = repr(value)
        else:
            found.append(value)
    course = [
        v for v in found if (inspect.isfunction(v) or inspect.isclass(v)) and _is_course_code(v)
    ]
    return course, values


def _has_contents(cell: types.CellType) -> bool:
    """True when a closure cell holds a value (an unfilled cell raises ValueError)."""
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


class _Cell:
    """The top-level code of a notebook cell that opened a run: its source and the globals it refers to."""

    def __init__(self, frame: types.FrameType) -> None:
        try:
            self.source = inspect.getsource(frame.f_code)
        except (OSError, TypeError):
            self.source = ""
        names = {n for code in _code_objects(frame.f_code) for n in code.co_names}
        self.referenced = [frame.f_globals[n] for n in sorted(names) if n in frame.f_globals]
        self.values = {  # the settings the cell reads by name, with their values
            n: repr(frame.f_globals[n])
            for n in sorted(names)
            if n in frame.f_globals and _is_plain(frame.f_globals[n]) and not n.startswith("_")
        }


def _caller(frame: types.FrameType) -> list[Any]:
    """Return the training code that called start_run: its function, or the cell's source and what it calls."""
    function = frame.f_globals.get(frame.f_code.co_name)
    if inspect.isfunction(function) and function.__code__ is frame.f_code:
        return [function]
    cell = _Cell(frame)
    found = [
        v
        for v in cell.referenced
        if (inspect.isfunction(v) or inspect.isclass(v)) and _is_course_code(v)
    ]
    return [*found, cell]


def code_meaning(entries: Sequence[Any]) -> dict[str, str]:
    """Return the meaning of the entries and of every course function and class they reach, in a stable order."""
    seen: dict[int, str] = {}
    settings: dict[str, str] = {}
    todo = [e for e in entries if inspect.isfunction(e) or inspect.isclass(e)]
    others = [e for e in entries if not (inspect.isfunction(e) or inspect.isclass(e))]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen[id(obj)] = f"{obj.__qualname__}: {_meaning(obj)}"  # not where it is defined
        found, values = _referenced(obj)
        todo += found
        settings.update(values)
    meanings = {f"{i}": text for i, text in enumerate(sorted(set(seen.values())))}
    meanings["<settings read by name>"] = json.dumps(dict(sorted(settings.items())))
    for index, other in enumerate(others):
        if isinstance(other, _Cell):  # the cell that opened the run, by meaning too
            meanings[f"<cell {index}>"] = _meaning_of_text(other.source) + json.dumps(other.values)
        else:  # e.g. a functools.partial: its repr without addresses
            meanings[f"<object {index}>"] = _ADDRESS.sub("", repr(other))
    return meanings


def _jsonable(value: Any) -> Any:
    """Return a JSON-serialisable version of a config value (tuples as lists, other objects by repr)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, torch.device):
        return "device"  # the device never changes the key: a GPU checkpoint is valid on a CPU
    return repr(value)


def settings_key(
    settings: Settings,
    name: str,
    config: dict,
    state: dict,
    total_steps: int,
    code: Sequence[Any] = (),
) -> str:
    """Return the hash of everything that changes a run's result: settings, config, code, data, versions.

    The code is hashed by meaning (syntax trees without docstrings; comments never count): the models'
    classes, `code` (the training function, found by start_run), and every function and class of the
    notebook or of labutils that they refer to, followed name by name. The data is the fingerprint of
    every dataset loaded so far (labutils.data.data_fingerprints).
    """
    modules = {
        k: repr(v) for k, v in state.items() if isinstance(v, torch.nn.Module)
    }  # the architecture as printed
    classes = [
        type(m) for v in state.values() if isinstance(v, torch.nn.Module) for m in v.modules()
    ]
    others = {
        k: [
            type(v).__qualname__,
            _jsonable(getattr(v, "defaults", None)),
        ]  # optimisers: lr, betas...
        for k, v in state.items()
        if not isinstance(v, torch.nn.Module)
    }
    payload = {
        "format": FORMAT_VERSION,
        "chapter": settings.chapter,
        "run": name,
        "profile": settings.profile,
        "seed": settings.seed,
        "config": _jsonable(config),
        "total_steps": total_steps,
        "modules": modules,
        "optimisers_and_schedulers": others,
        "code": code_meaning([*classes, *code, training_steps]),
        "data": data_fingerprints(),
        "torch": ".".join(torch.__version__.split(".")[:2]),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _rng_states() -> dict[str, Any]:
    """Capture every random state (Python, NumPy, torch CPU and CUDA) as torch.load(weights_only=True) accepts."""
    np_state = np.random.get_state()
    states = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if (
        torch.cuda.is_available() and torch.cuda.is_initialized()
    ):  # never initialise CUDA on a CPU run
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    """Restore the random states captured by _rng_states."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, *rest = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(states["torch"])
    if (
        "cuda" in states
        and torch.cuda.is_available()
        and len(states["cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(states["cuda"])


def save(run: TrainingRun) -> None:
    """Write the run's checkpoint atomically: a temporary file, flushed, then renamed over the old one."""
    payload = {
        "format": FORMAT_VERSION,
        "key": run.key,
        "name": run.name,
        "step": run.step,
        "total_steps": run.total_steps,
        "state": {k: v.state_dict() for k, v in run.state.items()},
        "history": dict(run.history),
        "rng": _rng_states(),
        "trained_seconds": run.trained_seconds,
        "trained_on": run.trained_on,
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    atomic_write(run.path, lambda handle: torch.save(payload, handle))
    run.trained_at = payload["trained_at"]
    run.last_save = time.perf_counter()


def _load(run: TrainingRun) -> str | None:
    """Load the checkpoint into the run's objects; return None on success, or why it cannot be used."""
    try:
        payload = torch.load(run.path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, garbage bytes, unpickling error...
        return f"it is unreadable, probably truncated or corrupt ({type(err).__name__})"
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        return "it was written by another version of labutils"
    if payload.get("key") != run.key:
        return f"its settings hash {str(payload.get('key'))[:12]} does not match these settings ({run.key[:12]})"
    if set(payload.get("state", {})) != set(run.state):
        return f"it holds {sorted(payload.get('state', {}))}, not {sorted(run.state)}"
    backup = {k: copy.deepcopy(v.state_dict()) for k, v in run.state.items()}
    try:
        step, history = int(payload["step"]), defaultdict(list, payload["history"])
        trained = (
            float(payload["trained_seconds"]),
            str(payload["trained_on"]),
            str(payload["trained_at"]),
        )
        for k, obj in run.state.items():
            obj.load_state_dict(payload["state"][k])
        _set_rng_states(payload["rng"])
    except Exception as err:
        for k, obj in run.state.items():
            obj.load_state_dict(backup[k])
        return f"its contents do not fit the models ({type(err).__name__}: {str(err)[:120]})"
    run.step, run.history = step, history
    run.trained_seconds, run.trained_on, run.trained_at = trained
    return None


def start_run(
    name: str,
    config: dict,
    state: dict[str, Any],
    total_steps: int,
    code: Sequence[Any] = (),
    every_s: float = 60.0,
    settings: Settings | None = None,
) -> TrainingRun:
    """Open a training run: load it if it finished before, resume it if it was interrupted, else start it."""
    settings = settings or current()
    if total_steps < 0:
        raise ValueError(f"start_run: total_steps must be >= 0, got {total_steps}.")
    bad = [
        k
        for k, v in state.items()
        if not (hasattr(v, "state_dict") and hasattr(v, "load_state_dict"))
    ]
    if bad:
        raise TypeError(
            f"start_run: state entries {bad} have no state_dict/load_state_dict; pass models, "
            "optimisers and schedulers only."
        )
    key = settings_key(
        settings, name, config, state, total_steps, [*code, *_caller(sys._getframe(1))]
    )
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "run"
    path = settings.checkpoint_dir / settings.chapter / f"{slug}-{key[:16]}.pt"
    run = TrainingRun(
        name=name,
        path=path,
        key=key,
        state=state,
        total_steps=total_steps,
        every_s=every_s,
        trained_on=str(settings.device),
    )
    where = (
        path.relative_to(settings.checkpoint_dir)
        if path.is_relative_to(settings.checkpoint_dir)
        else path
    )
    if settings.retrain:
        say(f"[checkpoint] {name}: LABBOOK_RETRAIN=1, training from scratch ({total_steps} steps).")
    elif path.exists():
        problem = _load(run)
        if problem is None and run.finished:
            run.status = "loaded"
            say(
                f"[checkpoint] {name}: loaded {where} instead of training: {run.step} steps trained "
                f"{run.trained_at} on {run.trained_on} in {run.trained_seconds:.1f} s."
            )
        elif problem is None:
            run.status = "resumed"
            say(
                f"[checkpoint] {name}: resuming an interrupted run at step {run.step} of {total_steps} "
                f"(checkpoint of {run.trained_at})."
            )
        else:
            say(f"[checkpoint] {name}: ignoring {where}: {problem}; training from scratch.")
    else:
        say(
            f"[checkpoint] {name}: no checkpoint for these settings yet; training {total_steps} steps "
            f"(saved every {every_s:.0f} s to {where})."
        )
    if not run.finished:
        run.trained_on = str(settings.device)
    run.record = {"name": name, "status": run.status, "summary": ""}
    settings.runs[:] = [
        r for r in settings.runs if r["name"] != name
    ]  # a cell run again replaces its entry
    settings.runs.append(run.record)
    _summarise(run)
    return run


def _summarise(run: TrainingRun) -> None:
    """Update the line that the run record prints for this run."""
    run.record["status"] = run.status
    run.record["summary"] = (
        f"{run.step}/{run.total_steps} steps, {run.trained_seconds:.1f} s of training "
        f"on {run.trained_on}, saved {run.trained_at or 'not yet'}"
    )


def training_steps(run: TrainingRun, desc: str | None = None) -> Iterator[int]:
    """Yield the step numbers still to train, with a progress bar; checkpoint every `every_s` seconds and at the end."""
    if run.finished:
        return
    bar = tqdm(
        range(run.step, run.total_steps),
        initial=run.step,
        total=run.total_steps,
        desc=desc or run.name,
        mininterval=0.5,
    )
    for step in bar:
        started = time.perf_counter()
        yield step
        run.trained_seconds += time.perf_counter() - started
        run.step = step + 1
        if run.finished or time.perf_counter() - run.last_save >= run.every_s:
            save(run)
    _summarise(run)
