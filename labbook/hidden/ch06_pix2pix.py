"""Hidden checks of chapter 6 (pix2pix): gradients through the U-Net and the loss, any map size."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from labbook.hidden import HiddenCheck, HiddenCheckFailed
from labutils.checks.ch06_pix2pix import _SkipUNet

CHAPTER = "06_pix2pix"
SHAPE_ERRORS = (RuntimeError, ValueError, IndexError)
bce = F.binary_cross_entropy_with_logits


def _gradients_flow(fn: Callable) -> None:
    """Fail when the U-Net's forward pass cuts the graph (a detached skip, a no_grad encoder)."""
    torch.manual_seed(0)
    net = _SkipUNet(ngf=4)
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(3, 1, 28, 28, generator=generator)
    weights = torch.randn(3, 1, 28, 28, generator=generator)
    mine = x.clone().requires_grad_()
    out = fn(net, mine)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise HiddenCheckFailed(
            "the U-Net's output does not depend on its weights through "
            "autograd: no torch.no_grad(), .detach() or .data in the forward "
            "pass."
        )
    params = [mine, *net.parameters()]
    got = torch.autograd.grad((out * weights).sum(), params, allow_unused=True)
    theirs = x.clone().requires_grad_()
    expected = torch.autograd.grad(
        (net.reference(theirs) * weights).sum(), [theirs, *net.parameters()]
    )
    names = ["the input", *(name for name, _ in net.named_parameters())]
    for name, g, e in zip(names, got, expected):
        if g is None or not torch.allclose(g, e, atol=1e-6, rtol=1e-4):
            raise HiddenCheckFailed(
                f"the U-Net's output is right but its gradient with respect to {name} is not: part "
                "of the forward pass is cut from autograd (a skip connection detached, or the "
                "encoder run under torch.no_grad()). The skips must stay in the graph, so that the "
                "encoder also learns from what the decoder does with its features."
            )


def _input_untouched(fn: Callable[[int, list], int]) -> None:
    """Fail when patchgan_output_size empties or changes the list of layers it is given."""
    layers = [(4, 2, 1), (4, 2, 1), (3, 1, 1)]
    first = fn(28, layers)
    if layers != [(4, 2, 1), (4, 2, 1), (3, 1, 1)]:
        raise HiddenCheckFailed(
            f"patchgan_output_size changed the list of layers it was given (it is now {layers}): "
            "the caller's list is then lost, and a second call with it gives another size. Read "
            "the layers without removing them: for kernel, stride, padding in layers."
        )
    second = fn(28, layers)
    if second != first:
        raise HiddenCheckFailed(
            f"two calls with the same layers give {first} and then {second}: "
            "the result must depend only on the arguments."
        )


def _patch_map_size(fn: Callable) -> None:
    """Fail when the loss assumes the 7 x 7 map of the chapter (targets of a hard-coded shape)."""
    generator = torch.Generator().manual_seed(10)
    logits = torch.randn(2, 1, 3, 3, generator=generator) * 2
    fake = torch.rand(2, 1, 12, 12, generator=generator) * 2 - 1
    target = torch.rand(2, 1, 12, 12, generator=generator) * 2 - 1
    expected = bce(logits, torch.ones_like(logits)) + 5.0 * (fake - target).abs().mean()
    try:
        value = fn(logits, fake, target, 5.0)
    except NotImplementedError:
        raise
    except SHAPE_ERRORS as err:
        raise HiddenCheckFailed(
            "the loss fails on a 3 x 3 map of patch logits for 2 pairs of 12 x 12 images "
            f"({type(err).__name__}: {str(err)[:120]}): the map's size depends on the images and "
            "on the discriminator, so build the targets from the logits themselves, "
            "torch.ones_like(d_logits_fake)."
        ) from None
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise HiddenCheckFailed("the generator loss should return a scalar tensor.")
    if not torch.allclose(value.detach().reshape(()), expected, atol=1e-4):
        raise HiddenCheckFailed(
            f"on a 3 x 3 map of patch logits for 2 pairs of 12 x 12 images the loss is "
            f"{value.item():.4f}, expected {expected.item():.4f}: average over whatever map and "
            "images you are given, without fixed sizes."
        )


def _adversarial_gradient(fn: Callable) -> None:
    """Fail when no (or a wrong) gradient reaches the patch logits: a detached adversarial term."""
    generator = torch.Generator().manual_seed(11)
    logits = (torch.randn(4, 1, 7, 7, generator=generator) * 2).requires_grad_()
    fake = (torch.rand(4, 1, 8, 8, generator=generator) * 2 - 1).requires_grad_()
    target = torch.rand(4, 1, 8, 8, generator=generator) * 2 - 1
    value = fn(logits, fake, target, 7.0)
    if not isinstance(value, torch.Tensor) or not value.requires_grad:
        raise HiddenCheckFailed(
            "the loss should be a tensor that depends on its inputs through autograd."
        )
    (grad,) = torch.autograd.grad(value.reshape(()), logits, allow_unused=True)
    expected = (torch.sigmoid(logits) - 1).detach() / logits.numel()
    if grad is None or grad.abs().max() == 0:
        raise HiddenCheckFailed(
            "no gradient reaches the discriminator's logits through your adversarial term, so the "
            "generator learns from the L1 term alone: do not detach d_logits_fake or call .item() "
            "on the adversarial term. (G's step must leave D's weights alone, not its output's "
            "gradient.)"
        )
    if not torch.allclose(grad, expected, atol=1e-7, rtol=1e-4):
        raise HiddenCheckFailed(
            "the gradient of the loss with respect to the patch logits is not that of BCE(logits, "
            "1) averaged over the patches: compute the adversarial term with "
            "F.binary_cross_entropy_with_logits(d_logits_fake, torch.ones_like(d_logits_fake))."
        )


CHECKS = [
    HiddenCheck(
        exercise=1,
        name="gradients_flow",
        target="unet_forward",
        bug="a skip connection detached (or the encoder under no_grad): right values, the "
        "visible check runs under no_grad",
        body=_gradients_flow,
    ),
    HiddenCheck(
        exercise=2,
        name="input_untouched",
        target="patchgan_output_size",
        bug="the layers popped from the caller's list (while layers: layers.pop(0))",
        body=_input_untouched,
    ),
    HiddenCheck(
        exercise=3,
        name="patch_map_size",
        target="pix2pix_generator_loss",
        bug="targets of a hard-coded 7 x 7 patch map (torch.ones(n, 1, 7, 7))",
        body=_patch_map_size,
    ),
    HiddenCheck(
        exercise=3,
        name="adversarial_gradient",
        target="pix2pix_generator_loss",
        bug="d_logits_fake detached (or the adversarial term .item()): G gets no "
        "adversarial gradient",
        body=_adversarial_gradient,
    ),
]
