"""Exercise checkers: call them on your own implementation; they answer with a pass or what is wrong."""

from __future__ import annotations

import copy
import traceback
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


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
        print(
            f"[not done] {name}: not implemented yet ({err or 'the stub is still in place'}). "
            "Replace the `raise NotImplementedError` line with your code."
        )
        return False
    except CheckFailed as err:
        print(f"[fail] {name}: {err}")
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
        print(f"[fail] {name}: your code raised {type(err).__name__}: {err}{where}")
        return False
    print(f"[pass] {name}: {detail}")
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


def _test_logits() -> tuple[torch.Tensor, torch.Tensor]:
    """Return fixed real and fake logits that include very confident values (|logit| = 200)."""
    generator = torch.Generator().manual_seed(0)
    real = torch.cat(
        [torch.randn(14, 1, generator=generator) * 2 + 1, torch.tensor([[200.0], [-200.0]])]
    )
    fake = torch.cat(
        [torch.randn(14, 1, generator=generator) * 2 - 1, torch.tensor([[-200.0], [200.0]])]
    )
    return real, fake


def check_discriminator_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check fn(real_logits, fake_logits) = mean(-log D(x)) + mean(-log(1 - D(G(z)))), computed from logits."""

    def body() -> str:
        real, fake = _test_logits()
        real_req, fake_req = real.clone().requires_grad_(), fake.clone().requires_grad_()
        value = _scalar(fn(real_req, fake_req), "discriminator_loss")
        expected = F.binary_cross_entropy_with_logits(
            real, torch.ones_like(real)
        ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        swapped = F.binary_cross_entropy_with_logits(
            real, torch.zeros_like(real)
        ) + F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        _compare(
            value,
            expected,
            "discriminator_loss",
            {
                "the sign is flipped: the loss is -V(D, G), which D minimises.": -expected,
                "the two terms are averaged; add them (one mean over real, one over fake).": expected
                / 2,
                "the targets are swapped: real images have target 1, generated ones target 0.": swapped,
            },
        )
        if not value.requires_grad:
            raise CheckFailed(
                "the loss does not depend on the logits through autograd (did you call .item() or detach?)."
            )
        return f"value {value.item():.4f} matches, stable for confident logits, differentiable."

    return _run_check("discriminator loss", body)


def check_generator_loss(
    fn: Callable[[torch.Tensor], torch.Tensor], variant: str = "non_saturating"
) -> bool:
    """Check fn(fake_logits): 'non_saturating' = mean(-log D(G(z))), 'saturating' = mean(log(1 - D(G(z))))."""
    if variant not in ("non_saturating", "saturating"):
        raise ValueError("variant must be 'non_saturating' or 'saturating'.")

    def body() -> str:
        _, fake = _test_logits()
        fake_req = fake.clone().requires_grad_()
        value = _scalar(fn(fake_req), f"generator_loss ({variant})")
        non_saturating = F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        saturating = -F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        expected, other = (
            (non_saturating, saturating)
            if variant == "non_saturating"
            else (saturating, non_saturating)
        )
        _compare(
            value,
            expected,
            f"generator_loss ({variant})",
            {
                f"this is the {'saturating' if variant == 'non_saturating' else 'non-saturating'} loss, "
                "not the one asked for.": other,
                "the sign is flipped: the generator minimises this loss.": -expected,
            },
        )
        if not value.requires_grad:
            raise CheckFailed(
                "the loss does not depend on the logits through autograd (did you call .item() or detach?)."
            )
        return f"value {value.item():.4f} matches, stable for confident logits, differentiable."

    return _run_check(f"generator loss ({variant.replace('_', '-')})", body)


def _toy_gan(nz: int = 4, dim: int = 1, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """Return a tiny generator (nz -> dim) and discriminator (dim -> 1 logit) for checking training steps."""
    torch.manual_seed(seed)
    generator = nn.Sequential(nn.Linear(nz, 8), nn.ReLU(), nn.Linear(8, dim))
    discriminator = nn.Sequential(nn.Linear(dim, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    return generator, discriminator


def _changed(before: dict[str, torch.Tensor], module: nn.Module) -> bool:
    """Return True when any parameter of module differs from the snapshot `before`."""
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


def check_discriminator_step(fn: Callable[..., float]) -> bool:
    """Check fn(D, G, opt_D, x_real, z): one step on D's loss that leaves G untouched, returning the loss as a float."""

    def body() -> str:
        G, D = _toy_gan()
        opt_D = torch.optim.SGD(D.parameters(), lr=0.1)
        x_real, z = torch.randn(16, 1) + 4, torch.randn(16, 4)
        g_before, d_before = copy.deepcopy(G.state_dict()), copy.deepcopy(D.state_dict())
        with torch.no_grad():
            expected = (
                F.binary_cross_entropy_with_logits(D(x_real), torch.ones(16, 1))
                + F.binary_cross_entropy_with_logits(D(G(z)), torch.zeros(16, 1))
            ).item()
        loss = fn(D, G, opt_D, x_real, z)
        if isinstance(loss, torch.Tensor):
            loss = loss.item()
        if not isinstance(loss, float):
            raise CheckFailed(
                f"return the loss as a Python float (loss.item()), got {type(loss).__name__}."
            )
        if _changed(g_before, G):
            raise CheckFailed("the generator's weights changed during the discriminator step.")
        if any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters()):
            raise CheckFailed(
                "gradients reached the generator: detach G(z) (or use torch.no_grad) in D's step."
            )
        if not _changed(d_before, D):
            raise CheckFailed(
                "the discriminator's weights did not change: call loss.backward() and opt_D.step()."
            )
        if abs(loss - expected) > 1e-4:
            raise CheckFailed(
                f"the returned loss {loss:.4f} should be {expected:.4f}: BCE(D(x), 1) + BCE(D(G(z)), 0) "
                "measured before the update."
            )
        with torch.no_grad():
            after = (
                F.binary_cross_entropy_with_logits(D(x_real), torch.ones(16, 1))
                + F.binary_cross_entropy_with_logits(D(G(z)), torch.zeros(16, 1))
            ).item()
        if after >= expected:
            raise CheckFailed(
                f"the step did not lower D's loss ({expected:.4f} -> {after:.4f}): check the sign."
            )
        return f"D's loss {expected:.4f} -> {after:.4f} after one step, G untouched."

    return _run_check("discriminator step", body)


