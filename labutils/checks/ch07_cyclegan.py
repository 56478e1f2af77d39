"""Checkers of chapter 7 (CycleGAN): the cycle loss, a translator, the generators' step."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._harness import (
    CheckFailed,
    _compare,
    _run_check,
    _scalar_tensor,
    require_lower,
    step_outcome,
)


def _toy_translators(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """Return tiny translators for the CycleGAN checkers: g (N, 1, 28, 28) -> (N, 1, 16, 16), f the reverse."""
    torch.manual_seed(seed)
    g = nn.Sequential(
        nn.Upsample(size=(16, 16), mode="bilinear"),
        nn.Conv2d(1, 2, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(2, 1, 3, padding=1),
        nn.Tanh(),
    )
    f = nn.Sequential(
        nn.Upsample(size=(28, 28), mode="bilinear"),
        nn.Conv2d(1, 2, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(2, 1, 3, padding=1),
        nn.Tanh(),
    )
    return g, f


def _toy_patch_discriminator(seed: int) -> nn.Module:
    """Return a tiny fully convolutional discriminator: an image of any size -> a map of patch scores."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3, 1, 1))


def _toy_domains(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Return a fixed batch of 'MNIST' (8, 1, 28, 28) and 'USPS' (8, 1, 16, 16) images in [-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(8, 1, 28, 28, generator=generator) * 2 - 1, torch.rand(
        8, 1, 16, 16, generator=generator
    ) * 2 - 1


def check_cycle_loss(fn: Callable[..., torch.Tensor]) -> bool:
    """Check fn(g, f, x_mnist, x_usps, lambda_cycle) = lambda (E|f(g(x)) - x|_1 + E|g(f(u)) - u|_1), differentiable."""

    def body() -> str:
        g, f = _toy_translators()
        x, u = _toy_domains()
        for lam in (10.0, 3.0):
            value = _scalar_tensor(
                fn(g, f, x, u, lam),
                "cycle_loss should return a scalar tensor (means over the pixels)",
            )
            with torch.no_grad():
                rec_x, rec_u = f(g(x)), g(f(u))
                l1_x, l1_u = (rec_x - x).abs().mean(), (rec_u - u).abs().mean()
                expected = lam * (l1_x + l1_u)
                variants = {
                    "this is a squared error; the cycle loss of CycleGAN is an L1 distance (mean absolute error).": lam
                    * (((rec_x - x) ** 2).mean() + ((rec_u - u) ** 2).mean()),
                    f"lambda_cycle is missing: multiply the sum of both terms by lambda_cycle (here {lam}).": l1_x
                    + l1_u,
                    f"lambda_cycle is fixed at 10: use the argument lambda_cycle (here {lam}).": 10.0
                    * (l1_x + l1_u),
                    "only the MNIST -> USPS -> MNIST cycle is there; add the USPS -> MNIST -> USPS cycle.": lam
                    * l1_x,
                    "only the USPS -> MNIST -> USPS cycle is there; add the MNIST -> USPS -> MNIST cycle.": lam
                    * l1_u,
                    "the two cycles are averaged; add them.": lam * (l1_x + l1_u) / 2,
                    "the distances are sums over pixels; use means (F.l1_loss).": lam
                    * ((rec_x - x).abs().sum() + (rec_u - u).abs().sum()),
                }
            _compare(
                value.detach(),
                expected,
                f"cycle_loss (lambda = {lam})",
                variants,
                on="the test images",
                formula=" = lambda (mean |f(g(x)) - x| + mean |g(f(u)) - u|)",
            )
        value = fn(g, f, x, u, 10.0)
        if not value.requires_grad:
            raise CheckFailed(
                "the loss does not depend on the generators through autograd (a detach or .item()?)."
            )
        value.backward()
        for name, net in (("g", g), ("f", f)):
            if not any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters()):
                raise CheckFailed(
                    f"no gradient reaches {name}: both generators must be trained by the cycle loss."
                )
        return f"value {expected.item():.4f} for lambda = 3 matches, both cycles, L1, gradients reach g and f."

    return _run_check("cycle loss", body)


def check_translator(make_translator: Callable[[str], nn.Module]) -> bool:
    """Check make_translator(target): 'usps' gives (N, 1, 28, 28) -> (N, 1, 16, 16), 'mnist' the reverse, in [-1, 1]."""
    sizes = {"usps": (28, 16), "mnist": (16, 28)}

    def body() -> str:
        counts = {}
        for target, (size_in, size_out) in sizes.items():
            source = "mnist" if target == "usps" else "usps"
            torch.manual_seed(0)
            translator = make_translator(target)
            if not isinstance(translator, nn.Module):
                raise CheckFailed(
                    f"make_translator({target!r}) should return an nn.Module, got {type(translator).__name__}."
                )
            x = (
                torch.rand(8, 1, size_in, size_in, generator=torch.Generator().manual_seed(1)) * 2
                - 1
            ).requires_grad_()
            try:
                y = translator(x)
            except RuntimeError as err:
                raise CheckFailed(
                    f"the translator into {target} fails on {source} images of shape (8, 1, {size_in}, "
                    f"{size_in}): {str(err)[:160]}"
                ) from None
            if not isinstance(y, torch.Tensor) or tuple(y.shape) != (8, 1, size_out, size_out):
                shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
                hint = (
                    " It keeps the input's size: change the size inside the translator (crop, resize or pad)."
                    if isinstance(y, torch.Tensor) and tuple(y.shape[-2:]) == (size_in, size_in)
                    else ""
                )
                raise CheckFailed(
                    f"a translator into {target} must map (8, 1, {size_in}, {size_in}) {source} images to "
                    f"(8, 1, {size_out}, {size_out}) {target} images, got {shape}.{hint}"
                )
            if y.min() < -1 - 1e-6 or y.max() > 1 + 1e-6:
                raise CheckFailed(
                    f"the {target} images range over [{y.min().item():.2f}, {y.max().item():.2f}]; the data "
                    "lie in [-1, 1]: end the translator with nn.Tanh()."
                )
            y.abs().sum().backward()
            if x.grad is None or x.grad.abs().sum() == 0:
                raise CheckFailed(
                    f"the {target} images do not depend on the input image: a translator must transform "
                    "its input, not draw an image of its own."
                )
            if x.grad[0].abs().sum() == 0 or x.grad[1:].abs().sum() == 0:
                raise CheckFailed("each output must depend on its own input image.")
            if not any(
                p.grad is not None and p.grad.abs().sum() > 0 for p in translator.parameters()
            ):
                raise CheckFailed(
                    "no gradient reaches the translator's parameters (a detach or torch.no_grad inside?)."
                )
            translator.eval()
            with torch.no_grad():
                single = translator(torch.zeros(1, 1, size_in, size_in))
            if tuple(single.shape) != (1, 1, size_out, size_out):
                raise CheckFailed(f"in eval mode a single image gives shape {tuple(single.shape)}.")
            counts[target] = sum(p.numel() for p in translator.parameters())
        return (
            f"MNIST (N, 1, 28, 28) -> USPS (N, 1, 16, 16) with {counts['usps']:,} parameters and USPS -> MNIST "
            f"(N, 1, 28, 28) with {counts['mnist']:,}, in [-1, 1], differentiable in input and weights."
        )

    return _run_check("translator", body)


def check_cyclegan_generator_step(fn: Callable[..., float]) -> bool:
    """Check fn(g, f, d_usps, d_mnist, opt_gen, x_mnist, x_usps, as_usps, as_mnist, lambda_cycle, lambda_identity).

    One step of both generators on the LSGAN adversarial terms (target 1), the cycle loss (L1, weight lambda_cycle) and
    the identity loss (L1, weight lambda_identity: g(as_mnist(u)) ~ u and f(as_usps(x)) ~ x); the discriminators
    stay unchanged; the loss, measured before the update, is returned as a float.
    """

    def body() -> str:
        g, f = _toy_translators(seed=0)
        d_usps, d_mnist = _toy_patch_discriminator(2), _toy_patch_discriminator(3)
        x, u = _toy_domains()
        as_usps = lambda images: F.interpolate(images, size=(16, 16), mode="bilinear")  # noqa: E731
        as_mnist = lambda images: F.interpolate(images, size=(28, 28), mode="bilinear")  # noqa: E731
        lam_c, lam_i = 4.0, 2.0
        opt_gen = torch.optim.SGD(list(g.parameters()) + list(f.parameters()), lr=0.01)
        before = {
            k: copy.deepcopy(m.state_dict())
            for k, m in (("g", g), ("f", f), ("d_usps", d_usps), ("d_mnist", d_mnist))
        }

        def terms() -> dict[str, float]:
            with torch.no_grad():
                fake_u, fake_x = g(x), f(u)
                s_u, s_x = d_usps(fake_u), d_mnist(fake_x)
                return {
                    "adv": (((s_u - 1) ** 2).mean() + ((s_x - 1) ** 2).mean()).item(),
                    "adv_zero": ((s_u**2).mean() + (s_x**2).mean()).item(),
                    "adv_bce": (
                        F.binary_cross_entropy_with_logits(s_u, torch.ones_like(s_u))
                        + F.binary_cross_entropy_with_logits(s_x, torch.ones_like(s_x))
                    ).item(),
                    "cyc": ((f(fake_u) - x).abs().mean() + (g(fake_x) - u).abs().mean()).item(),
                    "idt": (
                        (g(as_mnist(u)) - u).abs().mean() + (f(as_usps(x)) - x).abs().mean()
                    ).item(),
                    "idt_unframed": ((g(u) - u).abs().mean() + (f(x) - x).abs().mean()).item(),
                }

        t = terms()
        expected = t["adv"] + lam_c * t["cyc"] + lam_i * t["idt"]
        moved = (
            "a discriminator's weights changed during the generators' step: only opt_gen may step."
        )
        loss = step_outcome(
            fn(g, f, d_usps, d_mnist, opt_gen, x, u, as_usps, as_mnist, lam_c, lam_i),
            frozen=[(before["d_usps"], d_usps, moved), (before["d_mnist"], d_mnist, moved)],
            trained=[
                (
                    before[name],
                    net,
                    f"the weights of {name} did not change: call loss.backward() and opt_gen.step() "
                    "(opt_gen holds the parameters of both generators).",
                )
                for name, net in (("g", g), ("f", f))
            ],
        )
        if abs(loss - expected) > 1e-4:
            diagnoses = {
                "the identity loss is missing (lambda_identity * (|g(as_mnist(u)) - u| + |f(as_usps(x)) - x|)).": t[
                    "adv"
                ]
                + lam_c * t["cyc"],
                "the cycle loss is missing (lambda_cycle * (|f(g(x)) - x| + |g(f(u)) - u|)).": t[
                    "adv"
                ]
                + lam_i * t["idt"],
                "the adversarial terms use cross-entropy; LSGAN's generator loss is the mean of (D(fake) - 1)^2.": t[
                    "adv_bce"
                ]
                + lam_c * t["cyc"]
                + lam_i * t["idt"],
                "the adversarial target is 0: the generators want the discriminators to score their images "
                "as real (1).": t["adv_zero"] + lam_c * t["cyc"] + lam_i * t["idt"],
                "the weights are swapped: lambda_cycle multiplies the cycle loss, "
                "lambda_identity the identity loss.": t["adv"]
                + lam_i * t["cyc"]
                + lam_c * t["idt"],
                "the identity inputs are not framed: g receives as_mnist(u) and f receives as_usps(x).": t[
                    "adv"
                ]
                + lam_c * t["cyc"]
                + lam_i * t["idt_unframed"],
            }
            for mistake, value in diagnoses.items():
                if abs(loss - value) < 1e-4:
                    raise CheckFailed(
                        f"the returned loss {loss:.4f} should be {expected:.4f}: {mistake}"
                    )
            raise CheckFailed(
                f"the returned loss {loss:.4f} should be {expected:.4f} = adversarial (LSGAN, target 1) + "
                f"lambda_cycle * cycle + lambda_identity * identity, measured before the update."
            )
        after = terms()
        after_total = after["adv"] + lam_c * after["cyc"] + lam_i * after["idt"]
        require_lower(expected, after_total, "the generators'")
        return f"generators' loss {expected:.4f} -> {after_total:.4f} after one step, discriminators untouched."

    return _run_check("CycleGAN generator step", body)
