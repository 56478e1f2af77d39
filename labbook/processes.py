"""A child process with a wall-clock limit: past it, the whole process group (a notebook's kernel too) is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any


def run_bounded(
    command: list[str], env: dict[str, str], limit: float, cwd: Path | None = None
) -> dict[str, Any]:
    """Run command for at most limit seconds; return its returncode (None if killed), seconds and output."""
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=limit)
        returncode = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its children too: they share its process group
        output, _ = process.communicate()
        returncode = None
    return {"returncode": returncode, "seconds": time.monotonic() - started, "output": output or ""}
