"""Hidden checks of chapter 8 (what GANs learn): exact copies, chunked memory, any resolution, gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from labbook.hidden import HiddenCheck, HiddenCheckFailed

CHAPTER = "08_what_gans_learn"
SHAPE_ERRORS = (RuntimeError, ValueError, IndexError)


def _nearest(queries: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Return the exact (N,) nearest-neighbour distances, computed in float64."""
    return torch.cdist(queries.double(), references.double()).min(1).values


def _distances(fn: Callable, queries: torch.Tensor, references: torch.Tensor, chunk: int):
    """Call fn on copies of the inputs; fail unless it returns (N,) finite float distances."""
    out = fn(queries.clone(), references.clone(), chunk)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(queries),):
        raise HiddenCheckFailed(
            f"with {len(queries)} queries and chunk = {chunk} the result should be a tensor of shape "
            f"({len(queries)},)."
        )
    return out.detach().double()


def _exact_copies(fn: Callable) -> None:
    """Fail when a query equal to a reference of large norm gives NaN (no clamp before the square root)."""
    generator = torch.Generator().manual_seed(8)
    references = torch.randn(48, 64, generator=generator) * 8 + 20
    others = torch.randn(8, 64, generator=generator) * 8 + 20
    queries = torch.cat([references, others])  # 48 exact copies: rounding makes some squares < 0
    out = _distances(fn, queries, references, 16)
    if not torch.isfinite(out).all():
        raise HiddenCheckFailed(
            "a query identical to a reference (a generated image that copies a training image) gets "
            "a NaN distance: when q = r, rounding makes ||q||^2 - 2 q.r + ||r||^2 slightly negative, "
            "and the square root of a negative number is NaN. Clamp the squared distances at 0 before "
            "the square root (.clamp_min(0))."
        )
    expected = _nearest(queries, references)
    if not torch.allclose(
        out, expected, atol=0.5, rtol=1e-3
    ):  # a copy: 0.1 or so, float32's rounding
        raise HiddenCheckFailed(
            f"exact copies of references should be at distance 0 (up to rounding) and the other "
            f"queries at their nearest reference's, but the distances are off by up to "
            f"{(out - expected).abs().max().item():.3f}."
        )


class _LargestTensor(TorchFunctionMode):
    """Record the size, in elements, of the largest storage that a torch function returns."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.untyped_storage().nbytes() // t.element_size())
        return out


def _chunked(fn: Callable) -> None:
    """Fail when the distances break for some chunk sizes or are not computed chunk by chunk."""
    generator = torch.Generator().manual_seed(9)
    queries, references = (
        torch.randn(9, 5, generator=generator),
        torch.randn(6, 5, generator=generator),
    )
    expected = _nearest(queries, references)
    for chunk in (1, 4, 9, 100):
        try:
            out = _distances(fn, queries, references, chunk)
        except NotImplementedError:
            raise
        except SHAPE_ERRORS as err:
            raise HiddenCheckFailed(
                f"with 9 queries and chunk = {chunk} your code raised {type(err).__name__} "
                f"({str(err)[:100]}): a chunk of a single query is still a (1, D) matrix (no "
                ".squeeze()), and a chunk may be larger than the number of queries."
            ) from None
        if not torch.allclose(out, expected, atol=1e-4, rtol=1e-4):
            raise HiddenCheckFailed(
                f"with 9 queries and chunk = {chunk} the distances are wrong: the result must not "
                "depend on the chunk size."
            )
    n, m, d, chunk = 120, 1000, 3, 20  # the whole (n, m) matrix: twice the bound below
    queries, references = (
        torch.randn(n, d, generator=generator),
        torch.randn(m, d, generator=generator),
    )
    with _LargestTensor() as mode:
        out = _distances(fn, queries, references, chunk)
    if mode.largest > chunk * m * d:  # room for a chunk's (chunk, M, D) differences, q[:, None] - r
        raise HiddenCheckFailed(
            f"with {n} queries, {m} references and chunk = {chunk} your function builds a tensor of "
            f"{mode.largest:,} numbers, where one chunk's distances are {chunk * m:,}: compute at most "
            "`chunk` queries at a time and use the chunk argument, not a fixed size, so that memory "
            "stays at chunk x M whatever the number of queries (50,000 generated images against "
            "60,000 training images would be 3 * 10^9 distances at once)."
        )
    if not torch.allclose(out, _nearest(queries, references), atol=1e-4, rtol=1e-4):
        raise HiddenCheckFailed(f"with {n} queries and chunk = {chunk} the distances are wrong.")


def _faded(low: torch.Tensor, high: torch.Tensor, alpha: float) -> torch.Tensor:
    """Return the exact fade: (1 - alpha) * nearest-doubled low + alpha * high."""
    up = low.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    return (1 - alpha) * up + alpha * high


def _any_resolution(fn: Callable) -> None:
    """Fail when the fade assumes the chapter's sizes (7 -> 14, one channel): a fixed size or shape."""
    generator = torch.Generator().manual_seed(10)
    for n, c, r in ((2, 3, 4), (1, 2, 16)):
        low = torch.randn(n, c, r, r, generator=generator)
        high = torch.randn(n, c, 2 * r, 2 * r, generator=generator)
        try:
            out = fn(low, high, 0.25)
        except NotImplementedError:
            raise
        except SHAPE_ERRORS as err:
            raise HiddenCheckFailed(
                f"the fade fails on {r} x {r} -> {2 * r} x {2 * r} images with {c} channels "
                f"({type(err).__name__}: {str(err)[:100]}): double whatever low you are given, "
                "F.interpolate(low, scale_factor=2, mode='nearest'), without fixed sizes, "
                "channels or batch size."
            ) from None
        if not isinstance(out, torch.Tensor) or not torch.allclose(
            out.detach(), _faded(low, high, 0.25), atol=1e-5
        ):
            raise HiddenCheckFailed(
                f"on {r} x {r} -> {2 * r} x {2 * r} images with {c} channels the fade is wrong: "
                "double low with scale_factor=2 (not a fixed size) and blend it with high."
            )


