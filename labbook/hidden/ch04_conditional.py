"""Hidden checks of chapter 4 (conditional GANs): label maps of any batch, the conditional step."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F

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
from labutils.checks.ch04_conditional import _ToyConditional

CHAPTER = "04_conditional"
LR = 0.1
bce = F.binary_cross_entropy_with_logits


def _missing_classes(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """Fail when the maps of a batch without the highest classes have fewer than 10 channels."""
    y = torch.tensor([1, 4, 2])
    maps = fn(y, 7)
    shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
    if shape != (3, 10, 7, 7):
        hint = (
            " F.one_hot(y) makes max(y) + 1 classes, here 5; pass the number of classes, "
            "F.one_hot(y, num_classes=10)."
            if shape == (3, 5, 7, 7)
            else ""
        )
        raise HiddenCheckFailed(
            "for labels [1, 4, 2] (a batch without the digits 5 to 9, which happens) the maps "
            f"should have shape (3, 10, 7, 7), got {shape}: the discriminator always expects 10 "
            f"label channels.{hint}"
        )
    expected = torch.zeros(3, 10, 7, 7)
    expected[torch.arange(3), y] = 1.0
    if not torch.equal(maps.float(), expected):
        raise HiddenCheckFailed(
            "for labels [1, 4, 2] channel y[i] of sample i must be all ones "
            "and every other channel all zeros."
        )


def _setup(seed: int = 0):
    """Return a toy conditional (G, D, opt_D, x_real, y, z)."""
    G, D = _ToyConditional(4, seed=seed), _ToyConditional(1, seed=seed + 1)
    opt_D = torch.optim.SGD(D.parameters(), lr=LR)
    generator = torch.Generator().manual_seed(seed + 2)
    x_real, z = torch.randn(16, 1, generator=generator) + 4, torch.randn(16, 4, generator=generator)
    return G, D, opt_D, x_real, torch.arange(16) % 10, z


def _zero_grad(step: Callable) -> None:
    """Fail when the conditional D step's update depends on gradients already in the parameters."""

    def run(stale: bool) -> list[torch.Tensor]:
        G, D, opt_D, x_real, y, z = _setup()
        if stale:
            fill_gradients([G, D])
        step(D, G, opt_D, x_real, y, z)
        return parameters([D])

    require_fresh_gradients(run, "conditional_discriminator_step", "opt_D")


def _fake_term(step: Callable) -> None:
    """Fail when the generated pairs' term does not train D (D's output detached, not G's)."""
    G, D, opt_D, x_real, y, z = _setup()
    reference = copy.deepcopy(D)
    real, fake = reference(x_real, y), reference(G(z, y).detach(), y)
    real_loss = bce(real, torch.ones_like(real))
    expected = sgd_reference([reference], real_loss + bce(fake, torch.zeros_like(fake)), LR)
    real_term = sgd_reference([reference], real_loss, LR)
    step(D, G, opt_D, x_real, y, z)
    got = parameters([D])
    if same(got, expected):
        return
    if same(got, real_term):
        raise HiddenCheckFailed(
            "the returned loss is right, but only the real pairs' term trains D: the generated "
            "pairs' term was detached after D (D(G(z, y), y).detach()) or computed under "
            "torch.no_grad(). Cut the graph between G and D instead: D(G(z, y).detach(), y)."
        )
    raise HiddenCheckFailed(
        "the update of D is not one step of opt_D on the gradient of BCE(D(x, y), 1) + "
        "BCE(D(G(z, y), y), 0): compute the loss once, call loss.backward() once and opt_D.step() "
        "once, with G(z, y) detached before D."
    )


def _leaves_g_trainable(step: Callable) -> None:
    """Fail when the conditional D step freezes G and leaves it so."""
    G, D, opt_D, x_real, y, z = _setup()
    G.train()
    before = trainable_state(G)
    step(D, G, opt_D, x_real, y, z)
    require_left_trainable(
        G,
        before,
        "G",
        "conditional_discriminator_step",
        "To keep gradients out of G, detach its output, D(G(z, y).detach(), y).",
    )


CHECKS = [
    HiddenCheck(
        exercise=1,
        name="missing_classes",
        target="label_maps_exercise",
        bug="F.one_hot(y) without num_classes: fewer channels when a batch lacks a 9",
        body=_missing_classes,
    ),
    HiddenCheck(
        exercise=2,
        name="zero_grad",
        target="conditional_discriminator_step",
        bug="no opt_D.zero_grad(): gradients of earlier steps add up",
        body=_zero_grad,
    ),
    HiddenCheck(
        exercise=2,
        name="fake_term",
        target="conditional_discriminator_step",
        bug="D(G(z, y), y).detach() instead of D(G(z, y).detach(), y): the fake term does "
        "not train D",
        body=_fake_term,
    ),
    HiddenCheck(
        exercise=2,
        name="leaves_g_trainable",
        target="conditional_discriminator_step",
        bug="G frozen with requires_grad_(False) (or eval()) and never unfrozen",
        body=_leaves_g_trainable,
    ),
]
