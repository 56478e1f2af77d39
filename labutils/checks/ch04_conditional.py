"""Checkers of chapter 4 (conditional GANs): label maps and the conditional step."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._harness import D_UNCHANGED, CheckFailed, _run_check, step_outcome


def check_label_maps(fn: Callable[[torch.Tensor, int], torch.Tensor], n_classes: int = 10) -> bool:
    """Check fn(y, size): one-hot label maps (N, n_classes, size, size), channel y[i] all ones for sample i."""

    def body() -> str:
        y = torch.tensor([3, 0, 9, 3])
        for size in (1, 7, 28):
            maps = fn(y, size)
            if not isinstance(maps, torch.Tensor) or tuple(maps.shape) != (
                4,
                n_classes,
                size,
                size,
            ):
                shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
                raise CheckFailed(
                    f"labels of shape (4,) and size {size} should give ({4}, {n_classes}, {size}, {size}), "
                    f"got {shape}."
                )
            if not maps.is_floating_point():
                raise CheckFailed(
                    f"the maps should be floats (to concatenate with images), got {maps.dtype}: use .float()."
                )
            expected = torch.zeros(4, n_classes, size, size)
            expected[torch.arange(4), y] = 1.0
            if not torch.equal(maps.float(), expected):
                wrong = [i for i in range(4) if not torch.equal(maps[i].float(), expected[i])]
                raise CheckFailed(
                    f"sample {wrong[0]} (label {y[wrong[0]].item()}) has the wrong maps at size {size}: "
                    "channel y must be all ones, every other channel all zeros."
                )
        return f"(N,) -> (N, {n_classes}, size, size) one-hot maps for sizes 1, 7 and 28."

    return _run_check("label maps", body)


class _ToyConditional(nn.Module):
    """A tiny conditional network for the checkers: input (N, 1) and labels (N,) -> (N, 1)."""

    def __init__(self, n_in: int, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(10, 3)
        self.net = nn.Sequential(nn.Linear(n_in + 3, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))

    def forward(self, x, y):
        return self.net(torch.cat([x, self.embed(y)], dim=1))


def check_conditional_discriminator_step(fn: Callable[..., float]) -> bool:
    """Check fn(D, G, opt_D, x_real, y, z): one step on the conditional D loss, G untouched, the loss as a float."""

    def body() -> str:
        G, D = _ToyConditional(4, seed=0), _ToyConditional(1, seed=1)
        opt_D = torch.optim.SGD(D.parameters(), lr=0.1)
        x_real, y, z = torch.randn(16, 1) + 4, torch.arange(16) % 10, torch.randn(16, 4)
        g_before, d_before = copy.deepcopy(G.state_dict()), copy.deepcopy(D.state_dict())

        def loss_of(labels_fake: torch.Tensor) -> float:
            with torch.no_grad():
                return (
                    F.binary_cross_entropy_with_logits(D(x_real, y), torch.ones(16, 1))
                    + F.binary_cross_entropy_with_logits(
                        D(G(z, labels_fake), labels_fake), torch.zeros(16, 1)
                    )
                ).item()

        expected, shuffled = loss_of(y), loss_of(y.roll(1))
        loss = step_outcome(
            fn(D, G, opt_D, x_real, y, z),
            frozen=[
                (g_before, G, "the generator's weights changed during the discriminator step.")
            ],
            no_gradients=(G, "gradients reached the generator: detach G(z, y) in D's step."),
            trained=[(d_before, D, D_UNCHANGED)],
        )
        if abs(loss - expected) > 1e-4:
            hint = (
                " The generated pairs must use the same labels y for G and for D."
                if abs(loss - shuffled) < 1e-4
                else ""
            )
            raise CheckFailed(
                f"the returned loss {loss:.4f} should be {expected:.4f} = BCE(D(x, y), 1) + "
                f"BCE(D(G(z, y), y), 0), measured before the update.{hint}"
            )
        return f"D's loss {expected:.4f} measured, D updated, G untouched."

    return _run_check("conditional discriminator step", body)
