"""Hidden checks of chapter 3 (DCGAN on MNIST): the generator's output layer, the init, slerp."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from labbook.hidden import HiddenCheck, HiddenCheckFailed
from labbook.hidden._steps import images_can_be_negative

CHAPTER = "03_mnist_dcgan"
NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)


def _output_range(make_generator: Callable[[int], nn.Module]) -> None:
    """Fail when the generator's images never go below 0 (a sigmoid instead of tanh)."""

    def noise() -> torch.Tensor:
        """A fixed batch of noise vectors."""
        return torch.randn(32, 100, generator=torch.Generator().manual_seed(7))

    if not images_can_be_negative(lambda: make_generator(100), noise):
        raise HiddenCheckFailed(
            "the generator's pixels never go below 0, so it can never draw the background, which "
            "is -1 in the data (scaled to [-1, 1]): its output layer maps to [0, 1], as a sigmoid "
            "does. End the generator with nn.Tanh(), which maps onto [-1, 1]."
        )


def _calls(network: nn.Module, x: torch.Tensor) -> list[nn.Module]:
    """Return the leaf modules of network in the order in which a forward pass on x calls them."""
    order: list[nn.Module] = []
    leaves = [m for m in network.modules() if not list(m.children())]
    handles = [m.register_forward_hook(lambda m, args, out: order.append(m)) for m in leaves]
    try:
        with torch.no_grad():
            network(x)
    finally:
        for handle in handles:
            handle.remove()
    return order


def _no_norm_on_output(make_generator: Callable[[int], nn.Module]) -> None:
    """Fail when a normalisation layer comes after the generator's last convolution."""
    torch.manual_seed(0)
    generator = make_generator(100)
    order = _calls(generator, torch.randn(8, 100, generator=torch.Generator().manual_seed(3)))
    last = max((i for i, m in enumerate(order) if isinstance(m, WEIGHTED)), default=-1)
    after = [type(m).__name__ for m in order[last + 1 :] if isinstance(m, NORMS)]
    if after:
        raise HiddenCheckFailed(
            f"the generator normalises its output layer ({after[0]} after its last (transposed) "
            "convolution): that forces every batch of images to the same mean and spread, which "
            "made samples oscillate in the DCGAN paper. Batch norm goes in every layer except the "
            "generator's output: end with the last transposed convolution and nn.Tanh()."
        )


