"""Checkers of chapter 8 (what GANs learn): nearest-neighbour distances in chunks, the fade-in of growing."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ._harness import CheckFailed, _run_check

N_QUERIES, N_REFERENCES, FEATURES, CHUNK = 10, 7, 16, 4  # 10 = 4 + 4 + 2: the last chunk is partial
LOW_SHAPE = (3, 1, 7, 7)  # the chapter's first fade, 7 -> 14 (the hidden checks use other sizes)


def _points(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Return fixed queries (10, 16) and references (7, 16): random points, none close to another."""
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randn(N_QUERIES, FEATURES, generator=generator)
    return queries, torch.randn(N_REFERENCES, FEATURES, generator=generator)


def _squared(queries: torch.Tensor, references: torch.Tensor, cross: float = -2.0) -> torch.Tensor:
    """Return the (N, M) matrix ||q||^2 + cross * q.r + ||r||^2 in float64 (cross = -2: squared distances)."""
    q, r = queries.double(), references.double()
    return (q**2).sum(1, keepdim=True) + cross * q @ r.T + (r**2).sum(1)


def _distance_shape_hint(shape: tuple[int, ...], n: int, m: int, chunk: int) -> str:
    """Return the diagnosis of a result of the wrong shape, or a generic one."""
    if shape == (n - n % chunk,):
        return (
            f" The last, partial chunk is missing: {n} queries in chunks of {chunk} end with a chunk of "
            f"{n % chunk}. Loop over all of them (queries.split(chunk), or range(0, len(queries), chunk) "
            "with queries[i : i + chunk])."
        )
    if shape in {(m,), (math.ceil(n / chunk) * m,)}:
        return (
            " The minimum is taken over the queries (dim 0): take it over the references, dim=1 of the "
            "(chunk, M) matrix, so that each query gets one distance."
        )
    if shape == (n, m):
        return " These are all the distances: keep the nearest reference's, .min(dim=1).values."
    if shape == (n, 1):
        return " Return a flat tensor (N,): no keepdim=True, or .squeeze(1) at the end."
    return " Compute a (chunk, M) matrix per chunk, take its minimum over dim=1 and torch.cat the chunks."


def _distance_variants(queries: torch.Tensor, references: torch.Tensor) -> dict[str, torch.Tensor]:
    """Return {diagnosis: what a common mistake gives} for the distances of queries to references."""
    squared = _squared(queries, references)
    nearest = squared.min(1)
    indices = (
        "these are the indices of the nearest references (argmin, .indices): return the distances, "
    )
    return {
        "these are squared distances: take the square root of the minimum (.sqrt()).": nearest.values,
        "this is the mean over the references: the nearest one is the minimum, .min(dim=1).values.": (
            squared.mean(1).sqrt()
        ),
        "this is the mean distance to the references: the nearest one is the minimum, .min(dim=1).values.": (
            squared.clamp_min(0).sqrt().mean(1)
        ),
        "this is the distance to the farthest reference: take the minimum, not the maximum.": (
            squared.max(1).values.sqrt()
        ),
        indices + ".min(dim=1).values, then the square root.": nearest.indices.double(),
        indices + "the square root of .min(dim=1).values.": nearest.indices.double().sqrt(),
        "the cross term has the wrong sign: the squared distance is ||q||^2 - 2 q.r + ||r||^2.": (
            _squared(queries, references, cross=2.0).min(1).values.sqrt()
        ),
        "the cross term is 2 q.r, not q.r: ||q||^2 - 2 q.r + ||r||^2.": (
            _squared(queries, references, cross=-1.0).min(1).values.sqrt()
        ),
    }


