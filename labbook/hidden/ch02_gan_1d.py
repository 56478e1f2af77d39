"""Hidden checks of chapter 2 (a GAN in 1-D): what the training steps do besides their loss value.

The helpers (stale gradients, frozen networks, comparing updates) are in `_steps`, shared with chapters 4 and 7.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from labbook.hidden import HiddenCheck, HiddenCheckFailed
from labbook.hidden._steps import (
    fill_gradients,
    parameters,
    require_fresh_gradients,
    require_left_trainable,
    same,
    sgd_reference,
    trainable_state,
)
from labutils.checks.ch02_gan_1d import _toy_gan

CHAPTER = "02_gan_1d"
SHAPE_ERRORS = (RuntimeError, ValueError, IndexError)
LR = 0.1
bce = F.binary_cross_entropy_with_logits


# --- the discriminator step -----------------------------------------------------------------------


def _setup_d(n_real: int = 16, n_fake: int = 16, seed: int = 0):
    """Return a toy (G, D, opt_D, x_real, z) for the discriminator step."""
    G, D = _toy_gan(seed=seed)
    opt_D = torch.optim.SGD(D.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(seed + 1)
    x_real = torch.randn(n_real, 1, generator=generator) + 4
    z = torch.randn(n_fake, 4, generator=generator)
    return G, D, opt_D, x_real, z


def _d_loss(D: nn.Module, G: nn.Module, x_real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss, each term averaged over its own batch."""
    real, fake = D(x_real), D(G(z).detach())
    return bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))


def _d_zero_grad(step: Callable) -> None:
    """Fail when the discriminator step's update depends on gradients already in the parameters."""

    def run(stale: bool) -> list[torch.Tensor]:
        G, D, opt_D, x_real, z = _setup_d()
        if stale:
            fill_gradients([G, D])
        step(D, G, opt_D, x_real, z)
        return parameters([D])

    require_fresh_gradients(run, "discriminator_step", "opt_D")


def _d_unequal_batches(step: Callable) -> None:
    """Fail when the discriminator step is wrong for 16 real samples and 8 noise vectors."""
    G, D, opt_D, x_real, z = _setup_d(n_real=16, n_fake=8)
    with torch.no_grad():
        expected = _d_loss(D, G, x_real, z).item()
    try:
        loss = step(D, G, opt_D, x_real, z)
    except NotImplementedError:
        raise
    except SHAPE_ERRORS as err:
        raise HiddenCheckFailed(
            "discriminator_step fails for 16 real samples and 8 noise vectors "
            f"({type(err).__name__}: {str(err)[:120]}); the last real batch of an epoch is often "
            "smaller. Build each target from its own logits: torch.ones_like(logits_real), "
            "torch.zeros_like(logits_fake)."
        ) from None
    loss = loss.item() if isinstance(loss, torch.Tensor) else loss
    if not isinstance(loss, float) or abs(loss - expected) > 1e-4:
        got = f"{loss:.4f}" if isinstance(loss, float) else type(loss).__name__
        raise HiddenCheckFailed(
            f"for 16 real samples and 8 noise vectors the returned loss is {got}, expected "
            f"{expected:.4f}: average each term over its own batch, BCE(D(x), 1) + "
            "BCE(D(G(z)), 0)."
        )


def _d_fake_term(step: Callable) -> None:
    """Fail when the generated samples' term does not train D (D's output detached, not G's)."""
    G, D, opt_D, x_real, z = _setup_d()
    reference_D = copy.deepcopy(D)
    expected = sgd_reference([reference_D], _d_loss(reference_D, G, x_real, z), LR)
    real_only = reference_D(x_real)
    real_term = sgd_reference([reference_D], bce(real_only, torch.ones_like(real_only)), LR)
    step(D, G, opt_D, x_real, z)
    got = parameters([D])
    if same(got, expected):
        return
    if same(got, real_term):
        raise HiddenCheckFailed(
            "the returned loss is right, but only the real samples' term trains D: the generated "
            "samples' term was detached after D (D(G(z)).detach()) or computed under "
            "torch.no_grad(). Cut the graph between G and D instead: D(G(z).detach())."
        )
    raise HiddenCheckFailed(
        "the update of D is not one step of opt_D on the gradient of BCE(D(x), 1) + BCE(D(G(z)), "
        "0): compute the loss once, call loss.backward() once and opt_D.step() once, with G(z) "
        "detached before D."
    )


def _d_leaves_g_trainable(step: Callable) -> None:
    """Fail when the D step freezes G (requires_grad off, eval mode) and leaves it so."""
    G, D, opt_D, x_real, z = _setup_d()
    G.train()
    before = trainable_state(G)
    step(D, G, opt_D, x_real, z)
    require_left_trainable(
        G,
        before,
        "G",
        "discriminator_step",
        "To keep gradients out of G, detach its output, D(G(z).detach()).",
    )


# --- the generator step ---------------------------------------------------------------------------


def _setup_g(seed: int = 0):
    """Return a toy (G, D, opt_G, z) for the generator step."""
    G, D = _toy_gan(seed=seed)
    opt_G = torch.optim.SGD(G.parameters(), lr=LR)
    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(seed + 2))
    return G, D, opt_G, z


def _g_zero_grad(step: Callable) -> None:
    """Fail when the generator step's update depends on gradients already in the parameters."""

    def run(stale: bool) -> list[torch.Tensor]:
        G, D, opt_G, z = _setup_g()
        if stale:
            fill_gradients([G, D])
        step(D, G, opt_G, z)
        return parameters([G])

    require_fresh_gradients(run, "generator_step", "opt_G")


def _g_leaves_d_trainable(step: Callable) -> None:
    """Fail when the generator step freezes D (requires_grad off, eval mode) and leaves it so."""
    G, D, opt_G, z = _setup_g()
    D.train()
    before = trainable_state(D)
    step(D, G, opt_G, z)
    require_left_trainable(
        D,
        before,
        "D",
        "generator_step",
        "D is left unchanged because only opt_G steps; it need not be frozen.",
    )


CHECKS = [
    HiddenCheck(
        exercise=1,
        name="d_zero_grad",
        target="discriminator_step",
        bug="no opt_D.zero_grad(): gradients of earlier steps (G's goes through D) add up",
        body=_d_zero_grad,
    ),
    HiddenCheck(
        exercise=1,
        name="d_unequal_batches",
        target="discriminator_step",
        bug="targets sized from the real batch (or one mean over both): fails when the "
        "real and noise batches differ in size",
        body=_d_unequal_batches,
    ),
    HiddenCheck(
        exercise=1,
        name="d_fake_term",
        target="discriminator_step",
        bug="D(G(z)).detach() instead of D(G(z).detach()): the fake term does not train D",
        body=_d_fake_term,
    ),
    HiddenCheck(
        exercise=1,
        name="d_leaves_g_trainable",
        target="discriminator_step",
        bug="G frozen with requires_grad_(False) (or eval()) and never unfrozen",
        body=_d_leaves_g_trainable,
    ),
    HiddenCheck(
        exercise=2,
        name="g_zero_grad",
        target="generator_step",
        bug="no opt_G.zero_grad(): gradients of earlier steps add up",
        body=_g_zero_grad,
    ),
    HiddenCheck(
        exercise=2,
        name="g_leaves_d_trainable",
        target="generator_step",
        bug="D frozen with requires_grad_(False) (or eval()) and never unfrozen",
        body=_g_leaves_d_trainable,
    ),
]
