"""Checkers of chapter 1 (the minimax game): the losses."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ._harness import CheckFailed, _compare, _run_check, _scalar


def _test_logits() -> tuple[torch.Tensor, torch.Tensor]:
    """Return fixed real and fake logits that include very confident values (|logit| = 200)."""
    generator = torch.Generator().manual_seed(0)
    real = torch.cat(
        [torch.randn(14, 1, generator=generator) * 2 + 1, torch.tensor([[200.0], [-200.0]])]
    )
    fake = torch.cat(
        [torch.randn(14, 1, generator=generator) * 2 - 1, torch.tensor([[-200.0], [200.0]])]
    )
    return real, fake


def check_discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check fn(real_logits, fake_logits) = mean(-log D(x)) + mean(-log(1 - D(G(z)))), computed from logits."""

    def body() -> str:
        real, fake = _test_logits()
        real_req, fake_req = real.clone().requires_grad_(), fake.clone().requires_grad_()
        value = _scalar(fn(real_req, fake_req), "discriminator_loss")
        expected = F.binary_cross_entropy_with_logits(
            real, torch.ones_like(real)
        ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        swapped = F.binary_cross_entropy_with_logits(
            real, torch.zeros_like(real)
        ) + F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        _compare(
            value,
            expected,
            "discriminator_loss",
            {
                "the sign is flipped: the loss is -V(D, G), which D minimises.": -expected,
                "the two terms are averaged; add them (one mean over real, one over fake).": expected
                / 2,
                "the targets are swapped: real images have target 1, generated ones target 0.": swapped,
            },
        )
        if not value.requires_grad:
            raise CheckFailed(
                "the loss does not depend on the logits through autograd (did you call .item() or detach?)."
            )
        return f"value {value.item():.4f} matches, stable for confident logits, differentiable."

    return _run_check("discriminator loss", body)


def check_generator_loss(
    fn: Callable[[torch.Tensor], torch.Tensor], variant: str = "non_saturating"
) -> bool:
    """Check fn(fake_logits): 'non_saturating' = mean(-log D(G(z))), 'saturating' = mean(log(1 - D(G(z))))."""
    if variant not in ("non_saturating", "saturating"):
        raise ValueError("variant must be 'non_saturating' or 'saturating'.")

    def body() -> str:
        _, fake = _test_logits()
        fake_req = fake.clone().requires_grad_()
        value = _scalar(fn(fake_req), f"generator_loss ({variant})")
        non_saturating = F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        saturating = -F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        expected, other = (
            (non_saturating, saturating)
            if variant == "non_saturating"
            else (saturating, non_saturating)
        )
        _compare(
            value,
            expected,
            f"generator_loss ({variant})",
            {
                f"this is the {'saturating' if variant == 'non_saturating' else 'non-saturating'} loss, "
                "not the one asked for.": other,
                "the sign is flipped: the generator minimises this loss.": -expected,
            },
        )
        if not value.requires_grad:
            raise CheckFailed(
                "the loss does not depend on the logits through autograd (did you call .item() or detach?)."
            )
        return f"value {value.item():.4f} matches, stable for confident logits, differentiable."

    return _run_check(f"generator loss ({variant.replace('_', '-')})", body)