def _gradients_flow(fn: Callable) -> None:
    """Fail when no (or a wrong) gradient reaches low or high: a detached input or a no_grad upsampling."""
    generator = torch.Generator().manual_seed(11)
    low = torch.randn(2, 3, 7, 7, generator=generator).requires_grad_()
    high = torch.randn(2, 3, 14, 14, generator=generator).requires_grad_()
    weights = torch.randn(2, 3, 14, 14, generator=generator)
    out = fn(low, high, 0.3)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise HiddenCheckFailed(
            "the fade's output does not depend on low and high through autograd: no "
            "torch.no_grad(), .detach() or .data in fade_in."
        )
    grads = torch.autograd.grad((out * weights).sum(), [low, high], allow_unused=True)
    expected = (torch.nn.functional.avg_pool2d(weights, 2) * 4 * 0.7, weights * 0.3)
    for name, grad, exact in zip(("low", "high"), grads, expected):
        if grad is None or not torch.allclose(grad, exact, atol=1e-5):
            raise HiddenCheckFailed(
                f"the fade is right but its gradient with respect to {name} is not: {name} is cut "
                "from autograd (the upsampling under torch.no_grad(), or a .detach()). During a "
                "fade both the old and the new layers of the generator train, so the gradient of "
                "the discriminator's verdict must reach both."
            )


CHECKS = [
    HiddenCheck(
        exercise=1,
        name="exact_copies",
        target="nearest_neighbour_distances",
        bug="no clamp at 0 before the square root: NaN for a query equal to a reference "
        "(the visible check's points are all far apart)",
        body=_exact_copies,
    ),
    HiddenCheck(
        exercise=1,
        name="chunked",
        target="nearest_neighbour_distances",
        bug="the chunk argument ignored (the whole N x M matrix at once, or a fixed 256), "
        "or a chunk of one query squeezed to (D,)",
        body=_chunked,
    ),
    HiddenCheck(
        exercise=2,
        name="any_resolution",
        target="fade_in",
        bug="a fixed output size (F.interpolate(low, size=(14, 14))): right for the visible "
        "check's 7 -> 14 only",
        body=_any_resolution,
    ),
    HiddenCheck(
        exercise=2,
        name="gradients_flow",
        target="fade_in",
        bug="the upsampling under torch.no_grad() (or low detached): right values, the visible "
        "check runs without gradients",
        body=_gradients_flow,
    ),
]