def check_generator_step(fn: Callable[..., float]) -> bool:
    """Check fn(D, G, opt_G, z): one non-saturating step on G that leaves D's weights unchanged."""

    def body() -> str:
        G, D = _toy_gan()
        opt_G = torch.optim.SGD(G.parameters(), lr=0.1)
        z = torch.randn(16, 4)
        g_before, d_before = copy.deepcopy(G.state_dict()), copy.deepcopy(D.state_dict())
        with torch.no_grad():
            expected = F.binary_cross_entropy_with_logits(D(G(z)), torch.ones(16, 1)).item()
            saturating = -F.binary_cross_entropy_with_logits(D(G(z)), torch.zeros(16, 1)).item()
        loss = fn(D, G, opt_G, z)
        if isinstance(loss, torch.Tensor):
            loss = loss.item()
        if not isinstance(loss, float):
            raise CheckFailed(
                f"return the loss as a Python float (loss.item()), got {type(loss).__name__}."
            )
        if _changed(d_before, D):
            raise CheckFailed(
                "the discriminator's weights changed during the generator step: only opt_G may step."
            )
        if not _changed(g_before, G):
            raise CheckFailed(
                "the generator's weights did not change: call loss.backward() and opt_G.step()."
            )
        if abs(loss - expected) > 1e-4:
            hint = (
                " That is the saturating loss; use the non-saturating -log D(G(z))."
                if abs(loss - saturating) < 1e-3
                else ""
            )
            raise CheckFailed(
                f"the returned loss {loss:.4f} should be {expected:.4f} = BCE(D(G(z)), 1) before the update.{hint}"
            )
        with torch.no_grad():
            after = F.binary_cross_entropy_with_logits(D(G(z)), torch.ones(16, 1)).item()
        if after >= expected:
            raise CheckFailed(
                f"the step did not lower G's loss ({expected:.4f} -> {after:.4f}): check the sign."
            )
        return f"G's loss {expected:.4f} -> {after:.4f} after one step, D untouched."

    return _run_check("generator step", body)


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
        loss = fn(D, G, opt_D, x_real, y, z)
        if isinstance(loss, torch.Tensor):
            loss = loss.item()
        if not isinstance(loss, float):
            raise CheckFailed(
                f"return the loss as a Python float (loss.item()), got {type(loss).__name__}."
            )
        if _changed(g_before, G):
            raise CheckFailed("the generator's weights changed during the discriminator step.")
        if any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters()):
            raise CheckFailed("gradients reached the generator: detach G(z, y) in D's step.")
        if not _changed(d_before, D):
            raise CheckFailed(
                "the discriminator's weights did not change: call loss.backward() and opt_D.step()."
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


def check_critic_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check fn(scores_real, scores_fake) = mean(scores_fake) - mean(scores_real): minus the critic's estimate of W."""

    def body() -> str:
        generator = torch.Generator().manual_seed(0)
        real = (torch.randn(16, generator=generator) * 3 + 2).requires_grad_()
        fake = (torch.randn(16, generator=generator) * 3 - 1).requires_grad_()
        value = _scalar_tensor(
            fn(real, fake), "critic_loss should return a scalar tensor (a mean over the batch)"
        )
        expected = (fake.mean() - real.mean()).detach()
        if torch.allclose(value, -expected, atol=1e-5):
            raise CheckFailed(
                f"the sign is flipped: you return the estimate of W ({value.item():.4f}); the critic "
                "*maximises* it, so its loss is E f(fake) - E f(real)."
            )
        log_loss = (
            F.binary_cross_entropy_with_logits(real, torch.ones(16))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros(16))
        ).detach()
        if torch.allclose(value, log_loss, atol=1e-4):
            raise CheckFailed(
                "this is the GAN discriminator's cross-entropy: the critic has no sigmoid and no log."
            )
        if not torch.allclose(value, expected, atol=1e-4):
            raise CheckFailed(
                f"critic_loss gives {value.item():.4f}, expected E f(fake) - E f(real) = {expected.item():.4f}."
            )
        if not value.requires_grad:
            raise CheckFailed(
                "the loss does not depend on the scores through autograd (did you call .item()?)."
            )
        return f"value {value.item():.4f} = E f(fake) - E f(real), differentiable."

    return _run_check("critic loss", body)


