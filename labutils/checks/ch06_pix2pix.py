"""Checkers of chapter 6 (pix2pix): the U-Net, the PatchGAN, the generator loss."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._harness import CheckFailed, _compare, _run_check, _scalar


class _SkipUNet(nn.Module):
    """The chapter's two-level U-Net without dropout, to check a student's forward pass (blocks named as there)."""

    def __init__(self, ngf: int = 4):
        super().__init__()
        self.ngf = ngf
        self.down1 = nn.Sequential(nn.Conv2d(1, ngf, 4, 2, 1), nn.LeakyReLU(0.2))  # 28 -> 14
        self.down2 = nn.Sequential(nn.Conv2d(ngf, 2 * ngf, 4, 2, 1), nn.LeakyReLU(0.2))  # 14 -> 7
        self.bottleneck = nn.Sequential(nn.Conv2d(2 * ngf, 2 * ngf, 3, 1, 1), nn.ReLU())  # 7 -> 7
        self.up2 = nn.Sequential(nn.ConvTranspose2d(4 * ngf, ngf, 4, 2, 1), nn.ReLU())  # 7 -> 14
        self.up1 = nn.Sequential(nn.ConvTranspose2d(2 * ngf, 1, 4, 2, 1), nn.Tanh())  # 14 -> 28

    def reference(self, x: torch.Tensor, swap: bool = False) -> torch.Tensor:
        cat = (
            (lambda up, skip: torch.cat([skip, up], 1))
            if swap
            else (lambda up, skip: torch.cat([up, skip], 1))
        )
        h1 = self.down1(x)
        h2 = self.down2(h1)
        return self.up1(cat(self.up2(cat(self.bottleneck(h2), h2)), h1))


class _ShapeGuard(nn.Module):
    """Wrap a decoder block: raise CheckFailed with a diagnosis when its input does not have the expected shape."""

    def __init__(self, block: nn.Module, name: str, expected: tuple[int, ...], parts: str):
        super().__init__()
        self.block, self.name, self.expected, self.parts = block, name, expected, parts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(x.shape)
        if shape != self.expected:
            n, c = self.expected[:2]
            if shape[0] == 2 * n:
                hint = "you concatenated along the batch axis (dim 0): concatenate the channels, dim=1."
            elif len(shape) == 4 and shape[0] == n and shape[1] == c // 2:
                hint = f"it received only half of its channels: the skip connection is missing ({self.parts})."
            else:
                hint = f"it must receive {self.parts}, concatenated along the channels (dim=1)."
            raise CheckFailed(
                f"{self.name} received a tensor of shape {shape}, expected {self.expected}: {hint}"
            )
        return self.block(x)


def check_unet_skip_shapes(fn: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> bool:
    """Check fn(net, x): the U-Net forward pass with skips [up2(cat[bottleneck, down2]), up1(cat[., down1])]."""

    def body() -> str:
        torch.manual_seed(0)
        net = _SkipUNet(ngf=4)
        x = torch.randn(3, 1, 28, 28)
        with torch.no_grad():
            expected, swapped = net.reference(x), net.reference(x, swap=True)
        g = net.ngf
        net.up2 = _ShapeGuard(
            net.up2,
            "up2",
            (3, 4 * g, 7, 7),
            f"the bottleneck's output ({2 * g} channels, 7x7) and the skip from down2 ({2 * g} channels)",
        )
        net.up1 = _ShapeGuard(
            net.up1,
            "up1",
            (3, 2 * g, 14, 14),
            f"up2's output ({g} channels, 14x14) and the skip from down1 ({g} channels)",
        )
        with torch.no_grad():
            out = fn(net, x)
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(f"the forward pass should return a tensor, got {type(out).__name__}.")
        if tuple(out.shape) != (3, 1, 28, 28):
            raise CheckFailed(
                f"the output has shape {tuple(out.shape)}, expected (3, 1, 28, 28): the input's shape."
            )
        if not torch.allclose(out, expected, atol=1e-5):
            if torch.allclose(out, swapped, atol=1e-5):
                raise CheckFailed(
                    "the skips are concatenated in the order [skip, decoder]: the chapter's blocks were "
                    "built for [decoder output, skip], torch.cat([up, skip], dim=1)."
                )
            raise CheckFailed(
                "the shapes are right but the output differs from the U-Net's: use each block once, in "
                "the order down1, down2, bottleneck, up2, up1, with the skip from down2 at up2 and the "
                "skip from down1 at up1."
            )
        return (
            f"up2 receives (N, {4 * g}, 7, 7) = bottleneck + down2, up1 receives (N, {2 * g}, 14, 14) = up2 + "
            "down1, and the output matches the reference."
        )

    return _run_check("U-Net skip connections", body)


def _conv_output_size(size: int, layers) -> int:
    for kernel, stride, padding in layers:
        size = (size + 2 * padding - kernel) // stride + 1
    return size


def check_patchgan_output_size(fn: Callable[[int, list[tuple[int, int, int]]], int]) -> bool:
    """Check fn(size, layers): the side of the logit map after conv layers given as (kernel, stride, padding)."""

    def body() -> str:
        chapter = [(4, 2, 1), (4, 2, 1), (3, 1, 1)]
        pix2pix_70 = [
            (4, 2, 1),
            (4, 2, 1),
            (4, 2, 1),
            (4, 1, 1),
            (4, 1, 1),
        ]  # the paper's 70x70 PatchGAN
        cases = [
            (28, chapter),
            (256, pix2pix_70),
            (29, [(4, 2, 1)]),
            (32, [(3, 1, 0), (5, 2, 0)]),
            (16, [(4, 2, 1)] * 3),
        ]
        for size, layers in cases:
            got = fn(size, list(layers))
            expected = _conv_output_size(
                size, layers
            )  # tests/test_checks.py checks it against real convolutions
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                got = got.item()
            if isinstance(got, float) and not got.is_integer():
                raise CheckFailed(
                    f"size {size} with layers {layers} gives {got}, not a whole number: the division by "
                    "the stride is rounded down (floor, //), as a convolution drops incomplete windows."
                )
            if not isinstance(got, (int, float)) or isinstance(got, bool):
                raise CheckFailed(f"return the side as an int, got {type(got).__name__}.")
            if got != expected:
                no_padding = _conv_output_size(size, [(k, s, 0) for k, s, _ in layers])
                no_plus_one = size
                for kernel, stride, padding in layers:
                    no_plus_one = (no_plus_one + 2 * padding - kernel) // stride
                one_side = _conv_output_size(size, [(k, s, p / 2) for k, s, p in layers])
                hint = {
                    no_padding: " The padding is missing: it adds 2 * padding to the size.",
                    no_plus_one: " The '+ 1' is missing: a window fits at (size + 2p - k) // s + 1 positions.",
                    one_side: " The padding is added on both sides: size + 2 * padding.",
                }.get(got, "")
                raise CheckFailed(
                    f"size {size} with layers {layers} gives {got}, expected {expected}.{hint}"
                )
        return "28 -> 7 for the chapter's PatchGAN, 256 -> 30 for the paper's 70x70 PatchGAN, and three other stacks."

    return _run_check("PatchGAN output size", body)


def check_pix2pix_generator_loss(
    fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor],
) -> bool:
    """Check fn(d_logits_fake, fake, target, lam): mean BCE(D(x, G(x)), 1) over patches + lam * mean |G(x) - y|."""

    def body() -> str:
        torch.manual_seed(0)
        logits = torch.randn(4, 1, 7, 7) * 2
        logits[0, 0, 0, 0] = -200.0  # a confident patch: log(sigmoid(.)) would give -inf
        fake = (torch.rand(4, 1, 8, 8) * 2 - 1).requires_grad_(True)
        target = torch.rand(4, 1, 8, 8) * 2 - 1
        lam = 7.0
        value = _scalar(fn(logits, fake, target, lam), "the generator loss")
        bce = F.binary_cross_entropy_with_logits
        adv = bce(logits, torch.ones_like(logits))
        l1, l2 = (fake - target).abs().mean(), ((fake - target) ** 2).mean()
        expected = adv + lam * l1
        _compare(
            value.detach(),
            expected.detach(),
            "the generator loss",
            {
                "the reconstruction term is L2 (squared error); pix2pix uses L1, mean |G(x) - y|.": (
                    adv + lam * l2
                ).detach(),
                "the adversarial term is the saturating log(1 - D(x, G(x))); use BCE with target 1 (non-saturating).": (
                    -bce(logits, torch.zeros_like(logits)) + lam * l1
                ).detach(),
                "lambda multiplies the adversarial term; it weights the L1 term: adv + lam * L1.": (
                    lam * adv + l1
                ).detach(),
                "lambda is missing: adv + lam * L1.": (adv + l1).detach(),
                "the L1 term is a sum over pixels; take the mean, as the paper and the chapter do.": (
                    adv + lam * (fake - target).abs().sum()
                ).detach(),
                "the patches' losses are summed; average them (BCE over the whole logit map).": (
                    bce(logits, torch.ones_like(logits), reduction="sum") + lam * l1
                ).detach(),
            },
        )
        if value.grad_fn is None:
            raise CheckFailed(
                "the loss does not depend on the generated images through autograd: do not detach fake."
            )
        value.backward()
        if fake.grad is None or fake.grad.abs().sum() == 0:
            raise CheckFailed("no gradient reaches the generated images.")
        again = _scalar(
            fn(logits, fake.detach(), target, 0.0), "the generator loss with lam = 0"
        ).detach()
        if not torch.allclose(again, adv, atol=1e-4):
            raise CheckFailed(
                f"with lam = 0 the loss must be the adversarial term alone ({adv.item():.4f}), "
                f"got {again.item():.4f}: use the lam argument, not a global."
            )
        return "BCE with target 1 averaged over the patches + lam * mean |G(x) - y|, stable on confident logits."

    return _run_check("pix2pix generator loss", body)
