"""Small model plumbing that several chapters share: parameter counts and the DCGAN initialisation."""

from __future__ import annotations

from torch import nn


def n_params(model: nn.Module) -> int:
    """Return the number of parameters of a model."""
    return sum(p.numel() for p in model.parameters())


def dcgan_weights_init(module: nn.Module, std: float = 0.02) -> None:
    """Apply the DCGAN initialisation of chapter 3 (exercise 2): conv ~ N(0, std), batch-norm scale ~ N(1, std)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, std)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)
