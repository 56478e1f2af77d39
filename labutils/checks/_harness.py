"""What every checker shares: run a check, print pass / fail / not done, compare values with diagnoses."""

from __future__ import annotations

import traceback
from collections.abc import Callable

import torch
from torch import nn

try:
    from ..text import say
except ImportError:  # the grader loads a pristine copy of the checkers on its own, outside labutils
    say = print


class CheckFailed(Exception):
    """Raised inside a checker to report what is wrong with a student's implementation."""


def _run_check(name: str, body: Callable[[], str]) -> bool:
    """Run one checker body, print a pass or a clear explanation, and return whether it passed."""
    try:
        with torch.random.fork_rng(
            devices=range(torch.cuda.device_count())
        ):  # the checks seed torch: leave the notebook's random state alone
            detail = body()
    except NotImplementedError as err:
        say(
            f"[not done] {name}: not implemented yet ({err or 'the stub is still in place'}). "
            "Replace the `raise NotImplementedError` line with your code."
        )
        return False
    except CheckFailed as err:
        say(f"[fail] {name}: {err}")
        return False
    except (
        Exception
    ) as err:  # the student's code crashed: say where, briefly, without a library traceback
        frames = [
            f
            for f in traceback.extract_tb(err.__traceback__)
            if "labutils" not in f.filename and "-packages" not in f.filename
        ]  # the student's own frames
        where = (
            f" (in {frames[-1].name}, line {frames[-1].lineno}: {frames[-1].line})"
            if frames
            else ""
        )
        say(f"[fail] {name}: your code raised {type(err).__name__}: {err}{where}")
        return False
    say(f"[pass] {name}: {detail}")
    return True


def _scalar(value, what: str) -> torch.Tensor:
    """Check that a student's result is a finite scalar tensor and return it."""
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{what} should return a torch tensor, got {type(value).__name__}.")
    if value.numel() != 1:
        raise CheckFailed(
            f"{what} should return a scalar (average over the batch), got shape {tuple(value.shape)}."
        )
    if not torch.isfinite(value).all():
        raise CheckFailed(
            f"{what} returned {value.item()} for confident logits (|logit| = 200): compute the loss from "
            "logits with F.binary_cross_entropy_with_logits or F.logsigmoid, never log(sigmoid(.))."
        )
    return value.reshape(())


def _compare(
    value: torch.Tensor,
    expected: torch.Tensor,
    what: str,
    variants: dict[str, torch.Tensor],
    on: str = "the test logits",
    formula: str = "",
) -> None:
    """Raise CheckFailed with a diagnosis when value differs from expected (recognising common mistakes)."""
    if torch.allclose(value, expected, atol=1e-4, rtol=1e-4):
        return
    for mistake, candidate in variants.items():
        if torch.allclose(value, candidate, atol=1e-4, rtol=1e-4):
            raise CheckFailed(
                f"{what} gives {value.item():.4f}, expected {expected.item():.4f}: {mistake}"
            )
    raise CheckFailed(
        f"{what} gives {value.item():.4f} on {on}, expected {expected.item():.4f}{formula}."
    )


def _scalar_tensor(value, message: str) -> torch.Tensor:
    """Return value as a 0-d tensor; raise CheckFailed(message, and what came instead) if it is not a scalar tensor."""
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise CheckFailed(f"{message}, got {got}.")
    return value.reshape(())


def _changed(before: dict[str, torch.Tensor], module: nn.Module) -> bool:
    """Return True when any parameter of module differs from the snapshot `before`."""
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


D_UNCHANGED = "the discriminator's weights did not change: call loss.backward() and opt_D.step()."


def step_outcome(
    loss,
    frozen: list[tuple[dict[str, torch.Tensor], nn.Module, str]],
    trained: list[tuple[dict[str, torch.Tensor], nn.Module, str]],
    no_gradients: tuple[nn.Module, str] | None = None,
) -> float:
    """Make the checks every training-step checker makes, then return the loss as a float.

    The loss must come back as a float; each frozen network (state before, module, message) must keep
    its weights, and `no_gradients` (module, message) must hold no gradient; each trained network must
    have changed.
    """
    if isinstance(loss, torch.Tensor):
        loss = loss.item()
    if not isinstance(loss, float):
        raise CheckFailed(
            f"return the loss as a Python float (loss.item()), got {type(loss).__name__}."
        )
    for before, module, message in frozen:
        if _changed(before, module):
            raise CheckFailed(message)
    if no_gradients is not None:
        module, message = no_gradients
        if any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters()):
            raise CheckFailed(message)
    for before, module, message in trained:
        if not _changed(before, module):
            raise CheckFailed(message)
    return loss


def require_lower(before: float, after: float, whose: str) -> None:
    """Fail when one step did not lower the loss it trained on (a flipped sign, usually)."""
    if after >= before:
        raise CheckFailed(
            f"the step did not lower {whose} loss ({before:.4f} -> {after:.4f}): check the sign."
        )
