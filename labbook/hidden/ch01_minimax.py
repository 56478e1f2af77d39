"""Hidden checks of chapter 1 (the minimax game): the losses on unequal batches, their gradients."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from labbook.hidden import HiddenCheck, HiddenCheckFailed

CHAPTER = "01_minimax"
SHAPE_ERRORS = (RuntimeError, ValueError, IndexError)
bce = F.binary_cross_entropy_with_logits


def _logits(n: int, shift: float, seed: int) -> torch.Tensor:
    """Return (n, 1) logits around `shift`, the last two very confident (+200 and -200)."""
    generator = torch.Generator().manual_seed(seed)
    body = torch.randn(n - 2, 1, generator=generator) * 2 + shift
    return torch.cat([body, torch.tensor([[200.0], [-200.0]])])


def _scalar(value, what: str) -> torch.Tensor:
    """Return value as a 0-d tensor, or fail when it is not a scalar tensor."""
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise HiddenCheckFailed(f"{what} should return a scalar tensor.")
    return value.reshape(())


def _unequal_batches(fn: Callable) -> None:
    """Fail when discriminator_loss is wrong for 8 real and 24 generated logits."""
    generator = torch.Generator().manual_seed(11)
    real = torch.randn(8, 1, generator=generator) * 2 + 1
    fake = torch.randn(24, 1, generator=generator) * 2 - 1
    try:
        value = _scalar(fn(real, fake), "discriminator_loss")
    except NotImplementedError:
        raise
    except SHAPE_ERRORS as err:
        raise HiddenCheckFailed(
            "discriminator_loss fails when the two batches differ in size (8 real and 24 generated "
            f"logits): {type(err).__name__}: {str(err)[:120]}. Build each target from its own "
            "logits, torch.ones_like(real_logits) and torch.zeros_like(fake_logits)."
        ) from None
    expected = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
    if not torch.allclose(value.detach(), expected, atol=1e-4, rtol=1e-4):
        raise HiddenCheckFailed(
            f"with 8 real and 24 generated logits discriminator_loss gives {value.item():.4f}, "
            f"expected {expected.item():.4f}: average each term over its own batch (a mean over "
            "the real logits plus a mean over the generated ones). A single mean over both "
            "batches, or a sum divided by one batch size, is only right when the two batches have "
            "the same size."
        )


def _compare_gradients(got: list, expected: list[torch.Tensor], what: str) -> None:
    """Fail when the gradients `got` are missing, not finite, or differ from `expected`."""
    for grad, reference in zip(got, expected):
        if grad is None:
            raise HiddenCheckFailed(
                f"no gradient reaches the logits through {what}: keep the loss "
                "in autograd (no .item(), .detach() or torch.no_grad())."
            )
        if not torch.isfinite(grad).all():
            raise HiddenCheckFailed(
                f"{what} has a finite value but a NaN or infinite gradient for confident logits "
                "(|logit| = 200), so one such logit ruins the whole update. Autograd "
                "differentiates every branch of a torch.where (or of a masked formula), including "
                "the one that overflows. Use F.binary_cross_entropy_with_logits, F.logsigmoid or "
                "F.softplus, which are stable in their value and in their gradient."
            )
        if not torch.allclose(grad, reference, atol=1e-6, rtol=1e-4):
            difference = (grad - reference).abs().max().item()
            raise HiddenCheckFailed(
                f"the value of {what} is right but its gradient with respect to the logits is not "
                f"(largest difference {difference:.2g}): do not clamp, round or detach parts of "
                "the formula; compute it from the logits with F.logsigmoid or "
                "F.binary_cross_entropy_with_logits."
            )


def _gradients(fn: Callable, reference: Callable, inputs: list[torch.Tensor], what: str) -> None:
    """Compare the gradients of fn and of the reference loss with respect to each input."""
    mine = [x.clone().requires_grad_() for x in inputs]
    value = _scalar(fn(*mine), what)
    if not value.requires_grad:
        raise HiddenCheckFailed(f"{what} does not depend on the logits through autograd.")
    value.backward()
    theirs = [x.clone().requires_grad_() for x in inputs]
    reference(*theirs).backward()
    _compare_gradients([x.grad for x in mine], [x.grad for x in theirs], what)


def _discriminator_gradient(fn: Callable) -> None:
    """Fail when discriminator_loss has a NaN or wrong gradient for confident logits."""
    _gradients(
        fn,
        lambda r, f: bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f)),
        [_logits(16, 1.0, 3), _logits(16, -1.0, 4)],
        "discriminator_loss",
    )


def _saturating_gradient(fn: Callable) -> None:
    """Fail when the saturating generator loss has a NaN or wrong gradient for confident logits."""
    _gradients(
        fn, lambda f: F.logsigmoid(-f).mean(), [_logits(16, -1.0, 5)], "generator_loss_saturating"
    )


def _non_saturating_gradient(fn: Callable) -> None:
    """Fail when the non-saturating loss has a NaN or wrong gradient for confident logits."""
    _gradients(
        fn,
        lambda f: bce(f, torch.ones_like(f)),
        [_logits(16, -1.0, 6)],
        "generator_loss_non_saturating",
    )


CHECKS = [
    HiddenCheck(
        exercise=1,
        name="unequal_batches",
        target="discriminator_loss",
        bug="one mean over both batches, or targets sized from the real batch: wrong when "
        "the real and generated batches differ in size",
        body=_unequal_batches,
    ),
    HiddenCheck(
        exercise=1,
        name="discriminator_finite_gradient",
        target="discriminator_loss",
        bug="a hand-made 'stable' formula (torch.where) whose value is finite but whose "
        "gradient is NaN for confident logits",
        body=_discriminator_gradient,
    ),
    HiddenCheck(
        exercise=2,
        name="saturating_finite_gradient",
        target="generator_loss_saturating",
        bug="torch.where over two formulas: finite value, NaN gradient for |logit| = 200",
        body=_saturating_gradient,
    ),
    HiddenCheck(
        exercise=3,
        name="non_saturating_finite_gradient",
        target="generator_loss_non_saturating",
        bug="torch.where over two formulas: finite value, NaN gradient for |logit| = 200",
        body=_non_saturating_gradient,
    ),
]
