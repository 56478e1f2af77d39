"""Export of each chapter's results: final samples (one .pt per model) and every reported number (metrics.json)."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .files import atomic_write
from .settings import Settings, current, device_description
from .text import say

DOMAINS = ("mnist", "fashion", "usps")


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Convert images in [-1, 1] to uint8 in [0, 255] (values outside are clipped)."""
    return ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def export_samples(
    model: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    domain: str,
    settings: Settings | None = None,
) -> Path:
    """Write a model's final samples to LABBOOK_RESULTS/<chapter>/<model>.pt and return the path."""
    settings = settings or current()
    if not re.fullmatch(r"[a-z0-9_]+", model):
        raise ValueError(
            f"export_samples: model name {model!r} must be lower case letters, digits and underscores."
        )
    if domain not in DOMAINS:
        raise ValueError(f"export_samples: domain {domain!r} must be one of {DOMAINS}.")
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(
            f"export_samples: images must have shape (N, 1, H, W), got {tuple(images.shape)}."
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"export_samples: labels must have shape ({len(images)},), got {tuple(labels.shape)}."
        )
    if not torch.isfinite(images).all():
        raise ValueError(
            f"export_samples: the images of {model!r} contain NaN or infinity; training diverged."
        )
    payload = {
        "images": to_uint8(images),
        "labels": labels.detach().cpu().long(),
        "meta": {
            "domain": domain,
            "model": model,
            "profile": settings.profile,
            "seed": settings.seed,
            "chapter": settings.chapter,
        },
    }
    path = settings.results_dir / settings.chapter / f"{model}.pt"
    atomic_write(path, lambda handle: torch.save(payload, handle))
    say(
        f"[results] {model}: {len(images)} samples of {domain} ({images.shape[-2]}x{images.shape[-1]}) -> {path}"
    )
    return path


def load_samples(path: str | Path) -> dict[str, Any]:
    """Read an exported samples file and check its format; raise ValueError saying what is wrong."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    problems = []
    if not isinstance(payload, dict) or not {"images", "labels", "meta"} <= set(payload):
        raise ValueError(f"{path}: expected a dict with keys images, labels, meta.")
    images, labels, meta = payload["images"], payload["labels"], payload["meta"]
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 1:
        problems.append(
            f"images must be uint8 (N, 1, H, W), got {images.dtype} {tuple(images.shape)}"
        )
    if labels.dtype != torch.int64 or labels.shape != (len(images),):
        problems.append(
            f"labels must be int64 ({len(images)},), got {labels.dtype} {tuple(labels.shape)}"
        )
    if meta.get("domain") not in DOMAINS:
        problems.append(f"meta['domain'] must be one of {DOMAINS}")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return payload


def _plain(value: Any) -> Any:
    """Turn tensors, NumPy values and tuples into plain JSON values (NaN becomes null)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_metrics(metrics: dict[str, Any], settings: Settings | None = None) -> Path:
    """Write every number the chapter reports, plus wall time, device and profile, to <chapter>/metrics.json."""
    settings = settings or current()
    document = {
        "chapter": settings.chapter,
        "profile": settings.profile,
        "device": device_description(settings.device),
        "seed": settings.seed,
        "wall_time_s": round(time.perf_counter() - settings.started, 1),
        "metrics": _plain(metrics),
        "claims": dict(
            settings.claims
        ),  # lu.claim: each sentence of the prose and whether it holds
        "glued": _plain(settings.glued),  # lu.glue: the values the prose shows
    }
    path = settings.results_dir / settings.chapter / "metrics.json"
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode()))
    say(f"[results] {len(metrics)} metrics -> {path}")
    return path
