"""Checkers of chapter 2 (a GAN in 1-D): the training steps."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._harness import D_UNCHANGED, CheckFailed, _run_check, require_lower, step_outcome


def _toy_gan(nz: int = 4, dim: int = 1, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """Return a tiny generator (nz -> dim) and discriminator (dim -> 1 logit) for checking training steps."""
    torch.manual_seed(seed)
    generator = nn.Sequential(nn.Linear(nz, 8), nn.ReLU(), nn.Linear(8, dim))
    discriminator = nn.Sequential(nn.Linear(dim, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    return generator, discriminator


def check_discriminator_step(fn: Callable[..., float]) -> bool:
    """Check fn(D, G, opt_D, x_real, z): one step on D's loss that leaves G untouched, returning the loss as a float."""

    def body() -> str:
        G, D = _toy_gan()
        opt_D = torch.optim.SGD(D.parameters(), lr=0.1)
        x_real, z = torch.randn(16, 1) + 4, torch.randn(16, 4)
        g_before, d_before = copy.deepcopy(G.state_dict()), copy.deepcopy(D.state_dict())
        with torch.no_grad():
            expected = (
                F.binary_cross_entropy_with_logits(D(x_real), torch.ones(16, 1))
                + F.binary_cross_entropy_with_logits(D(G(z)), torch.zeros(16, 1))
            ).item()
        loss = step_outcome(
            fn(D, G, opt_D, x_real, z),
            frozen=[
                (g_before, G, "the generator's weights changed during the discriminator step.")
            ],
            no_gradients=(
                G,
                "gradients reached the generator: detach G(z) (or use torch.no_grad) in D's step.",
            ),
            trained=[(d_before, D, D_UNCHANGED)],
        )
        if abs(loss - expected) > 1e-4:
            raise CheckFailed(
                f"the returned loss {loss:.4f} should be {expected:.4f}: BCE(D(x), 1) + BCE(D(G(z)), 0) "
                "measured before the update."
            )
        with torch.no_grad():
            after = (
                F.binary_cross_entropy_with_logits(D(x_real), torch.ones(16, 1))
                + F.binary_cross_entropy_with_logits(D(G(z)), torch.zeros(16, 1))
            ).item()
        require_lower(expected, after, "D's")
        return f"D's loss {expected:.4f} -> {after:.4f} after one step, G untouched."

    return _run_check("discriminator step", body)


def check_generator_step(fn: Callable[..., float]) -> bool:
    """Check fn(D, G, opt_G, z): one non-saturating step on G that leaves D's weights unchanged."""

    def body() -> str:
        G, D = _toy_gan()
        opt_G = torch.optim.SGD(G.parameters(), lr=0.1)
        z = torch.randn(16, 4)
        g_before, d_before = copy.deepcopy(G.state_dict()), copy.deepcopy(D.state_dict())
        with torch.no_grad():
            expected = F.binary_cross_entropy_with_logits(D(G(z)), torch.ones(16, 1)).item()
            saturating = -F.binary_cross_entropy_with_logits(D(G(z)), torch.zeros(16, 1)).item()
        loss = step_outcome(
            fn(D, G, opt_G, z),
            frozen=[
                (
                    d_before,
                    D,
                    "the discriminator's weights changed during the generator step: only opt_G may step.",
                )
            ],
            trained=[
                (
                    g_before,
                    G,
                    "the generator's weights did not change: call loss.backward() and opt_G.step().",
                )
            ],
        )
        if abs(loss - expected) > 1e-4:
            hint = (
                " That is the saturating loss; use the non-saturating -log D(G(z))."
                if abs(loss - saturating) < 1e-3
                else ""
            )
            raise CheckFailed(
                f"the returned loss {loss:.4f} should be {expected:.4f} = BCE(D(G(z)), 1) before the update.{hint}"
            )
        with torch.no_grad():
            after = F.binary_cross_entropy_with_logits(D(G(z)), torch.ones(16, 1)).item()
        require_lower(expected, after, "G's")
        return f"G's loss {expected:.4f} -> {after:.4f} after one step, D untouched."

    return _run_check("generator step", body)
