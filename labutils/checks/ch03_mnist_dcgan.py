"""Checkers of chapter 3 (MNIST, DCGAN): the generator, its initialisation, slerp."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._harness import CheckFailed, _run_check


def check_image_generator(
    make_generator: Callable[[int], nn.Module], image_shape: tuple[int, int, int] = (1, 28, 28)
) -> bool:
    """Check make_generator(nz): a module from noise (N, nz) to images (N, *image_shape) in [-1, 1], depending on z."""

    def body() -> str:
        for nz in (100, 10):
            torch.manual_seed(0)
            generator = make_generator(nz)
            if not isinstance(generator, nn.Module):
                raise CheckFailed(
                    f"make_generator({nz}) should return an nn.Module, got {type(generator).__name__}."
                )
            z = torch.randn(8, nz)
            try:
                images = generator(z)
            except RuntimeError as err:
                raise CheckFailed(
                    f"the generator built with nz={nz} fails on noise of shape (8, {nz}): {err}. "
                    "Check the input size of the first layer and every reshape."
                ) from None
            if not isinstance(images, torch.Tensor) or tuple(images.shape) != (8, *image_shape):
                shape = (
                    tuple(images.shape)
                    if isinstance(images, torch.Tensor)
                    else type(images).__name__
                )
                raise CheckFailed(
                    f"noise of shape (8, {nz}) should give images of shape (8, {', '.join(map(str, image_shape))}), "
                    f"got {shape}. Print the shape after each layer to see where it goes wrong."
                )
            if images.min() < -1 - 1e-6 or images.max() > 1 + 1e-6:
                raise CheckFailed(
                    f"pixel values range over [{images.min().item():.2f}, {images.max().item():.2f}] but the "
                    "data is scaled to [-1, 1]: end the generator with nn.Tanh()."
                )
            if (images[0] - images[1]).abs().max() < 1e-6:
                raise CheckFailed(
                    "two different noise vectors give the same image: the output must depend on z."
                )
            images.mean().backward()
            if not any(
                p.grad is not None and p.grad.abs().sum() > 0 for p in generator.parameters()
            ):
                raise CheckFailed(
                    "no gradient reaches the generator's parameters (a detach or torch.no_grad inside?)."
                )
            generator.eval()
            with torch.no_grad():
                single = generator(torch.randn(1, nz))
            if tuple(single.shape) != (1, *image_shape):
                raise CheckFailed(
                    f"in eval mode a single noise vector gives shape {tuple(single.shape)}."
                )
        n = sum(p.numel() for p in make_generator(100).parameters())
        shape = ", ".join(map(str, image_shape))
        return f"(N, nz) -> (N, {shape}) in [-1, 1] for nz = 100 and 10; {n:,} parameters for nz = 100."

    return _run_check("image generator", body)


def check_weights_init(fn: Callable[[nn.Module], None], std: float = 0.02) -> bool:
    """Check fn(module) for model.apply: conv weights ~ N(0, std), batch-norm weights ~ N(1, std), biases 0."""

    def body() -> str:
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(8, 256, 4),
            nn.BatchNorm2d(4096),
            nn.ConvTranspose2d(64, 16, 4),  # defaults: std ~0.05, ~0.036
            nn.BatchNorm1d(4096),
        )
        model[1].bias.data.fill_(0.5)
        model[3].bias.data.fill_(0.5)
        model.apply(fn)
        for name, layer in (("Conv2d", model[0]), ("ConvTranspose2d", model[2])):
            mean, sd = layer.weight.mean().item(), layer.weight.std().item()
            if abs(mean) > 0.1 * std or abs(sd - std) > 0.1 * std:
                raise CheckFailed(
                    f"{name} weights have mean {mean:.4f} and std {sd:.4f}; expected N(0, {std}) "
                    f"(nn.init.normal_(m.weight, 0.0, {std}))."
                )
        for name, layer in (("BatchNorm2d", model[1]), ("BatchNorm1d", model[3])):
            mean, sd = layer.weight.mean().item(), layer.weight.std().item()
            if abs(mean - 1) > 0.1 * std or abs(sd - std) > 0.1 * std:
                raise CheckFailed(
                    f"{name} weights have mean {mean:.4f} and std {sd:.4f}; expected N(1, {std}): the "
                    "scale of a batch norm starts near 1, not 0, or every activation would vanish."
                )
            if layer.bias.abs().max() > 0:
                raise CheckFailed(f"{name} biases should be set to 0 (nn.init.zeros_(m.bias)).")
        return f"conv and transposed-conv weights ~ N(0, {std}), batch-norm weights ~ N(1, {std}) with zero biases."

    return _run_check("weight initialisation", body)


def check_slerp(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check fn(z0, z1, t): spherical interpolation of (nz,) vectors at the times t (T,), returning (T, nz)."""

    def body() -> str:
        generator = torch.Generator().manual_seed(0)
        z0, z1 = torch.randn(100, generator=generator), torch.randn(100, generator=generator)
        t = torch.linspace(0, 1, 7)
        path = fn(z0, z1, t)
        if not isinstance(path, torch.Tensor) or tuple(path.shape) != (7, 100):
            shape = tuple(path.shape) if isinstance(path, torch.Tensor) else type(path).__name__
            raise CheckFailed(
                f"z0, z1 of shape (100,) and t of shape (7,) should give (7, 100), got {shape}."
            )
        if not (torch.allclose(path[0], z0, atol=1e-4) and torch.allclose(path[-1], z1, atol=1e-4)):
            raise CheckFailed("the path must start at z0 (t = 0) and end at z1 (t = 1).")
        omega = torch.arccos((z0 / z0.norm()) @ (z1 / z1.norm()))
        expected = (
            torch.sin((1 - t) * omega)[:, None] * z0 + torch.sin(t * omega)[:, None] * z1
        ) / torch.sin(omega)
        linear = (1 - t)[:, None] * z0 + t[:, None] * z1
        if torch.allclose(path, linear, atol=1e-3):
            raise CheckFailed(
                "this is linear interpolation: its midpoint has a smaller norm than z0 and z1 (about "
                f"{linear[3].norm():.1f} against {z0.norm():.1f}), atypical for a Gaussian; use the angle "
                "omega between z0 and z1."
            )
        if not torch.allclose(path, expected, atol=1e-3):
            raise CheckFailed(
                "the points differ from sin((1-t) omega)/sin(omega) z0 + sin(t omega)/sin(omega) z1, "
                "with cos(omega) = z0.z1 / (|z0| |z1|)."
            )
        return (
            f"endpoints exact; midpoint norm {path[3].norm():.2f} "
            f"(linear: {linear[3].norm():.2f}, |z0| = {z0.norm():.2f})."
        )

    return _run_check("spherical interpolation", body)