class ConvBlock(nn.Module):
    """A custom block, as many DCGAN codes have: convolution, batch norm, LeakyReLU; no weight."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False)
        self.norm = nn.BatchNorm2d(c_out)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


def _custom_modules(fn: Callable[[nn.Module], None]) -> None:
    """Fail when dcgan_init crashes on, or skips the layers of, a model built from custom blocks."""
    torch.manual_seed(0)
    # The default init gives that Conv2d a std of about 0.07, far from 0.02.
    model = nn.Sequential(ConvBlock(4, 1024), nn.ConvTranspose2d(1024, 4, 4))
    model[0].norm.bias.data.fill_(0.5)
    try:
        model.apply(fn)
    except (AttributeError, TypeError) as err:
        raise HiddenCheckFailed(
            "dcgan_init fails on a model built from a custom module class named ConvBlock (it "
            "holds a Conv2d, a BatchNorm2d and a LeakyReLU, and has no weight of its own): "
            f"{type(err).__name__}: {str(err)[:100]}. Choose the layers by their type, "
            "isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)), not by their class name: model.apply "
            "visits the layers inside every block as well."
        ) from None
    conv, norm = model[0].conv.weight, model[0].norm
    if abs(conv.mean().item()) > 0.002 or abs(conv.std().item() - 0.02) > 0.002:
        raise HiddenCheckFailed(
            f"the Conv2d inside a custom block has weights of std {conv.std().item():.4f}, not "
            "0.02: initialise every convolution of the model, whatever module holds it."
        )
    weight = norm.weight
    scales = abs(weight.mean().item() - 1) <= 0.002 and abs(weight.std().item() - 0.02) <= 0.002
    if not scales or norm.bias.abs().max() > 0:
        raise HiddenCheckFailed(
            "the BatchNorm2d inside a custom block is not initialised (scales ~ N(1, 0.02), shifts "
            "0): initialise every batch norm of the model, whatever module holds it."
        )


def _uses_times(slerp: Callable) -> None:
    """Fail when slerp ignores the values of t (a linspace of len(t) points, for example)."""
    generator = torch.Generator().manual_seed(5)
    z0, z1 = torch.randn(100, generator=generator), torch.randn(100, generator=generator)
    t = torch.tensor([0.5, 0.1, 0.9, 0.0, 1.0])
    path = slerp(z0, z1, t)
    omega = torch.arccos((z0 / z0.norm()) @ (z1 / z1.norm()))
    expected = (
        torch.sin((1 - t) * omega)[:, None] * z0 + torch.sin(t * omega)[:, None] * z1
    ) / torch.sin(omega)
    if not isinstance(path, torch.Tensor) or tuple(path.shape) != (5, 100):
        shape = tuple(path.shape) if isinstance(path, torch.Tensor) else type(path).__name__
        raise HiddenCheckFailed(f"for 5 times slerp should give the shape (5, 100), got {shape}.")
    if not torch.allclose(path, expected, atol=1e-3):
        rows = [k for k in range(5) if not torch.allclose(path[k], expected[k], atol=1e-3)]
        raise HiddenCheckFailed(
            f"for t = [0.5, 0.1, 0.9, 0.0, 1.0] row {rows[0]} is not the point at time "
            f"{t[rows[0]].item()}: use the times t you are given, in their order (they need not be "
            "evenly spaced or sorted), rather than times of your own."
        )


def _inputs_untouched(slerp: Callable) -> None:
    """Fail when slerp modifies z0, z1 or t in place."""
    generator = torch.Generator().manual_seed(6)
    z0, z1 = torch.randn(100, generator=generator), torch.randn(100, generator=generator)
    t = torch.linspace(0, 1, 5)
    copies = [z0.clone(), z1.clone(), t.clone()]
    path = slerp(z0, z1, t)
    for name, now, before in zip(("z0", "z1", "t"), (z0, z1, t), copies):
        if not torch.equal(now, before):
            raise HiddenCheckFailed(
                f"slerp changed its argument {name} in place, so the caller's tensor is "
                "overwritten (with z0 or z1 normalised in place, the path no longer runs between "
                "the vectors you were given). Compute new tensors (u0 = z0 / z0.norm()) instead of "
                "using in-place operations (z0 /= ..., .div_(), .unsqueeze_())."
            )
    if not torch.allclose(path[0], copies[0], atol=1e-4):
        raise HiddenCheckFailed("the path must start at the z0 you were given (t = 0).")


CHECKS = [
    HiddenCheck(
        exercise=1,
        name="output_range",
        target="make_generator",
        bug="the generator ends with a sigmoid: images in [0, 1], which the visible [-1, "
        "1] check accepts",
        body=_output_range,
    ),
    HiddenCheck(
        exercise=1,
        name="no_norm_on_output",
        target="make_generator",
        bug="a batch norm on the output layer (after the last transposed convolution)",
        body=_no_norm_on_output,
    ),
    HiddenCheck(
        exercise=2,
        name="custom_modules",
        target="dcgan_init",
        bug="layers chosen by class name ('Conv' in classname): crashes on custom blocks "
        "such as ConvBlock",
        body=_custom_modules,
    ),
    HiddenCheck(
        exercise=3,
        name="uses_times",
        target="slerp",
        bug="the times are rebuilt (torch.linspace(0, 1, len(t))) instead of using t",
        body=_uses_times,
    ),
    HiddenCheck(
        exercise=3,
        name="inputs_untouched",
        target="slerp",
        bug="z0 and z1 normalised in place (z0 /= z0.norm()): the caller's vectors change",
        body=_inputs_untouched,
    ),
]
