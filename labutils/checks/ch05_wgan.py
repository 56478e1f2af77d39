"""Checkers of chapter 5 (Wasserstein GANs): the critic loss, clipping, the gradient penalty."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._harness import CheckFailed, _run_check, _scalar_tensor


def check_critic_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check fn(scores_real, scores_fake) = mean(scores_fake) - mean(scores_real): minus the critic's estimate of W."""

    def body() -> str:
        generator = torch.Generator().manual_seed(0)
        real = (torch.randn(16, generator=generator) * 3 + 2).requires_grad_()
        fake = (torch.randn(16, generator=generator) * 3 - 1).requires_grad_()
        value = _scalar_tensor(
            fn(real, fake), "critic_loss should return a scalar tensor (a mean over the batch)"
        )
        expected = (fake.mean() - real.mean()).detach()
        if torch.allclose(value, -expected, atol=1e-5):
            raise CheckFailed(
                f"the sign is flipped: you return the estimate of W ({value.item():.4f}); the critic "
                "*maximises* it, so its loss is E f(fake) - E f(real)."
            )
        log_loss = (
            F.binary_cross_entropy_with_logits(real, torch.ones(16))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros(16))
        ).detach()
        if torch.allclose(value, log_loss, atol=1e-4):
            raise CheckFailed(
                "this is the GAN discriminator's cross-entropy: the critic has no sigmoid and no log."
            )
        if not torch.allclose(value, expected, atol=1e-4):
            raise CheckFailed(
                f"critic_loss gives {value.item():.4f}, expected E f(fake) - E f(real) = {expected.item():.4f}."
            )
        if not value.requires_grad:
            raise CheckFailed(
                "the loss does not depend on the scores through autograd (did you call .item()?)."
            )
        return f"value {value.item():.4f} = E f(fake) - E f(real), differentiable."

    return _run_check("critic loss", body)


def check_weight_clipping(fn: Callable[[nn.Module, float], None]) -> bool:
    """Check fn(critic, c): every parameter clamped to [-c, c] in place, values inside unchanged, no autograd record."""

    def body() -> str:
        torch.manual_seed(0)
        critic = nn.Sequential(
            nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 1)
        )
        with torch.no_grad():
            for p in critic.parameters():
                p.copy_(torch.randn_like(p) * 0.05)
        before = {k: v.clone() for k, v in critic.named_parameters()}
        ids = {k: id(v) for k, v in critic.named_parameters()}
        fn(critic, 0.03)
        for name, p in critic.named_parameters():
            if id(p) != ids[name]:
                raise CheckFailed(
                    f"parameter {name} was replaced by a new tensor: clamp in place (p.clamp_(-c, c)) "
                    "so that the optimiser still updates the same tensors."
                )
            if p.grad_fn is not None:
                raise CheckFailed(
                    "the clipping was recorded by autograd: do it under torch.no_grad()."
                )
            expected = before[name].clamp(-0.03, 0.03)
            if not torch.allclose(p.detach(), expected):
                if p.detach().abs().max() > 0.03 + 1e-7:
                    raise CheckFailed(
                        f"parameter {name} still has values up to {p.detach().abs().max().item():.3f} > c = 0.03 "
                        "(every parameter of the critic, biases and batch-norm parameters included)."
                    )
                raise CheckFailed(
                    f"parameter {name} changed inside [-c, c]: clipping must only move the values beyond +-c."
                )
        return "every parameter clamped to [-c, c] in place; values inside unchanged."

    return _run_check("weight clipping", body)


def check_gradient_penalty(
    fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
) -> bool:
    """Check fn(critic, real, fake): E[(||grad f(x_hat)|| - 1)^2] on per-sample interpolates, differentiable."""

    def body() -> str:
        torch.manual_seed(0)
        real, fake = torch.randn(32, 1, 4, 4), torch.randn(32, 1, 4, 4) + 1
        # A linear critic f(x) = <a, x> has gradient a everywhere: the penalty is exactly (|a| - 1)^2.
        linear = nn.Sequential(nn.Flatten(), nn.Linear(16, 1, bias=False))
        with torch.no_grad():
            linear[1].weight.fill_(0.5)  # |a| = 0.5 * 4 = 2
        value = fn(linear, real, fake)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise CheckFailed("the penalty should be a scalar tensor (a mean over the batch).")
        if abs(value.item() - 1.0) > 1e-4:
            hint = {
                4.0: " You return ||grad||^2: subtract 1 from the norm, then square.",
                9.0: " You return (||grad||^2 - 1)^2: use the norm, not its square.",
            }.get(round(value.item(), 3), "")
            raise CheckFailed(
                f"for a linear critic with gradient norm 2 everywhere the penalty (||grad|| - 1)^2 must be "
                f"1, got {value.item():.4f}.{hint}"
            )
        if not value.requires_grad:
            raise CheckFailed(
                "the penalty must be differentiable in the critic's weights: compute the gradient with "
                "torch.autograd.grad(..., create_graph=True)."
            )
        value.backward()
        if linear[1].weight.grad is None or linear[1].weight.grad.abs().sum() == 0:
            raise CheckFailed("no gradient reaches the critic's weights: use create_graph=True.")
        # A non-linear critic: compare with per-sample interpolates (one epsilon per sample).
        torch.manual_seed(1)
        critic = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))
        state = torch.random.get_rng_state()
        got = fn(critic, real, fake).item()
        torch.random.set_rng_state(state)
        eps = torch.rand(32, 1, 1, 1)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
        per_sample = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean().item()
        torch.random.set_rng_state(state)
        eps_scalar = torch.rand(1)
        x_one = (eps_scalar * real + (1 - eps_scalar) * fake).requires_grad_(True)
        (grad_one,) = torch.autograd.grad(critic(x_one).sum(), x_one)
        shared = ((grad_one.flatten(1).norm(dim=1) - 1) ** 2).mean().item()
        if abs(got - per_sample) > 1e-4:
            if abs(got - shared) < 1e-4:
                raise CheckFailed(
                    "one epsilon is shared by the whole batch: draw one per sample, shape (N, 1, 1, 1)."
                )
            # Any valid per-sample draw is acceptable: the value must at least be a plausible penalty.
            if not 0 <= got < 10 * max(per_sample, 1e-3):
                raise CheckFailed(
                    f"the penalty of a small tanh critic is {got:.4f}, expected about {per_sample:.4f}."
                )
        return "exact on a linear critic (penalty 1 for gradient norm 2), differentiable in the critic's weights."

    return _run_check("gradient penalty", body)
