"""Hidden checks of chapter 7 (CycleGAN): gradients along the cycles, the translator, the G step."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from labbook.hidden import HiddenCheck, HiddenCheckFailed
from labbook.hidden._steps import (
    fill_gradients,
    images_can_be_negative,
    parameters,
    require_fresh_gradients,
    require_left_trainable,
    same,
    sgd_reference,
    trainable_state,
)
from labutils.checks.ch07_cyclegan import _toy_domains, _toy_patch_discriminator, _toy_translators

CHAPTER = "07_cyclegan"
SIZES = {"usps": (28, 16), "mnist": (16, 28)}  # target -> (input side, output side)
LR = 0.05
LAMBDA_CYCLE, LAMBDA_IDENTITY = 4.0, 2.0


def _reference_cycle(
    g: nn.Module, f: nn.Module, x: torch.Tensor, u: torch.Tensor, lam: float
) -> torch.Tensor:
    """lambda (mean |f(g(x)) - x| + mean |g(f(u)) - u|)."""
    return lam * (F.l1_loss(f(g(x)), x) + F.l1_loss(g(f(u)), u))


def _through_both_translators(fn: Callable) -> None:
    """Fail when the cycle loss does not back-propagate through both translators of each cycle."""
    g, f = _toy_translators()
    x, u = _toy_domains()
    value = fn(g, f, x, u, 10.0)
    if not isinstance(value, torch.Tensor) or not value.requires_grad:
        raise HiddenCheckFailed(
            "the cycle loss should be a tensor that depends on g and f through autograd."
        )
    params = [*g.parameters(), *f.parameters()]
    got = torch.autograd.grad(value.reshape(()), params, allow_unused=True)
    expected = torch.autograd.grad(_reference_cycle(g, f, x, u, 10.0), params)
    n_g = len(list(g.parameters()))
    for index, (mine, theirs) in enumerate(zip(got, expected)):
        if mine is None or not torch.allclose(mine, theirs, atol=1e-6, rtol=1e-4):
            first, second = ("g", "f") if index < n_g else ("f", "g")
            raise HiddenCheckFailed(
                f"the cycle loss has the right value, but the gradient that reaches {first} is not "
                "that of the loss: along a cycle both translators must learn, so in "
                f"{second}({first}(.)) the gradient must flow back through {second} into {first}. "
                "Do not detach the translated images (or compute them under torch.no_grad()) "
                "inside the cycle loss."
            )


def _output_range(make_translator: Callable[[str], nn.Module]) -> None:
    """Fail when a translator's images never go below 0 (a sigmoid instead of tanh)."""
    for target, (side, _) in SIZES.items():

        def images(side: int = side) -> torch.Tensor:
            """A fixed batch of images of the source domain in [-1, 1]."""
            return torch.rand(8, 1, side, side, generator=torch.Generator().manual_seed(3)) * 2 - 1

        def build(target: str = target) -> nn.Module:
            """A fresh translator into target."""
            return make_translator(target)

        if not images_can_be_negative(build, images):
            raise HiddenCheckFailed(
                f"the translator into {target} never gives a pixel below 0, so it cannot draw the "
                "background, which is -1 in the data (scaled to [-1, 1]): its output layer maps to "
                "[0, 1], as a sigmoid does. End the translator with nn.Tanh()."
            )


def _batch_independent(make_translator: Callable[[str], nn.Module]) -> None:
    """Fail when, in training mode, one translation depends on the other images of the batch."""
    for target, (side, _) in SIZES.items():
        torch.manual_seed(0)
        translator = make_translator(target)
        translator.train()
        x = torch.rand(4, 1, side, side, generator=torch.Generator().manual_seed(5)) * 2 - 1
        x.requires_grad_()
        translator(x)[0].sum().backward()
        own, others = x.grad[0].abs().max().item(), x.grad[1:].abs().max().item()
        if others > 1e-6 * max(own, 1e-12):
            raise HiddenCheckFailed(
                f"in training mode the translation into {target} of one image depends on the other "
                "images of its batch: batch normalisation computes its statistics over the batch. "
                "CycleGAN translates each image on its own (7.4): use instance normalisation, "
                "nn.InstanceNorm2d(channels, affine=True), or none."
            )


def _setup_step(seed: int = 0):
    """Return toy (g, f, d_usps, d_mnist, opt_gen, x, u, as_usps, as_mnist) for the G step."""
    g, f = _toy_translators(seed=seed)
    d_usps, d_mnist = _toy_patch_discriminator(seed + 2), _toy_patch_discriminator(seed + 3)
    x, u = _toy_domains(seed + 1)
    opt_gen = torch.optim.SGD([*g.parameters(), *f.parameters()], lr=LR)
    return g, f, d_usps, d_mnist, opt_gen, x, u, _as_usps, _as_mnist