def check_weight_clipping(fn: Callable[[nn.Module, float], None]) -> bool:
    """Check fn(critic, c): every parameter clamped to [-c, c] in place, values inside unchanged, no autograd record."""

    def body() -> str:
        torch.manual_seed(0)
        critic = nn.Sequential(
            nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 4 * 4, 1)
        )
        with torch.no_grad():
            for p in critic.parameters():
                p.copy_(torch.randn_like(p) * 0.05)
        before = {k: v.clone() for k, v in critic.named_parameters()}
        ids = {k: id(v) for k, v in critic.named_parameters()}
        fn(critic, 0.03)
        for name, p in critic.named_parameters():
            if id(p) != ids[name]:
                raise CheckFailed(
                    f"parameter {name} was replaced by a new tensor: clamp in place (p.clamp_(-c, c)) "
                    "so that the optimiser still updates the same tensors."
                )
            if p.grad_fn is not None:
                raise CheckFailed(
                    "the clipping was recorded by autograd: do it under torch.no_grad()."
                )
            expected = before[name].clamp(-0.03, 0.03)
            if not torch.allclose(p.detach(), expected):
                if p.detach().abs().max() > 0.03 + 1e-7:
                    raise CheckFailed(
                        f"parameter {name} still has values up to {p.detach().abs().max().item():.3f} > c = 0.03 "
                        "(every parameter of the critic, biases and batch-norm parameters included)."
                    )
                raise CheckFailed(
                    f"parameter {name} changed inside [-c, c]: clipping must only move the values beyond +-c."
                )
        return "every parameter clamped to [-c, c] in place; values inside unchanged."

    return _run_check("weight clipping", body)


