"""Hidden checks of chapter 5 (WGAN): unequal batches, nested critics, the penalty's parts, channels-last weights."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from labbook.hidden import HiddenCheck, HiddenCheckFailed

CHAPTER = "05_wgan"
SHAPE_ERRORS = (RuntimeError, ValueError, IndexError)


def _unequal_batches(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Fail when critic_loss is wrong (or crashes) for 8 real and 24 generated scores."""
    generator = torch.Generator().manual_seed(12)
    real = torch.randn(8, 1, generator=generator) * 3 + 2
    fake = torch.randn(24, 1, generator=generator) * 3 - 1
    expected = fake.mean() - real.mean()
    try:
        value = fn(real, fake)
    except NotImplementedError:
        raise
    except SHAPE_ERRORS as err:
        raise HiddenCheckFailed(
            f"critic_loss fails for 8 real and 24 generated scores ({type(err).__name__}: "
            f"{str(err)[:120]}): the two batches need not have the same size, so do not pair them "
            "sample by sample; take the two means separately, scores_fake.mean() - "
            "scores_real.mean()."
        ) from None
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise HiddenCheckFailed("critic_loss should return a scalar tensor.")
    if not torch.allclose(value.detach().reshape(()), expected, atol=1e-4):
        raise HiddenCheckFailed(
            f"for 8 real and 24 generated scores critic_loss gives {value.item():.4f}, expected "
            f"E f(fake) - E f(real) = {expected.item():.4f}: average each batch over its own size."
        )


class _Scale(nn.Module):
    """A learned output scale: a parameter held directly by a custom module."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.gain * x


def _nested_critic() -> nn.Module:
    """Return a critic whose layers sit in blocks and in a custom module, as real critics do."""
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.LeakyReLU(0.2)),
        nn.Sequential(nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4), nn.LeakyReLU(0.2)),
        nn.Flatten(),
        nn.Linear(4, 1),
        _Scale(),
    )


def _nested_modules(fn: Callable[[nn.Module, float], None]) -> None:
    """Fail when clipping misses the parameters of nested blocks or custom modules."""
    torch.manual_seed(0)
    critic = _nested_critic()
    with torch.no_grad():
        for p in critic.parameters():
            p.copy_(torch.randn_like(p) * 0.05 + 0.02)
        critic[-1].gain.fill_(0.5)
    before = {name: p.detach().clone() for name, p in critic.named_parameters()}
    try:
        fn(critic, 0.03)
    except (TypeError, AttributeError) as err:
        raise HiddenCheckFailed(
            "clip_critic_weights fails on a critic built from blocks and a custom module "
            f"({type(err).__name__}: {str(err)[:100]}): loop over critic.parameters(), which "
            "reaches every parameter of every submodule."
        ) from None
    for name, p in critic.named_parameters():
        if not torch.allclose(p.detach(), before[name].clamp(-0.03, 0.03)):
            raise HiddenCheckFailed(
                f"on a critic whose layers sit inside blocks, parameter {name} still has values up "
                f"to {p.detach().abs().max().item():.3f} > c = 0.03: looping over the top-level "
                "layers (or over chosen layer types) misses the rest. Loop over "
                "critic.parameters(), which reaches every parameter of every submodule."
            )


class _Recorder(nn.Module):
    """A small critic that remembers the inputs that require gradients (the interpolates)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        if x.requires_grad:
            self.seen.append(x.detach().clone())
        return self.net(x)


def _per_sample_epsilon(fn: Callable[..., torch.Tensor]) -> None:
    """Fail when the interpolates use one epsilon per pixel instead of one per sample."""
    torch.manual_seed(0)
    critic = _Recorder()
    generator = torch.Generator().manual_seed(8)
    real = torch.randn(16, 1, 4, 4, generator=generator)
    fake = real + 1 + torch.rand(16, 1, 4, 4, generator=generator)  # differs at every pixel
    fn(critic, real, fake)
    if not critic.seen:
        raise HiddenCheckFailed(
            "the critic never received the interpolates x_hat with "
            "requires_grad=True: compute the gradient at x_hat."
        )
    x_hat = critic.seen[0]
    if tuple(x_hat.shape) != tuple(real.shape):
        raise HiddenCheckFailed(
            f"the interpolates have shape {tuple(x_hat.shape)}, expected "
            f"{tuple(real.shape)}, one per real/generated pair."
        )
    position = ((x_hat - fake) / (real - fake)).flatten(1)  # epsilon of each pixel
    spread = (position.max(dim=1).values - position.min(dim=1).values).max().item()
    if spread > 1e-4:
        raise HiddenCheckFailed(
            "the interpolates mix real and generated images with a different epsilon at each "
            "pixel, so x_hat does not lie on the segment between the two images, where the penalty "
            "belongs. Draw one epsilon per sample, torch.rand(N, 1, 1, 1), and let it broadcast "
            "over the pixels (torch.rand_like(real) draws one per pixel)."
        )
    if position.min() < -1e-4 or position.max() > 1 + 1e-4:
        raise HiddenCheckFailed(
            "the interpolates lie outside the segment between the real and the "
            "generated image: epsilon must be drawn from U[0, 1]."
        )


