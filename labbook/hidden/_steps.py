"""Helpers that several chapters' hidden checks share: stale gradients, frozen networks, updates, output ranges."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from labbook.hidden import HiddenCheckFailed


def fill_gradients(modules: Iterable[nn.Module], value: float = 1.0) -> None:
    """Leave gradients in every parameter, as an earlier backward pass of a training loop would."""
    for module in modules:
        for p in module.parameters():
            p.grad = torch.full_like(p, value)


def parameters(modules: Iterable[nn.Module]) -> list[torch.Tensor]:
    """Return detached copies of the parameters of the modules, in order."""
    return [p.detach().clone() for module in modules for p in module.parameters()]


def same(first: list[torch.Tensor], second: list[torch.Tensor], atol: float = 1e-6) -> bool:
    """Return whether two lists of tensors are equal up to rounding."""
    return all(torch.allclose(a, b, atol=atol, rtol=1e-4) for a, b in zip(first, second))


def sgd_reference(modules: list[nn.Module], loss: torch.Tensor, lr: float) -> list[torch.Tensor]:
    """Return the parameters after one plain SGD step on loss (the modules stay unchanged)."""
    params = [p for module in modules for p in module.parameters()]
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return [(p - lr * g if g is not None else p).detach().clone() for p, g in zip(params, grads)]


def trainable_state(module: nn.Module) -> tuple[list[bool], list[bool]]:
    """Return the requires_grad flag of every parameter and the training flag of every submodule."""
    return [p.requires_grad for p in module.parameters()], [m.training for m in module.modules()]


def require_left_trainable(
    module: nn.Module, before: tuple[list[bool], list[bool]], who: str, step: str, instead: str
) -> None:
    """Fail when a step switched off requires_grad or training mode of `module` and left it so."""
    flags, modes = trainable_state(module)
    if flags != before[0]:
        raise HiddenCheckFailed(
            f"after {step}, the parameters of {who} no longer require gradients: its next step "
            f"will not train it. {instead} If you switch requires_grad off, switch it back on "
            "before returning."
        )
    if modes != before[1]:
        raise HiddenCheckFailed(
            f"{step} leaves {who} in another mode than it found it (train() / eval()): batch norm "
            "and dropout then behave differently in its next step. Do not change the mode inside a "
            "step."
        )


def require_fresh_gradients(
    run: Callable[[bool], list[torch.Tensor]], step: str, optimiser: str
) -> None:
    """Fail when run(stale=True), with old gradients in the parameters, gives other weights."""
    if not same(run(False), run(True)):
        raise HiddenCheckFailed(
            f"{step} gives another update when gradients from an earlier backward pass are still "
            "in the parameters, as they are in a training loop (from the previous step, or from "
            "the other player's loss): loss.backward() adds the new gradients to the old ones. "
            f"Call {optimiser}.zero_grad() before loss.backward()."
        )


def images_can_be_negative(
    make: Callable[[], nn.Module],
    inputs: Callable[[], torch.Tensor],
    seeds: tuple[int, ...] = (0, 1, 2),
) -> bool:
    """Return whether a freshly built network gives some negative pixel for any of the seeds."""
    for seed in seeds:
        torch.manual_seed(seed)
        network = make()
        with torch.no_grad():
            if (network(inputs()) < 0).any():
                return True
    return False