def check_nearest_neighbour_distances(
    fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor],
) -> bool:
    """Check fn(queries, references, chunk): (N,) distances from each query to its nearest reference."""

    def body() -> str:
        queries, references = _points()
        out = fn(queries.clone(), references.clone(), CHUNK)
        if isinstance(out, (list, tuple)) and not hasattr(out, "indices"):
            raise CheckFailed(
                f"return one tensor, got a {type(out).__name__}: torch.cat the chunks' distances."
            )
        if not isinstance(out, torch.Tensor):
            hint = " Take its .values." if hasattr(out, "indices") else ""
            raise CheckFailed(f"return a tensor of distances, got {type(out).__name__}.{hint}")
        if not out.is_floating_point():
            raise CheckFailed(
                f"the result holds integers ({out.dtype}): these are the indices of the nearest "
                "references (argmin, .indices); return the distances, the square root of "
                ".min(dim=1).values."
            )
        shape = tuple(out.shape)
        if shape != (N_QUERIES,):
            hint = _distance_shape_hint(shape, N_QUERIES, N_REFERENCES, CHUNK)
            raise CheckFailed(
                f"{N_QUERIES} queries and {N_REFERENCES} references in chunks of {CHUNK} should give "
                f"({N_QUERIES},) distances, got shape {shape}.{hint}"
            )
        if out.dtype != queries.dtype:
            raise CheckFailed(
                f"the distances are {out.dtype}, the queries {queries.dtype}: return them in the "
                "queries' dtype (compute in it, or convert back with .to(queries.dtype))."
            )
        if torch.isnan(out).any():
            raise CheckFailed(
                "some distances are NaN: the squared distances went negative before the square root. "
                "Check the expansion ||q||^2 - 2 q.r + ||r||^2 (each norm summed over the features, "
                "dim=1), and clamp it at 0 before .sqrt()."
            )
        value = out.detach().double()
        expected = _squared(queries, references).min(1).values.sqrt()
        if torch.allclose(value, expected, atol=1e-4, rtol=1e-4):
            return (
                f"{N_QUERIES} queries in chunks of {CHUNK} (the last one partial), distances to the "
                f"nearest of {N_REFERENCES} references as torch.cdist gives them."
            )
        for mistake, candidate in _distance_variants(queries, references).items():
            if torch.allclose(value, candidate, atol=1e-4, rtol=1e-4):
                raise CheckFailed(mistake)
        error = (value - expected).abs().max().item()
        raise CheckFailed(
            f"the distances differ from torch.cdist's by up to {error:.4f}: for each chunk q, "
            "(q**2).sum(1, keepdim=True) - 2 * q @ references.T + (references**2).sum(1), its "
            "minimum over dim=1, then the square root."
        )

    return _run_check("nearest-neighbour distances", body)


def _nearest_doubled(x: torch.Tensor) -> torch.Tensor:
    """Return x with each pixel repeated into a 2 x 2 block (nearest-neighbour doubling)."""
    return x.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


def _blend(
    fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor],
    low: torch.Tensor,
    high: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """Call fn on copies of low and high; fail when it cannot blend them, returns no tensor or edits its inputs."""
    mine_low, mine_high = low.clone(), high.clone()
    try:
        out = fn(mine_low, mine_high, alpha)
    except RuntimeError as err:
        if "must match the size" not in str(err):
            raise
        raise CheckFailed(
            f"low {tuple(low.shape)} and high {tuple(high.shape)} cannot be added as they are "
            f"({str(err)[:100]}): double low first, with nearest-neighbour upsampling "
            "(F.interpolate(low, scale_factor=2, mode='nearest')), then blend it with high."
        ) from None
    for name, mine, original in (("low", mine_low, low), ("high", mine_high, high)):
        if not torch.equal(mine, original):
            raise CheckFailed(
                f"fade_in changed {name} in place: the caller still needs it. Build the result in new "
                "tensors ((1 - alpha) * up + alpha * high), without *=, += or mul_."
            )
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"fade_in should return a tensor, got {type(out).__name__}.")
    if tuple(out.shape) == tuple(low.shape):
        raise CheckFailed(
            f"the output has low's shape {tuple(low.shape)}: you shrank high (pooling or "
            "downsampling). The fade works at the new resolution, 2r x 2r: enlarge low "
            "(F.interpolate(low, scale_factor=2, mode='nearest')) and blend it with high as it is."
        )
    if tuple(out.shape) != tuple(high.shape):
        raise CheckFailed(
            f"the output should have high's shape {tuple(high.shape)}, got {tuple(out.shape)}: "
            "double low once (scale_factor=2) and blend it with high."
        )
    return out.detach()