class _SquareOfSum(nn.Module):
    """f(x) = gain / 2 (sum of the pixels)^2: its input gradient has norm |sum x| sqrt(pixels)."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return 0.5 * self.gain * x.flatten(1).sum(dim=1, keepdim=True) ** 2


def _per_sample_penalty(fn: Callable[..., torch.Tensor]) -> None:
    """Fail when the penalty is not the mean of the per-sample (||grad|| - 1)^2."""
    norms = torch.tensor([0.25, 0.5, 1.0, 2.0, 3.0])  # the gradient norm at each sample
    noise = torch.randn(5, 1, 4, 4, generator=torch.Generator().manual_seed(9))
    noise = noise - noise.mean(dim=(1, 2, 3), keepdim=True)  # zero sum: it moves no gradient norm
    images = noise + (norms / 4 / 16)[:, None, None, None]  # pixels summing to norm / sqrt(16)
    value = fn(_SquareOfSum(), images, images.clone())  # real = fake: every epsilon gives x_hat = x
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise HiddenCheckFailed("the penalty should be a scalar tensor (a mean over the batch).")
    value = value.item()
    expected = ((norms - 1) ** 2).mean().item()
    diagnoses = {
        "you square the mean gradient norm: square each sample's (||grad|| - 1) first, then "
        "average over the batch.": ((norms.mean() - 1) ** 2).item(),
        "you take |(||grad|| - 1)|: the penalty squares it.": (norms - 1).abs().mean().item(),
        "only norms above 1 are penalised: WGAN-GP's penalty is two-sided, (||grad|| - 1)^2 for "
        "every sample.": ((norms - 1).clamp(min=0) ** 2).mean().item(),
    }
    if abs(value - expected) > 1e-3:
        for mistake, candidate in diagnoses.items():
            if abs(value - candidate) < 1e-3:
                raise HiddenCheckFailed(
                    "for a critic whose gradient norms are 0.25, 0.5, 1, 2 and 3 on five samples "
                    f"the penalty should be {expected:.4f}, got {value:.4f}: {mistake}"
                )
        raise HiddenCheckFailed(
            "for a critic whose gradient norms are 0.25, 0.5, 1, 2 and 3 on five samples the "
            f"penalty should be mean((||grad|| - 1)^2) = {expected:.4f}, got {value:.4f}: take "
            "each sample's norm over all its pixels, subtract 1, square, then average over the "
            "batch."
        )


def _channels_last(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Fail on a convolution's weight in channels-last layout (not contiguous)."""
    generator = torch.Generator().manual_seed(21)
    weight = torch.randn(16, 8, 4, 4, generator=generator).to(memory_format=torch.channels_last)
    expected = torch.linalg.matrix_norm(weight.reshape(16, -1), ord=2).item()
    try:
        sigma, _ = fn(weight, 50, None)
    except RuntimeError as err:
        raise HiddenCheckFailed(
            "on a convolution's weight in channels-last layout (as this chapter's MNIST models "
            f"use) your code raised RuntimeError: {str(err)[:100]}. Such a weight is not "
            "contiguous, so weight.view(out, -1) fails: use weight.reshape(weight.shape[0], -1), "
            "which copies when it must."
        ) from None
    if abs(float(sigma) - expected) > 1e-3 * expected:
        raise HiddenCheckFailed(
            f"on a convolution's weight in channels-last layout the estimate is {float(sigma):.4f}, "
            f"but the largest singular value of weight.reshape(out, -1) is {expected:.4f}: "
            "flatten the weight with reshape, which follows the logical order of its elements, "
            "not with its memory layout."
        )


CHECKS = [
    HiddenCheck(
        exercise=1,
        name="unequal_batches",
        target="critic_loss",
        bug="(scores_fake - scores_real).mean(): pairs samples, fails for unequal batches",
        body=_unequal_batches,
    ),
    HiddenCheck(
        exercise=2,
        name="nested_modules",
        target="clip_critic_weights",
        bug="clipping the top-level layers' weight and bias only: misses nested blocks and "
        "custom parameters",
        body=_nested_modules,
    ),
    HiddenCheck(
        exercise=3,
        name="per_sample_epsilon",
        target="gradient_penalty_exercise",
        bug="one interpolation coefficient per pixel (torch.rand_like(real))",
        body=_per_sample_epsilon,
    ),
    HiddenCheck(
        exercise=3,
        name="per_sample_penalty",
        target="gradient_penalty_exercise",
        bug="(mean norm - 1)^2 instead of mean((norm - 1)^2), or |norm - 1|, or one-sided",
        body=_per_sample_penalty,
    ),
    HiddenCheck(
        exercise=4,
        name="channels_last",
        target="spectral_norm_estimate",
        bug="weight.view(out, -1): fails on a non-contiguous (channels-last) convolution weight",
        body=_channels_last,
    ),
]
