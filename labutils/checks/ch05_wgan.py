"""Checkers of chapter 5 (Wasserstein GANs): critic loss, clipping, penalty, spectral norm."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

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


NORMALISE = (
    "normalise both vectors inside the loop, at every iteration: "
    "v = F.normalize(W.T @ u, dim=0), then u = F.normalize(W @ v, dim=0)"
)
RESHAPE = (
    "reshape any weight to the matrix W = weight.reshape(weight.shape[0], -1) of shape "
    "(out, in * kh * kw), one row per output channel, as torch's spectral_norm does (dim=0)"
)


def _reference_estimate(
    weight: torch.Tensor, n_iters: int, u: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the contract's (sigma, u) after n_iters power iterations from u."""
    matrix = weight.reshape(weight.shape[0], -1)
    for _ in range(n_iters):
        v = F.normalize(matrix.T @ u, dim=0)
        u = F.normalize(matrix @ v, dim=0)
    return u @ matrix @ v, u


def _designed_weight(shape: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return a weight with (out, -1) singular values 3 * 0.8^k, and its left singular vectors."""
    generator = torch.Generator().manual_seed(seed)
    out, cols = shape[0], math.prod(shape[1:])
    rank = min(out, cols)
    left, _ = torch.linalg.qr(torch.randn(out, rank, generator=generator))
    right, _ = torch.linalg.qr(torch.randn(cols, rank, generator=generator))
    values = 3.0 * 0.8 ** torch.arange(rank, dtype=torch.float32)
    return ((left * values) @ right.T).reshape(shape), left


def _true_sigma(weight: torch.Tensor) -> float:
    """Return the exact largest singular value of weight.reshape(out, -1)."""
    return torch.linalg.matrix_norm(weight.reshape(weight.shape[0], -1), ord=2).item()


def _layer_name(weight: torch.Tensor) -> str:
    """Name a weight for the messages: a Linear one or a convolution's, with its shape."""
    kind = "a Linear weight" if weight.dim() == 2 else "a convolution's weight"
    return f"{kind} of shape {tuple(weight.shape)}"


def _estimate(
    fn: Callable, weight: torch.Tensor, n_iters: int, u: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Call fn(weight, n_iters, u); check that a scalar sigma and a u of length out come back."""
    before = weight.detach().clone()
    try:
        result = fn(weight, n_iters, None if u is None else u.clone())
    except NotImplementedError:
        raise
    except Exception as err:
        if weight.dim() == 2:
            raise  # the harness says where the student's code crashed
        raise CheckFailed(
            f"on {_layer_name(weight)} your code raised {type(err).__name__}: {err}. "
            f"A convolution's weight is 4-D (out, in, kh, kw): {RESHAPE}."
        ) from err
    if not torch.equal(weight.detach(), before):
        raise CheckFailed(
            "your function changed the weight in place: leave it alone and return sigma "
            "(the layer divides the weight by it)."
        )
    if not isinstance(result, tuple | list) or len(result) != 2:
        length = f" of length {len(result)}" if isinstance(result, tuple | list) else ""
        raise CheckFailed(f"return a tuple (sigma, u), got {type(result).__name__}{length}.")
    sigma = _scalar_tensor(
        result[0], "sigma (the first value returned) should be a scalar tensor, u @ W @ v"
    )
    out, cols = weight.shape[0], math.prod(weight.shape[1:])
    new_u = result[1]
    if not isinstance(new_u, torch.Tensor) or tuple(new_u.shape) != (out,):
        got = tuple(new_u.shape) if isinstance(new_u, torch.Tensor) else type(new_u).__name__
        hint = " (the length of v: return u, not v)" if got == (cols,) and cols != out else ""
        raise CheckFailed(
            f"on {_layer_name(weight)} the returned u should be a vector of shape "
            f"(out,) = ({out},), got {got}{hint}: return the final left vector "
            "u = F.normalize(W @ v, dim=0)."
        )
    return sigma, new_u


def check_spectral_norm(
    fn: Callable[[torch.Tensor, int, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]],
) -> bool:
    """Check fn(weight, n_iters, u=None) -> (sigma, u): the power-iteration estimate of ||W||_2.

    W = weight.reshape(out, -1): a Linear (out, in) or a convolution's (out, in, kh, kw) weight,
    dim 0 as in torch's spectral_norm. u, of length out, is the starting vector (when None: drawn
    from N(0, 1), then normalised). Each of the n_iters (>= 1) iterations sets
    v = normalize(W^T u), then u = normalize(W v); fn returns sigma = u^T W v (a scalar tensor,
    differentiable in the weight) and the final u (no autograd history: the next step reuses it).
    """

    def body() -> str:
        torch.manual_seed(0)
        weight, left = _designed_weight((6, 10), seed=0)
        true = _true_sigma(weight)  # 3, the second singular value 2.4
        # A start mostly along the second singular vector: one iteration is low (about 2.41).
        u0 = F.normalize(0.15 * left[:, 0] + left[:, 1] + 0.2 * left[:, 2], dim=0)
        sigma, u = _estimate(fn, weight, 50, u0)
        if not torch.isfinite(sigma) or not torch.isfinite(u).all():
            raise CheckFailed(
                f"after 50 iterations on a weight whose largest singular value is {true:.1f} "
                f"your estimate is {sigma.item()}: the vectors grew until they overflowed; "
                f"{NORMALISE}."
            )
        if abs(u.norm().item() - 1) > 1e-3:
            raise CheckFailed(f"the returned u has norm {u.norm().item():.4g}, not 1: {NORMALISE}.")
        if sigma.item() > true * (1 + 1e-4):
            squared = math.isclose(sigma.item(), true**2, rel_tol=1e-2)
            hint = " You get about sigma squared: v = W^T u has norm sigma." if squared else ""
            raise CheckFailed(
                f"your estimate {sigma.item():.4f} is larger than the largest singular value "
                f"{true:.4f}, which u^T W v with unit vectors u and v never is: {NORMALISE}.{hint}"
            )
        if sigma.item() < true * (1 - 1e-4):
            once, _ = _estimate(fn, weight, 1, u0)
            if torch.allclose(once, sigma, atol=1e-5):
                raise CheckFailed(
                    f"n_iters=50 gives the same estimate as n_iters=1 ({sigma.item():.4f}), "
                    f"below the largest singular value {true:.4f}: one iteration is not exact; "
                    "repeat the two updates n_iters times (for _ in range(n_iters)), each "
                    "bringing u and v closer to the top singular vectors."
                )
            raise CheckFailed(
                f"after 50 iterations your estimate is {sigma.item():.4f}, below the largest "
                f"singular value {true:.4f} that power iteration converges to: {NORMALISE}, "
                "and return sigma = u @ W @ v."
            )
        for n_iters in (1, 2, 5):
            expected, expected_u = _reference_estimate(weight, n_iters, u0)
            sigma, u = _estimate(fn, weight, n_iters, u0)
            if torch.allclose(sigma, expected, atol=1e-4) and torch.allclose(
                u, expected_u, atol=1e-4
            ):
                continue
            again, _ = _estimate(fn, weight, n_iters, u0)
            if not torch.allclose(again, sigma, atol=1e-6):
                raise CheckFailed(
                    "two calls with the same u give different estimates: start the iterations "
                    "from the u you are given (draw a random one only when u is None)."
                )
            if not torch.allclose(sigma, expected, atol=1e-4):
                exact = " (the converged value)" if abs(sigma.item() - true) < 1e-4 else ""
                raise CheckFailed(
                    f"with n_iters={n_iters}, power iteration from the given u "
                    "(v = normalize(W^T u), u = normalize(W v), n_iters times) gives "
                    f"sigma = u^T W v = {expected.item():.4f}, you return {sigma.item():.4f}"
                    f"{exact}: run exactly n_iters iterations, starting from u."
                )
            raise CheckFailed(
                f"with n_iters={n_iters} sigma is right but the returned u is not the final left "
                "vector: return u = F.normalize(W @ v, dim=0) from the last iteration."
            )
        for seed in range(5):  # from a random start, one iteration is a lower bound; 50 converge
            torch.manual_seed(seed)
            low, u = _estimate(fn, weight, 1, None)
            converged, _ = _estimate(fn, weight, 50, None)
            if u.norm().item() < 1e-6:
                raise CheckFailed(
                    "with u=None you return a zero vector u: start from a random unit vector, "
                    "u = F.normalize(torch.randn(W.shape[0]), dim=0) (0 stays 0)."
                )
            if low.item() > true * (1 + 1e-4) or abs(u.norm().item() - 1) > 1e-3:
                raise CheckFailed(
                    f"with u=None and n_iters=1 you return sigma = {low.item():.4f} and a u of "
                    f"norm {u.norm().item():.4f}; the largest singular value {true:.4f} bounds "
                    f"any estimate from unit vectors: {NORMALISE}."
                )
            if abs(converged.item() - true) > 1e-4 * true:
                raise CheckFailed(
                    f"with u=None, 50 iterations give {converged.item():.4f} instead of the "
                    f"largest singular value {true:.4f}: start from a random u, "
                    "F.normalize(torch.randn(W.shape[0]), dim=0) (a fixed start can miss the "
                    "top singular vector)."
                )
        generator = torch.Generator().manual_seed(1)
        shapes = [(16, 4), (1, 8), (10, 10), (8, 3, 3, 3), (16, 8, 4, 4), (1, 16, 4, 4)]
        for seed, shape in enumerate(shapes):
            weight, _ = _designed_weight(shape, seed=seed + 1)
            u0 = F.normalize(torch.randn(shape[0], generator=generator), dim=0)
            true = _true_sigma(weight)
            sigma, u = _estimate(fn, weight, 50, u0)
            _, expected_u = _reference_estimate(weight, 50, u0)
            conv = f" (Linear weights pass): {RESHAPE}" if weight.dim() > 2 else ""
            if abs(sigma.item() - true) > 1e-4 * true:
                raise CheckFailed(
                    f"on {_layer_name(weight)} 50 iterations give sigma = {sigma.item():.4f}, "
                    f"but the largest singular value of weight.reshape(out, -1) is "
                    f"{true:.4f}{conv}."
                )
            if not torch.allclose(u, expected_u, atol=1e-4):
                raise CheckFailed(
                    f"on {_layer_name(weight)} sigma is right but the returned u is not the "
                    f"left vector that 50 iterations from the given u reach{conv}."
                )
        weight, _ = _designed_weight((8, 3, 3, 3), seed=7)
        leaf = weight.clone().requires_grad_(True)
        sigma, u = _estimate(fn, leaf, 5, F.normalize(torch.ones(8), dim=0))
        if not sigma.requires_grad:
            raise CheckFailed(
                "sigma must be differentiable in the weight (the layer uses weight / sigma): "
                "run the iterations under torch.no_grad(), then sigma = u @ W @ v outside it."
            )
        if u.requires_grad:
            raise CheckFailed(
                "the returned u carries autograd history: run the iterations under "
                "torch.no_grad() (as torch's spectral_norm does) so that the next training "
                "step can reuse u."
            )
        sigma.backward()
        if leaf.grad is None or leaf.grad.abs().sum() == 0:
            raise CheckFailed("no gradient reaches the weight from sigma: do not detach it.")
        torch.manual_seed(0)  # real layers: the same normalisation as torch's spectral_norm
        for layer in (nn.Linear(20, 8), nn.Conv2d(3, 16, 4)):
            weight = layer.weight.detach().clone()
            spectral_norm(layer, n_power_iterations=100)
            torch_sigma = (weight.norm() / layer.weight.norm()).item()
            sigma, _ = _estimate(fn, weight, 100, None)
            normalised = _true_sigma(weight / sigma.detach())
            if abs(sigma.item() - torch_sigma) > 1e-3 * torch_sigma or abs(normalised - 1) > 1e-3:
                raise CheckFailed(
                    f"torch's spectral_norm divides {_layer_name(weight)} by "
                    f"{torch_sigma:.4f}, your estimate is {sigma.item():.4f} "
                    f"(weight / sigma has spectral norm {normalised:.4f}, not 1)."
                )
        return (
            "sigma converges to the largest singular value from below (Linear and conv "
            "weights), n_iters iterations from the given u as expected, u reusable; "
            "weight / sigma as with torch's spectral_norm."
        )

    return _run_check("spectral norm", body)