def _as_usps(images: torch.Tensor) -> torch.Tensor:
    """Frame MNIST images as USPS ones (a resize, for the toy translators)."""
    return F.interpolate(images, size=(16, 16), mode="bilinear")


def _as_mnist(images: torch.Tensor) -> torch.Tensor:
    """Frame USPS images as MNIST ones (a resize, for the toy translators)."""
    return F.interpolate(images, size=(28, 28), mode="bilinear")


def _call_step(step: Callable, setup: tuple) -> None:
    """Call the student's step with the chapter's arguments."""
    step(*setup, LAMBDA_CYCLE, LAMBDA_IDENTITY)


def _zero_grad(step: Callable) -> None:
    """Fail when the generators' update depends on gradients already in the parameters."""

    def run(stale: bool) -> list[torch.Tensor]:
        setup = _setup_step()
        if stale:
            fill_gradients(setup[:4])
        _call_step(step, setup)
        return parameters(setup[:2])

    require_fresh_gradients(run, "cyclegan_generator_step", "opt_gen")


def _leaves_discriminators_trainable(step: Callable) -> None:
    """Fail when the step freezes the discriminators (requires_grad off, eval) for good."""
    setup = _setup_step()
    d_usps, d_mnist = setup[2], setup[3]
    d_usps.train()
    d_mnist.train()
    before = [trainable_state(d_usps), trainable_state(d_mnist)]
    _call_step(step, setup)
    instead = "They stay unchanged because only opt_gen steps; they need not be frozen."
    require_left_trainable(d_usps, before[0], "d_usps", "cyclegan_generator_step", instead)
    require_left_trainable(d_mnist, before[1], "d_mnist", "cyclegan_generator_step", instead)


def _reference_loss(g, f, d_usps, d_mnist, x, u, as_usps, as_mnist) -> torch.Tensor:
    """The generators' loss: LSGAN (target 1) + lambda_cycle cycle + lambda_identity identity."""
    fake_u, fake_x = g(x), f(u)
    s_u, s_x = d_usps(fake_u), d_mnist(fake_x)
    adversarial = ((s_u - 1) ** 2).mean() + ((s_x - 1) ** 2).mean()
    cycle = F.l1_loss(f(fake_u), x) + F.l1_loss(g(fake_x), u)
    identity = F.l1_loss(g(as_mnist(u)), u) + F.l1_loss(f(as_usps(x)), x)
    return adversarial + LAMBDA_CYCLE * cycle + LAMBDA_IDENTITY * identity


def _full_gradient(step: Callable) -> None:
    """Fail when the update does not follow the whole loss's gradient (a term detached)."""
    setup = _setup_step()
    g, f, d_usps, d_mnist, _, x, u, as_usps, as_mnist = setup
    copies = [copy.deepcopy(m) for m in (g, f, d_usps, d_mnist)]
    expected = sgd_reference(copies[:2], _reference_loss(*copies, x, u, as_usps, as_mnist), LR)
    _call_step(step, setup)
    if not same(parameters([g, f]), expected, atol=1e-5):
        raise HiddenCheckFailed(
            "the returned loss is right, but the step does not follow its gradient: some term does "
            "not back-propagate into the generators, for example the cycle computed from detached "
            "translations (f(g(x).detach())), a term under torch.no_grad(), or a term turned into "
            "a float with .item(). Only the discriminators' weights must stay fixed; the gradient "
            "must still flow through them and through both translators."
        )


CHECKS = [
    HiddenCheck(
        exercise=1,
        name="through_both_translators",
        target="cycle_loss",
        bug="a translation detached inside the cycle (f(g(x).detach())): right value, one "
        "translator not trained by that cycle",
        body=_through_both_translators,
    ),
    HiddenCheck(
        exercise=2,
        name="output_range",
        target="make_translator",
        bug="the translator ends with a sigmoid: images in [0, 1], which the visible [-1, "
        "1] check accepts",
        body=_output_range,
    ),
    HiddenCheck(
        exercise=2,
        name="batch_independent",
        target="make_translator",
        bug="batch normalisation in the translator: each translation depends on the batch",
        body=_batch_independent,
    ),
    HiddenCheck(
        exercise=3,
        name="zero_grad",
        target="cyclegan_generator_step",
        bug="no opt_gen.zero_grad(): the discriminators' step leaves gradients in g and f",
        body=_zero_grad,
    ),
    HiddenCheck(
        exercise=3,
        name="leaves_discriminators_trainable",
        target="cyclegan_generator_step",
        bug="the discriminators frozen (set_requires_grad(False), as in the CycleGAN code) "
        "and never unfrozen",
        body=_leaves_discriminators_trainable,
    ),
    HiddenCheck(
        exercise=3,
        name="full_gradient",
        target="cyclegan_generator_step",
        bug="the cycle computed from detached translations (or a term .item()): right "
        "loss, wrong update",
        body=_full_gradient,
    ),
]