def check_gradient_penalty(
    fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
) -> bool:
    """Check fn(critic, real, fake): E[(||grad f(x_hat)|| - 1)^2] on per-sample interpolates, differentiable."""

    def body() -> str:
        torch.manual_seed(0)
        real, fake = torch.randn(32, 1, 4, 4), torch.randn(32, 1, 4, 4) + 1
        # A linear critic f(x) = <a, x> has gradient a everywhere: the penalty is exactly (|a| - 1)^2.
        linear = nn.Sequential(nn.Flatten(), nn.Linear(16, 1, bias=False))
        with torch.no_grad():
            linear[1].weight.fill_(0.5)  # |a| = 0.5 * 4 = 2
        value = fn(linear, real, fake)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise CheckFailed("the penalty should be a scalar tensor (a mean over the batch).")
        if abs(value.item() - 1.0) > 1e-4:
            hint = {
                4.0: " You return ||grad||^2: subtract 1 from the norm, then square.",
                9.0: " You return (||grad||^2 - 1)^2: use the norm, not its square.",
            }.get(round(value.item(), 3), "")
            raise CheckFailed(
                f"for a linear critic with gradient norm 2 everywhere the penalty (||grad|| - 1)^2 must be "
                f"1, got {value.item():.4f}.{hint}"
            )
        if not value.requires_grad:
            raise CheckFailed(
                "the penalty must be differentiable in the critic's weights: compute the gradient with "
                "torch.autograd.grad(..., create_graph=True)."
            )
        value.backward()
        if linear[1].weight.grad is None or linear[1].weight.grad.abs().sum() == 0:
            raise CheckFailed("no gradient reaches the critic's weights: use create_graph=True.")
        # A non-linear critic: compare with per-sample interpolates (one epsilon per sample).
        torch.manual_seed(1)
        critic = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))
        state = torch.random.get_rng_state()
        got = fn(critic, real, fake).item()
        torch.random.set_rng_state(state)
        eps = torch.rand(32, 1, 1, 1)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
        per_sample = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean().item()
        torch.random.set_rng_state(state)
        eps_scalar = torch.rand(1)
        x_one = (eps_scalar * real + (1 - eps_scalar) * fake).requires_grad_(True)
        (grad_one,) = torch.autograd.grad(critic(x_one).sum(), x_one)
        shared = ((grad_one.flatten(1).norm(dim=1) - 1) ** 2).mean().item()
        if abs(got - per_sample) > 1e-4:
            if abs(got - shared) < 1e-4:
                raise CheckFailed(
                    "one epsilon is shared by the whole batch: draw one per sample, shape (N, 1, 1, 1)."
                )
            # Any valid per-sample draw is acceptable: the value must at least be a plausible penalty.
            if not 0 <= got < 10 * max(per_sample, 1e-3):
                raise CheckFailed(
                    f"the penalty of a small tanh critic is {got:.4f}, expected about {per_sample:.4f}."
                )
        return "exact on a linear critic (penalty 1 for gradient norm 2), differentiable in the critic's weights."

    return _run_check("gradient penalty", body)


# --- chapter 06 ---


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


# --- chapter 07 ---


