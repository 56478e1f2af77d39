"""Drawing samples from a trained generator: fixed latent vectors and batched generation in eval mode."""

from __future__ import annotations

import torch
from torch import nn


def latent_noise(n: int, nz: int, seed: int) -> torch.Tensor:
    """Return n latent vectors z ~ N(0, I) of size nz on the CPU, the same for every call with this seed."""
    if n < 1 or nz < 1:
        raise ValueError(f"latent_noise needs n >= 1 and nz >= 1, got n={n}, nz={nz}.")
    return torch.randn(n, nz, generator=torch.Generator().manual_seed(seed))


def generate(generator: nn.Module, *inputs: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Return generator(*inputs) on the CPU, computed in eval mode without gradients, in batches."""
    if not inputs or any(len(x) != len(inputs[0]) for x in inputs):
        raise ValueError(
            f"generate needs inputs of equal length, got {[tuple(x.shape) for x in inputs]}."
        )
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()  # batch norm uses its running statistics: a sample does not depend on the others in its batch
    try:
        with torch.no_grad():
            return torch.cat(
                [
                    generator(*(x[i : i + batch_size].to(device) for x in inputs)).cpu()
                    for i in range(0, len(inputs[0]), batch_size)
                ]
            )
    finally:
        generator.train(was_training)
