"""Exercise checkers: call them on your own implementation; they answer with a pass or what is wrong."""

from __future__ import annotations

import copy
import traceback
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class CheckFailed(Exception):
    """Raised inside a checker to report what is wrong with a student's implementation."""


def _run_check(name: str, body: Callable[[], str]) -> bool:
    """Run one checker body, print a pass or a clear explanation, and return whether it passed."""
    try:
        with torch.random.fork_rng(devices=range(torch.cuda.device_count())):  # the checks seed torch: leave the notebook's random state alone
            detail = body()
    except NotImplementedError as err:
        print(f"[not done] {name}: not implemented yet ({err or 'the stub is still in place'}). "
              "Replace the `raise NotImplementedError` line with your code.")
        return False
    except CheckFailed as err:
        print(f"[fail] {name}: {err}")
        return False
    except Exception as err:  # the student's code crashed: say where, briefly, without a library traceback
        frames = [f for f in traceback.extract_tb(err.__traceback__)
                  if "labutils" not in f.filename and "-packages" not in f.filename]  # the student's own frames
        where = f" (in {frames[-1].name}, line {frames[-1].lineno}: {frames[-1].line})" if frames else ""
        print(f"[fail] {name}: your code raised {type(err).__name__}: {err}{where}")
        return False
    print(f"[pass] {name}: {detail}")
    return True


def _scalar(value, what: str) -> torch.Tensor:
    """Check that a student's result is a finite scalar tensor and return it."""
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{what} should return a torch tensor, got {type(value).__name__}.")
    if value.numel() != 1:
        raise CheckFailed(f"{what} should return a scalar (average over the batch), got shape {tuple(value.shape)}.")
    if not torch.isfinite(value).all():
        raise CheckFailed(f"{what} returned {value.item()} for confident logits (|logit| = 200): compute the loss from "
                          "logits with F.binary_cross_entropy_with_logits or F.logsigmoid, never log(sigmoid(.)).")
    return value.reshape(())


def _compare(value: torch.Tensor, expected: torch.Tensor, what: str, variants: dict[str, torch.Tensor]) -> None:
    """Raise CheckFailed with a diagnosis when value differs from expected (recognising common mistakes)."""
    if torch.allclose(value, expected, atol=1e-4, rtol=1e-4):
        return
    for mistake, candidate in variants.items():
        if torch.allclose(value, candidate, atol=1e-4, rtol=1e-4):
            raise CheckFailed(f"{what} gives {value.item():.4f}, expected {expected.item():.4f}: {mistake}")
    raise CheckFailed(f"{what} gives {value.item():.4f} on the test logits, expected {expected.item():.4f}.")


def _test_logits() -> tuple[torch.Tensor, torch.Tensor]:
    """Return fixed real and fake logits that include very confident values (|logit| = 200)."""
    generator = torch.Generator().manual_seed(0)
    real = torch.cat([torch.randn(14, 1, generator=generator) * 2 + 1, torch.tensor([[200.0], [-200.0]])])
    fake = torch.cat([torch.randn(14, 1, generator=generator) * 2 - 1, torch.tensor([[-200.0], [200.0]])])
    return real, fake