def _toy_translators(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """Return tiny translators for the CycleGAN checkers: g (N, 1, 28, 28) -> (N, 1, 16, 16), f the reverse."""
    torch.manual_seed(seed)
    g = nn.Sequential(
        nn.Upsample(size=(16, 16), mode="bilinear"),
        nn.Conv2d(1, 2, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(2, 1, 3, padding=1),
        nn.Tanh(),
    )
    f = nn.Sequential(
        nn.Upsample(size=(28, 28), mode="bilinear"),
        nn.Conv2d(1, 2, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(2, 1, 3, padding=1),
        nn.Tanh(),
    )
    return g, f


def _toy_patch_discriminator(seed: int) -> nn.Module:
    """Return a tiny fully convolutional discriminator: an image of any size -> a map of patch scores."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3, 1, 1))


def _toy_domains(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Return a fixed batch of 'MNIST' (8, 1, 28, 28) and 'USPS' (8, 1, 16, 16) images in [-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(8, 1, 28, 28, generator=generator) * 2 - 1, torch.rand(
        8, 1, 16, 16, generator=generator
    ) * 2 - 1


def check_cycle_loss(fn: Callable[..., torch.Tensor]) -> bool:
    """Check fn(g, f, x_mnist, x_usps, lambda_cycle) = lambda (E|f(g(x)) - x|_1 + E|g(f(u)) - u|_1), differentiable."""

    def body() -> str:
        g, f = _toy_translators()
        x, u = _toy_domains()
        for lam in (10.0, 3.0):
            value = _scalar_tensor(
                fn(g, f, x, u, lam),
                "cycle_loss should return a scalar tensor (means over the pixels)",
            )
            with torch.no_grad():
                rec_x, rec_u = f(g(x)), g(f(u))
                l1_x, l1_u = (rec_x - x).abs().mean(), (rec_u - u).abs().mean()
                expected = lam * (l1_x + l1_u)
                variants = {
                    "this is a squared error; the cycle loss of CycleGAN is an L1 distance (mean absolute error).": lam
                    * (((rec_x - x) ** 2).mean() + ((rec_u - u) ** 2).mean()),
                    f"lambda_cycle is missing: multiply the sum of both terms by lambda_cycle (here {lam}).": l1_x
                    + l1_u,
                    f"lambda_cycle is fixed at 10: use the argument lambda_cycle (here {lam}).": 10.0
                    * (l1_x + l1_u),
                    "only the MNIST -> USPS -> MNIST cycle is there; add the USPS -> MNIST -> USPS cycle.": lam
                    * l1_x,
                    "only the USPS -> MNIST -> USPS cycle is there; add the MNIST -> USPS -> MNIST cycle.": lam
                    * l1_u,
                    "the two cycles are averaged; add them.": lam * (l1_x + l1_u) / 2,
                    "the distances are sums over pixels; use means (F.l1_loss).": lam
                    * ((rec_x - x).abs().sum() + (rec_u - u).abs().sum()),
                }
            _compare(
                value.detach(),
                expected,
                f"cycle_loss (lambda = {lam})",
                variants,
                on="the test images",
                formula=" = lambda (mean |f(g(x)) - x| + mean |g(f(u)) - u|)",
            )
        value = fn(g, f, x, u, 10.0)
        if not value.requires_grad:
            raise CheckFailed(
                "the loss does not depend on the generators through autograd (a detach or .item()?)."
            )
        value.backward()
        for name, net in (("g", g), ("f", f)):
            if not any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters()):
                raise CheckFailed(
                    f"no gradient reaches {name}: both generators must be trained by the cycle loss."
                )
        return f"value {expected.item():.4f} for lambda = 3 matches, both cycles, L1, gradients reach g and f."

    return _run_check("cycle loss", body)


def check_translator(make_translator: Callable[[str], nn.Module]) -> bool:
    """Check make_translator(target): 'usps' gives (N, 1, 28, 28) -> (N, 1, 16, 16), 'mnist' the reverse, in [-1, 1]."""
    sizes = {"usps": (28, 16), "mnist": (16, 28)}

    def body() -> str:
        counts = {}
        for target, (size_in, size_out) in sizes.items():
            source = "mnist" if target == "usps" else "usps"
            torch.manual_seed(0)
            translator = make_translator(target)
            if not isinstance(translator, nn.Module):
                raise CheckFailed(
                    f"make_translator({target!r}) should return an nn.Module, got {type(translator).__name__}."
                )
            x = (
                torch.rand(8, 1, size_in, size_in, generator=torch.Generator().manual_seed(1)) * 2
                - 1
            ).requires_grad_()
            try:
                y = translator(x)
            except RuntimeError as err:
                raise CheckFailed(
                    f"the translator into {target} fails on {source} images of shape (8, 1, {size_in}, "
                    f"{size_in}): {str(err)[:160]}"
                ) from None
            if not isinstance(y, torch.Tensor) or tuple(y.shape) != (8, 1, size_out, size_out):
                shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
                hint = (
                    " It keeps the input's size: change the size inside the translator (crop, resize or pad)."
                    if isinstance(y, torch.Tensor) and tuple(y.shape[-2:]) == (size_in, size_in)
                    else ""
                )
                raise CheckFailed(
                    f"a translator into {target} must map (8, 1, {size_in}, {size_in}) {source} images to "
                    f"(8, 1, {size_out}, {size_out}) {target} images, got {shape}.{hint}"
                )
            if y.min() < -1 - 1e-6 or y.max() > 1 + 1e-6:
                raise CheckFailed(
                    f"the {target} images range over [{y.min().item():.2f}, {y.max().item():.2f}]; the data "
                    "lie in [-1, 1]: end the translator with nn.Tanh()."
                )
            y.abs().sum().backward()
            if x.grad is None or x.grad.abs().sum() == 0:
                raise CheckFailed(
                    f"the {target} images do not depend on the input image: a translator must transform "
                    "its input, not draw an image of its own."
                )
            if x.grad[0].abs().sum() == 0 or x.grad[1:].abs().sum() == 0:
                raise CheckFailed("each output must depend on its own input image.")
            if not any(
                p.grad is not None and p.grad.abs().sum() > 0 for p in translator.parameters()
            ):
                raise CheckFailed(
                    "no gradient reaches the translator's parameters (a detach or torch.no_grad inside?)."
                )
            translator.eval()
            with torch.no_grad():
                single = translator(torch.zeros(1, 1, size_in, size_in))
            if tuple(single.shape) != (1, 1, size_out, size_out):
                raise CheckFailed(f"in eval mode a single image gives shape {tuple(single.shape)}.")
            counts[target] = sum(p.numel() for p in translator.parameters())
        return (
            f"MNIST (N, 1, 28, 28) -> USPS (N, 1, 16, 16) with {counts['usps']:,} parameters and USPS -> MNIST "
            f"(N, 1, 28, 28) with {counts['mnist']:,}, in [-1, 1], differentiable in input and weights."
        )

    return _run_check("translator", body)


def check_cyclegan_generator_step(fn: Callable[..., float]) -> bool:
    """Check fn(g, f, d_usps, d_mnist, opt_gen, x_mnist, x_usps, as_usps, as_mnist, lambda_cycle, lambda_identity).

    One step of both generators on the LSGAN adversarial terms (target 1), the cycle loss (L1, weight lambda_cycle) and
    the identity loss (L1, weight lambda_identity: g(as_mnist(u)) ~ u and f(as_usps(x)) ~ x); the discriminators
    stay unchanged; the loss, measured before the update, is returned as a float.
    """

    def body() -> str:
        g, f = _toy_translators(seed=0)
        d_usps, d_mnist = _toy_patch_discriminator(2), _toy_patch_discriminator(3)
        x, u = _toy_domains()
        as_usps = lambda images: F.interpolate(images, size=(16, 16), mode="bilinear")  # noqa: E731
        as_mnist = lambda images: F.interpolate(images, size=(28, 28), mode="bilinear")  # noqa: E731
        lam_c, lam_i = 4.0, 2.0
        opt_gen = torch.optim.SGD(list(g.parameters()) + list(f.parameters()), lr=0.01)
        before = {
            k: copy.deepcopy(m.state_dict())
            for k, m in (("g", g), ("f", f), ("d_usps", d_usps), ("d_mnist", d_mnist))
        }

        def terms() -> dict[str, float]:
            with torch.no_grad():
                fake_u, fake_x = g(x), f(u)
                s_u, s_x = d_usps(fake_u), d_mnist(fake_x)
                return {
                    "adv": (((s_u - 1) ** 2).mean() + ((s_x - 1) ** 2).mean()).item(),
                    "adv_zero": ((s_u**2).mean() + (s_x**2).mean()).item(),
                    "adv_bce": (
                        F.binary_cross_entropy_with_logits(s_u, torch.ones_like(s_u))
                        + F.binary_cross_entropy_with_logits(s_x, torch.ones_like(s_x))
                    ).item(),
                    "cyc": ((f(fake_u) - x).abs().mean() + (g(fake_x) - u).abs().mean()).item(),
                    "idt": (
                        (g(as_mnist(u)) - u).abs().mean() + (f(as_usps(x)) - x).abs().mean()
                    ).item(),
                    "idt_unframed": ((g(u) - u).abs().mean() + (f(x) - x).abs().mean()).item(),
                }

        t = terms()
        expected = t["adv"] + lam_c * t["cyc"] + lam_i * t["idt"]
        loss = fn(g, f, d_usps, d_mnist, opt_gen, x, u, as_usps, as_mnist, lam_c, lam_i)
        if isinstance(loss, torch.Tensor):
            loss = loss.item()
        if not isinstance(loss, float):
            raise CheckFailed(
                f"return the loss as a Python float (loss.item()), got {type(loss).__name__}."
            )
        if _changed(before["d_usps"], d_usps) or _changed(before["d_mnist"], d_mnist):
            raise CheckFailed(
                "a discriminator's weights changed during the generators' step: only opt_gen may step."
            )
        for name, net in (("g", g), ("f", f)):
            if not _changed(before[name], net):
                raise CheckFailed(
                    f"the weights of {name} did not change: call loss.backward() and opt_gen.step() "
                    "(opt_gen holds the parameters of both generators)."
                )
        if abs(loss - expected) > 1e-4:
            diagnoses = {
                "the identity loss is missing (lambda_identity * (|g(as_mnist(u)) - u| + |f(as_usps(x)) - x|)).": t[
                    "adv"
                ]
                + lam_c * t["cyc"],
                "the cycle loss is missing (lambda_cycle * (|f(g(x)) - x| + |g(f(u)) - u|)).": t[
                    "adv"
                ]
                + lam_i * t["idt"],
                "the adversarial terms use cross-entropy; LSGAN's generator loss is the mean of (D(fake) - 1)^2.": t[
                    "adv_bce"
                ]
                + lam_c * t["cyc"]
                + lam_i * t["idt"],
                "the adversarial target is 0: the generators want the discriminators to score their images "
                "as real (1).": t["adv_zero"] + lam_c * t["cyc"] + lam_i * t["idt"],
                "the weights are swapped: lambda_cycle multiplies the cycle loss, "
                "lambda_identity the identity loss.": t["adv"]
                + lam_i * t["cyc"]
                + lam_c * t["idt"],
                "the identity inputs are not framed: g receives as_mnist(u) and f receives as_usps(x).": t[
                    "adv"
                ]
                + lam_c * t["cyc"]
                + lam_i * t["idt_unframed"],
            }
            for mistake, value in diagnoses.items():
                if abs(loss - value) < 1e-4:
                    raise CheckFailed(
                        f"the returned loss {loss:.4f} should be {expected:.4f}: {mistake}"
                    )
            raise CheckFailed(
                f"the returned loss {loss:.4f} should be {expected:.4f} = adversarial (LSGAN, target 1) + "
                f"lambda_cycle * cycle + lambda_identity * identity, measured before the update."
            )
        after = terms()
        after_total = after["adv"] + lam_c * after["cyc"] + lam_i * after["idt"]
        if after_total >= expected:
            raise CheckFailed(
                f"the step did not lower the generators' loss ({expected:.4f} -> {after_total:.4f}): "
                "check the sign."
            )
        return f"generators' loss {expected:.4f} -> {after_total:.4f} after one step, discriminators untouched."

    return _run_check("CycleGAN generator step", body)