def _blend_weight(out: torch.Tensor, up: torch.Tensor, high: torch.Tensor) -> float | None:
    """Return b when out = (1 - b) * up + b * high for one b over every pixel, else None."""
    gap = high - up
    mask = gap.abs() > 0.1
    weights = (out - up)[mask] / gap[mask]
    if weights.numel() == 0 or weights.std() > 1e-4:
        return None
    b = weights.mean().item()
    return b if torch.allclose(out, (1 - b) * up + b * high, atol=1e-5) else None


def _fade_variants(low: torch.Tensor, high: torch.Tensor, alpha: float) -> dict[str, torch.Tensor]:
    """Return {diagnosis: what a common mistake gives} for the fade of low into high."""
    other = "progressive growing doubles with nearest neighbour, each pixel a 2 x 2 block of its value: "
    nearest = "F.interpolate(low, scale_factor=2, mode='nearest')."
    variants = {
        f"low is enlarged by bilinear interpolation; {other}{nearest}": F.interpolate(
            low, scale_factor=2, mode="bilinear", align_corners=False
        ),
        f"low is enlarged by bilinear interpolation (align_corners=True); {other}{nearest}": (
            F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=True)
        ),
        f"low is enlarged by bicubic interpolation; {other}{nearest}": F.interpolate(
            low, scale_factor=2, mode="bicubic", align_corners=False
        ),
    }
    return {mistake: (1 - alpha) * up + alpha * high for mistake, up in variants.items()}


def check_fade_in(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """Check fn(low, high, alpha) = (1 - alpha) * nearest-doubled low + alpha * high."""

    def body() -> str:
        generator = torch.Generator().manual_seed(0)
        n, c, r, _ = LOW_SHAPE
        low = torch.randn(*LOW_SHAPE, generator=generator)
        high = torch.randn(n, c, 2 * r, 2 * r, generator=generator)
        up = _nearest_doubled(low)
        for alpha in (0.3, 0.8):
            out = _blend(fn, low, high, alpha)
            if torch.allclose(out, (1 - alpha) * up + alpha * high, atol=1e-5):
                continue
            b = _blend_weight(out, up, high)
            if b is not None and abs(b - (1 - alpha)) < 1e-4:
                raise CheckFailed(
                    f"with alpha = {alpha} the weights are swapped: high gets {1 - alpha:.1f} and low "
                    f"{alpha:.1f}. The new block's output high is weighted by alpha, the enlarged old "
                    "output by 1 - alpha, so that alpha = 0 is the old network."
                )
            if b is not None:
                raise CheckFailed(
                    f"with alpha = {alpha} high is weighted by {b:.2f}: use the alpha argument, "
                    "(1 - alpha) * up(low) + alpha * high."
                )
            for mistake, candidate in _fade_variants(low, high, alpha).items():
                if torch.allclose(out, candidate, atol=1e-5):
                    raise CheckFailed(mistake)
            raise CheckFailed(
                f"with alpha = {alpha} the output differs from (1 - alpha) * up(low) + alpha * high "
                "with nearest-neighbour doubling, each pixel of low a 2 x 2 block of its value: "
                "F.interpolate(low, scale_factor=2, mode='nearest') (or repeat_interleave(2) along "
                "both image axes)."
            )
        return (
            f"(1 - alpha) * nearest-doubled low + alpha * high for {r} x {r} -> {2 * r} x {2 * r} "
            "images, right at alpha = 0.3 and 0.8, inputs left unchanged."
        )

    return _run_check("fade-in", body)
