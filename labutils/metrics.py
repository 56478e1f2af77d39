"""Metrics that compare samples with data: distances between distributions."""

from __future__ import annotations

import numpy as np
import torch
from scipy import integrate, stats


def wasserstein_1d(
    samples_a: torch.Tensor | np.ndarray, samples_b: torch.Tensor | np.ndarray
) -> float:
    """Return the Wasserstein-1 (earth mover's) distance between two 1D samples (scipy)."""
    a = np.asarray(torch.as_tensor(samples_a).detach().cpu(), dtype=np.float64).ravel()
    b = np.asarray(torch.as_tensor(samples_b).detach().cpu(), dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError("wasserstein_1d needs two non-empty samples.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(
            "wasserstein_1d: a sample contains NaN or infinity (did training diverge?)."
        )
    return float(stats.wasserstein_distance(a, b))


def jensen_shannon_1d(p, q, lower: float, upper: float) -> float:
    """Return JSD(p || q) in nats for two 1D densities (callables), by numerical integration on [lower, upper]."""

    def half_kl(x: float, a, b) -> float:
        pa, pm = a(x), 0.5 * (a(x) + b(x))
        return 0.0 if pa <= 0 else float(pa * np.log(pa / pm))

    kl_pm = integrate.quad(half_kl, lower, upper, args=(p, q), limit=200)[0]
    kl_qm = integrate.quad(half_kl, lower, upper, args=(q, p), limit=200)[0]
    return 0.5 * (kl_pm + kl_qm)