def check_discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check fn(real_logits, fake_logits) = mean(-log D(x)) + mean(-log(1 - D(G(z)))), computed from logits."""
    def body() -> str:
        real, fake = _test_logits()
        real_req, fake_req = real.clone().requires_grad_(), fake.clone().requires_grad_()
        value = _scalar(fn(real_req, fake_req), "discriminator_loss")
        expected = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                    + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        swapped = (F.binary_cross_entropy_with_logits(real, torch.zeros_like(real))
                   + F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)))
        _compare(value, expected, "discriminator_loss", {
            "the sign is flipped: the loss is -V(D, G), which D minimises.": -expected,
            "the two terms are averaged; add them (one mean over real, one over fake).": expected / 2,
            "the targets are swapped: real images have target 1, generated ones target 0.": swapped,
        })
        if not value.requires_grad:
            raise CheckFailed("the loss does not depend on the logits through autograd (did you call .item() or detach?).")
        return f"value {value.item():.4f} matches, stable for confident logits, differentiable."
    return _run_check("discriminator loss", body)


def check_generator_loss(fn: Callable[[torch.Tensor], torch.Tensor], variant: str = "non_saturating") -> bool:
    """Check fn(fake_logits): 'non_saturating' = mean(-log D(G(z))), 'saturating' = mean(log(1 - D(G(z))))."""
    if variant not in ("non_saturating", "saturating"):
        raise ValueError("variant must be 'non_saturating' or 'saturating'.")

    def body() -> str:
        _, fake = _test_logits()
        fake_req = fake.clone().requires_grad_()
        value = _scalar(fn(fake_req), f"generator_loss ({variant})")
        non_saturating = F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        saturating = -F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        expected, other = (non_saturating, saturating) if variant == "non_saturating" else (saturating, non_saturating)
        _compare(value, expected, f"generator_loss ({variant})", {
            f"this is the {'saturating' if variant == 'non_saturating' else 'non-saturating'} loss, not the one asked for.": other,
            "the sign is flipped: the generator minimises this loss.": -expected,
        })
        if not value.requires_grad:
            raise CheckFailed("the loss does not depend on the logits through autograd (did you call .item() or detach?).")
        return f"value {value.item():.4f} matches, stable for confident logits, differentiable."
    return _run_check(f"generator loss ({variant.replace('_', '-')})", body)


def _toy_gan(nz: int = 4, dim: int = 1, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """Return a tiny generator (nz -> dim) and discriminator (dim -> 1 logit) for checking training steps."""
    torch.manual_seed(seed)
    generator = nn.Sequential(nn.Linear(nz, 8), nn.ReLU(), nn.Linear(8, dim))
    discriminator = nn.Sequential(nn.Linear(dim, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    return generator, discriminator


def _changed(before: dict[str, torch.Tensor], module: nn.Module) -> bool:
    """Return True when any parameter of module differs from the snapshot `before`."""
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


def check_discriminator_step(fn: Callable[..., float]) -> bool:
    """Check fn(D, G, opt_D, x_real, z): one step on D's loss that leaves G untouched, returning the loss as a float."""
    def body() -> str:
        G, D = _toy_gan()
        opt_D = torch.optim.SGD(D.parameters(), lr=0.1)
        x_real, z = torch.randn(16, 1) + 4, torch.randn(16, 4)
        g_before, d_before = copy.deepcopy(G.state_dict()), copy.deepcopy(D.state_dict())
        with torch.no_grad():
            expected = (F.binary_cross_entropy_with_logits(D(x_real), torch.ones(16, 1))
                        + F.binary_cross_entropy_with_logits(D(G(z)), torch.zeros(16, 1))).item()
        loss = fn(D, G, opt_D, x_real, z)
        if isinstance(loss, torch.Tensor):
            loss = loss.item()
        if not isinstance(loss, float):
            raise CheckFailed(f"return the loss as a Python float (loss.item()), got {type(loss).__name__}.")
        if _changed(g_before, G):
            raise CheckFailed("the generator's weights changed during the discriminator step.")
        if any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters()):
            raise CheckFailed("gradients reached the generator: detach G(z) (or use torch.no_grad) in D's step.")
        if not _changed(d_before, D):
            raise CheckFailed("the discriminator's weights did not change: call loss.backward() and opt_D.step().")
        if abs(loss - expected) > 1e-4:
            raise CheckFailed(f"the returned loss {loss:.4f} should be {expected:.4f}: BCE(D(x), 1) + BCE(D(G(z)), 0) "
                              "measured before the update.")
        with torch.no_grad():
            after = (F.binary_cross_entropy_with_logits(D(x_real), torch.ones(16, 1))
                     + F.binary_cross_entropy_with_logits(D(G(z)), torch.zeros(16, 1))).item()
        if after >= expected:
            raise CheckFailed(f"the step did not lower D's loss ({expected:.4f} -> {after:.4f}): check the sign.")
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
        loss = fn(D, G, opt_G, z)
        if isinstance(loss, torch.Tensor):
            loss = loss.item()
        if not isinstance(loss, float):
            raise CheckFailed(f"return the loss as a Python float (loss.item()), got {type(loss).__name__}.")
        if _changed(d_before, D):
            raise CheckFailed("the discriminator's weights changed during the generator step: only opt_G may step.")
        if not _changed(g_before, G):
            raise CheckFailed("the generator's weights did not change: call loss.backward() and opt_G.step().")
        if abs(loss - expected) > 1e-4:
            hint = " That is the saturating loss; use the non-saturating -log D(G(z))." if abs(loss - saturating) < 1e-3 else ""
            raise CheckFailed(f"the returned loss {loss:.4f} should be {expected:.4f} = BCE(D(G(z)), 1) before the update.{hint}")
        with torch.no_grad():
            after = F.binary_cross_entropy_with_logits(D(G(z)), torch.ones(16, 1)).item()
        if after >= expected:
            raise CheckFailed(f"the step did not lower G's loss ({expected:.4f} -> {after:.4f}): check the sign.")
        return f"G's loss {expected:.4f} -> {after:.4f} after one step, D untouched."
    return _run_check("generator step", body)
