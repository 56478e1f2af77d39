"""Toy distributions for the first chapters: 1D Gaussians and mixtures, and a 2D ring of Gaussians."""

from __future__ import annotations

import math

import numpy as np
import torch


def sample_gaussian_1d(
    n: int, mean: float = 4.0, std: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw n samples (n, 1) from the 1D Gaussian N(mean, std^2)."""
    return mean + std * torch.randn(n, 1, generator=generator)


def sample_mixture_1d(
    n: int,
    means: tuple[float, ...] = (-2.0, 2.0),
    std: float = 0.3,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw n samples (n, 1) from an equal-weight mixture of 1D Gaussians with a shared std."""
    component = torch.randint(len(means), (n,), generator=generator)
    centres = torch.tensor(means, dtype=torch.float32)[component]
    return (centres + std * torch.randn(n, generator=generator)).unsqueeze(1)


def gaussian_pdf(x: np.ndarray | torch.Tensor, mean: float, std: float) -> np.ndarray:
    """Return the density of N(mean, std^2) at x, as a NumPy array."""
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def mixture_pdf(x: np.ndarray | torch.Tensor, means: tuple[float, ...], std: float) -> np.ndarray:
    """Return the density of the equal-weight mixture of N(m, std^2) at x."""
    return sum(gaussian_pdf(x, m, std) for m in means) / len(means)


def ring_centres(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """Return the (n_modes, 2) centres of the ring of Gaussians, evenly spaced on a circle."""
    angles = torch.arange(n_modes, dtype=torch.float32) * (2 * math.pi / n_modes)
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def sample_ring(
    n: int,
    n_modes: int = 8,
    radius: float = 2.0,
    std: float = 0.02,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw n points (n, 2) from the ring of n_modes equal-weight Gaussians of standard deviation std."""
    centres = ring_centres(n_modes, radius)
    component = torch.randint(n_modes, (n,), generator=generator)
    return centres[component] + std * torch.randn(n, 2, generator=generator)


def mode_statistics(
    samples: torch.Tensor,
    centres: torch.Tensor,
    std: float,
    n_std: float = 3.0,
    min_share: float = 0.01,
) -> dict[str, float]:
    """Measure mode coverage: which centres get samples within n_std*std, and the share of such good samples."""
    if samples.ndim == 1:
        samples = samples.unsqueeze(1)
    if centres.ndim == 1:
        centres = centres.unsqueeze(1)
    if samples.shape[1] != centres.shape[1]:
        raise ValueError(
            f"mode_statistics: samples have dimension {samples.shape[1]} but centres {centres.shape[1]}."
        )
    distances = torch.cdist(samples.float().cpu(), centres.float().cpu())
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= n_std * std
    counts = torch.bincount(nearest[good], minlength=len(centres)).float()
    share_per_mode = counts / len(samples)
    return {
        "modes_covered": int((share_per_mode >= min_share).sum()),
        "n_modes": len(centres),
        "high_quality_share": float(good.float().mean()),
        "share_per_mode": [round(float(s), 4) for s in share_per_mode],
    }
