"""Exercise checkers: correct implementations pass, typical mistakes get the right diagnosis, nothing raises."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import labutils as lu
from labutils.checks.ch06_pix2pix import _conv_output_size

bce = F.binary_cross_entropy_with_logits


def run_checker(capsys, checker, fn, *args) -> tuple[bool, str]:
    """Call a checker, return (its result, what it printed); it must never raise."""
    capsys.readouterr()
    result = checker(fn, *args)
    return result, capsys.readouterr().out


# --- discriminator loss -------------------------------------------------------------------------------------------


def d_loss_correct(real, fake):
    return bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))


def d_loss_logsigmoid(real, fake):
    return -F.logsigmoid(real).mean() - F.logsigmoid(-fake).mean()


def d_loss_flipped(real, fake):
    return -d_loss_correct(real, fake)


def d_loss_averaged(real, fake):
    return (bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))) / 2


def d_loss_swapped(real, fake):
    return bce(real, torch.zeros_like(real)) + bce(fake, torch.ones_like(fake))


def d_loss_log_sigmoid(real, fake):
    return -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())


def d_loss_float(real, fake):
    return d_loss_correct(real, fake).item()


def d_loss_not_averaged(real, fake):
    return bce(real, torch.ones_like(real), reduction="none") + bce(
        fake, torch.zeros_like(fake), reduction="none"
    )


def d_loss_detached(real, fake):
    return d_loss_correct(real.detach(), fake.detach())


def d_loss_mse(real, fake):
    return ((torch.sigmoid(real) - 1) ** 2).mean() + (torch.sigmoid(fake) ** 2).mean()


def d_loss_stub(real, fake):
    raise NotImplementedError


def d_loss_crash(real, fake):
    return bce(real, torch.ones(3))  # wrong target shape


@pytest.mark.parametrize("fn", [d_loss_correct, d_loss_logsigmoid])
def test_discriminator_loss_accepts_correct_implementations(capsys, fn):
    passed, out = run_checker(capsys, lu.check_discriminator_loss, fn)
    assert passed is True
    assert (
        out.startswith("[pass] discriminator loss: value ") and "stable for confident logits" in out
    )


@pytest.mark.parametrize(
    ("fn", "diagnosis"),
    [
        (d_loss_flipped, "the sign is flipped"),
        (d_loss_averaged, "the two terms are averaged; add them"),
        (d_loss_swapped, "the targets are swapped"),
        (d_loss_log_sigmoid, "never log(sigmoid(.))"),
        (d_loss_float, "should return a torch tensor, got float"),
        (d_loss_not_averaged, "should return a scalar (average over the batch), got shape (16, 1)"),
        (d_loss_detached, "does not depend on the logits through autograd"),
        (d_loss_mse, "on the test logits, expected"),
    ],
)
def test_discriminator_loss_diagnoses_mistakes(capsys, fn, diagnosis):
    passed, out = run_checker(capsys, lu.check_discriminator_loss, fn)
    assert passed is False
    assert out.startswith("[fail] discriminator loss: ") and diagnosis in out
    assert "[pass]" not in out


def test_log_sigmoid_loss_is_reported_as_unstable_not_as_a_wrong_value(capsys):
    _, out = run_checker(capsys, lu.check_discriminator_loss, d_loss_log_sigmoid)
    assert "inf" in out and "F.binary_cross_entropy_with_logits or F.logsigmoid" in out


def test_stub_is_not_done(capsys):
    passed, out = run_checker(capsys, lu.check_discriminator_loss, d_loss_stub)
    assert passed is False
    assert out.startswith("[not done] discriminator loss") and "raise NotImplementedError" in out


def test_crashing_implementation_fails_with_where(capsys):
    passed, out = run_checker(capsys, lu.check_discriminator_loss, d_loss_crash)
    assert passed is False
    assert out.startswith("[fail] discriminator loss: your code raised ValueError")
    assert "in d_loss_crash, line" in out and "bce(real, torch.ones(3))" in out


# --- generator loss -----------------------------------------------------------------------------------------------


def g_loss_non_saturating(fake):
    return bce(fake, torch.ones_like(fake))


def g_loss_saturating(fake):
    return -F.softplus(fake).mean()  # log(1 - sigmoid(x)) = -softplus(x), stable


def g_loss_saturating_unstable(fake):
    return torch.log(1 - torch.sigmoid(fake)).mean()


def g_loss_flipped(fake):
    return -bce(fake, torch.ones_like(fake))


@pytest.mark.parametrize(
    ("fn", "variant"),
    [(g_loss_non_saturating, "non_saturating"), (g_loss_saturating, "saturating")],
)
def test_generator_loss_accepts_correct_implementations(capsys, fn, variant):
    passed, out = run_checker(capsys, lu.check_generator_loss, fn, variant)
    assert passed is True
    assert out.startswith(f"[pass] generator loss ({variant.replace('_', '-')})")


def test_generator_loss_default_variant_is_non_saturating(capsys):
    assert lu.check_generator_loss(g_loss_non_saturating) is True
    assert lu.check_generator_loss(g_loss_saturating) is False


@pytest.mark.parametrize(
    ("fn", "variant", "diagnosis"),
    [
        (g_loss_saturating, "non_saturating", "this is the saturating loss, not the one asked for"),
        (
            g_loss_non_saturating,
            "saturating",
            "this is the non-saturating loss, not the one asked for",
        ),
        (g_loss_flipped, "non_saturating", "the sign is flipped"),
        (g_loss_saturating_unstable, "saturating", "never log(sigmoid(.))"),
        (
            lambda fake: g_loss_non_saturating(fake).item(),
            "non_saturating",
            "should return a torch tensor",
        ),
    ],
)
def test_generator_loss_diagnoses_mistakes(capsys, fn, variant, diagnosis):
    passed, out = run_checker(capsys, lu.check_generator_loss, fn, variant)
    assert passed is False
    assert out.startswith("[fail] generator loss") and diagnosis in out


def test_generator_loss_rejects_unknown_variant():
    with pytest.raises(ValueError, match="variant must be 'non_saturating' or 'saturating'"):
        lu.check_generator_loss(g_loss_non_saturating, variant="wasserstein")


def test_generator_loss_stub_and_crash(capsys):
    def stub(fake):
        raise NotImplementedError("write the generator loss")

    def crash(fake):
        return fake.undefined_attribute

    passed, out = run_checker(capsys, lu.check_generator_loss, stub)
    assert passed is False and out.startswith("[not done]") and "write the generator loss" in out
    passed, out = run_checker(capsys, lu.check_generator_loss, crash)
    assert (
        passed is False
        and out.startswith("[fail]")
        and "AttributeError" in out
        and "in crash" in out
    )


# --- discriminator step -------------------------------------------------------------------------------------------


def d_step_correct(D, G, opt_D, x_real, z):
    fake = G(z).detach()
    loss = bce(D(x_real), torch.ones(len(x_real), 1)) + bce(D(fake), torch.zeros(len(z), 1))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss.item()


def d_step_returns_tensor(D, G, opt_D, x_real, z):
    fake = G(z).detach()
    loss = bce(D(x_real), torch.ones(len(x_real), 1)) + bce(D(fake), torch.zeros(len(z), 1))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss


def d_step_no_detach(D, G, opt_D, x_real, z):
    loss = bce(D(x_real), torch.ones(len(x_real), 1)) + bce(D(G(z)), torch.zeros(len(z), 1))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss.item()


def d_step_wrong_optimiser(D, G, opt_D, x_real, z):
    opt_G = torch.optim.SGD(G.parameters(), lr=0.1)
    loss = bce(D(x_real), torch.ones(len(x_real), 1)) + bce(D(G(z)), torch.zeros(len(z), 1))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss.item()


def d_step_no_step(D, G, opt_D, x_real, z):
    loss = bce(D(x_real), torch.ones(len(x_real), 1)) + bce(
        D(G(z).detach()), torch.zeros(len(z), 1)
    )
    loss.backward()
    return loss.item()


def d_step_ascent(D, G, opt_D, x_real, z):
    loss = bce(D(x_real), torch.ones(len(x_real), 1)) + bce(
        D(G(z).detach()), torch.zeros(len(z), 1)
    )
    opt_D.zero_grad()
    (-loss).backward()
    opt_D.step()
    return loss.item()


def d_step_loss_after_update(D, G, opt_D, x_real, z):
    d_step_correct(D, G, opt_D, x_real, z)
    with torch.no_grad():
        return (
            bce(D(x_real), torch.ones(len(x_real), 1)) + bce(D(G(z)), torch.zeros(len(z), 1))
        ).item()


def d_step_returns_none(D, G, opt_D, x_real, z):
    d_step_correct(D, G, opt_D, x_real, z)


@pytest.mark.parametrize("fn", [d_step_correct, d_step_returns_tensor])
def test_discriminator_step_accepts_correct_implementations(capsys, fn):
    passed, out = run_checker(capsys, lu.check_discriminator_step, fn)
    assert passed is True
    assert out.startswith("[pass] discriminator step: D's loss") and "G untouched" in out


@pytest.mark.parametrize(
    ("fn", "diagnosis"),
    [
        (d_step_no_detach, "gradients reached the generator: detach G(z)"),
        (d_step_wrong_optimiser, "the generator's weights changed during the discriminator step"),
        (d_step_no_step, "the discriminator's weights did not change"),
        (d_step_ascent, "did not lower D's loss"),
        (d_step_loss_after_update, "measured before the update"),
        (d_step_returns_none, "return the loss as a Python float (loss.item()), got NoneType"),
    ],
)
def test_discriminator_step_diagnoses_mistakes(capsys, fn, diagnosis):
    passed, out = run_checker(capsys, lu.check_discriminator_step, fn)
    assert passed is False
    assert out.startswith("[fail] discriminator step: ") and diagnosis in out


def test_discriminator_step_stub_and_crash(capsys):
    def stub(D, G, opt_D, x_real, z):
        raise NotImplementedError

    def crash(D, G, opt_D, x_real, z):
        return D(z).item()  # z has 4 features, D expects 1

    passed, out = run_checker(capsys, lu.check_discriminator_step, stub)
    assert passed is False and out.startswith("[not done] discriminator step")
    passed, out = run_checker(capsys, lu.check_discriminator_step, crash)
    assert passed is False and out.startswith(
        "[fail] discriminator step: your code raised RuntimeError"
    )
    assert "in crash, line" in out


# --- generator step -----------------------------------------------------------------------------------------------


def g_step_correct(D, G, opt_G, z):
    loss = bce(D(G(z)), torch.ones(len(z), 1))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss.item()


def g_step_returns_tensor(D, G, opt_G, z):
    loss = bce(D(G(z)), torch.ones(len(z), 1))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss.detach()


def g_step_saturating(D, G, opt_G, z):
    loss = -bce(D(G(z)), torch.zeros(len(z), 1))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss.item()


def g_step_steps_discriminator(D, G, opt_G, z):
    opt_D = torch.optim.SGD(D.parameters(), lr=0.1)
    loss = bce(D(G(z)), torch.ones(len(z), 1))
    opt_G.zero_grad()
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    opt_G.step()
    return loss.item()


def g_step_no_step(D, G, opt_G, z):
    loss = bce(D(G(z)), torch.ones(len(z), 1))
    loss.backward()
    return loss.item()


def g_step_ascent(D, G, opt_G, z):
    loss = bce(D(G(z)), torch.ones(len(z), 1))
    opt_G.zero_grad()
    (-loss).backward()
    opt_G.step()
    return loss.item()


@pytest.mark.parametrize("fn", [g_step_correct, g_step_returns_tensor])
def test_generator_step_accepts_correct_implementations(capsys, fn):
    passed, out = run_checker(capsys, lu.check_generator_step, fn)
    assert passed is True
    assert out.startswith("[pass] generator step: G's loss") and "D untouched" in out


@pytest.mark.parametrize(
    ("fn", "diagnosis"),
    [
        (g_step_saturating, "That is the saturating loss; use the non-saturating -log D(G(z))."),
        (
            g_step_steps_discriminator,
            "the discriminator's weights changed during the generator step",
        ),
        (g_step_no_step, "the generator's weights did not change"),
        (g_step_ascent, "did not lower G's loss"),
        (
            lambda D, G, opt_G, z: [g_step_correct(D, G, opt_G, z)],
            "return the loss as a Python float",
        ),
    ],
)
def test_generator_step_diagnoses_mistakes(capsys, fn, diagnosis):
    passed, out = run_checker(capsys, lu.check_generator_step, fn)
    assert passed is False
    assert out.startswith("[fail] generator step: ") and diagnosis in out


def test_generator_step_stub_and_crash(capsys):
    def stub(D, G, opt_G, z):
        raise NotImplementedError

    def crash(D, G, opt_G, z):
        raise KeyError("oops")

    passed, out = run_checker(capsys, lu.check_generator_step, stub)
    assert passed is False and out.startswith("[not done] generator step")
    passed, out = run_checker(capsys, lu.check_generator_step, crash)
    assert passed is False and out.startswith("[fail] generator step: your code raised KeyError")


# --- side effects -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("checker", "fn"),
    [
        (lu.check_discriminator_loss, d_loss_correct),
        (lu.check_generator_loss, g_loss_non_saturating),
        (lu.check_discriminator_step, d_step_correct),
        (lu.check_generator_step, g_step_correct),
    ],
)
def test_checkers_leave_the_notebooks_random_state_alone(capsys, checker, fn):
    """A checker cell must not reseed the notebook: the numbers drawn after it are those drawn without it."""
    lu.seed_everything(11)
    expected = torch.randn(5), np.random.rand(2), random.random()
    lu.seed_everything(11)
    assert checker(fn) is True
    after = torch.randn(5), np.random.rand(2), random.random()
    assert torch.equal(after[0], expected[0])
    assert np.array_equal(after[1], expected[1]) and after[2] == expected[2]


def test_checkers_are_deterministic(capsys):
    lu.seed_everything(1)
    lu.check_discriminator_step(d_step_correct)
    first = capsys.readouterr().out
    lu.seed_everything(2)
    lu.check_discriminator_step(d_step_correct)
    assert capsys.readouterr().out == first


# --- image generator, weight initialisation, spherical interpolation (chapter 3) ------------------------------------

from torch import nn  # noqa: E402


def make_good_generator(nz):
    return nn.Sequential(
        nn.Linear(nz, 32 * 7 * 7),
        nn.ReLU(),
        nn.Unflatten(1, (32, 7, 7)),
        nn.ConvTranspose2d(32, 16, 4, 2, 1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.ConvTranspose2d(16, 1, 4, 2, 1),
        nn.Tanh(),
    )


def make_no_tanh(nz):
    return make_good_generator(nz)[:-1]


def make_wrong_size(nz):
    return nn.Sequential(
        *make_good_generator(nz)[:-2], nn.ConvTranspose2d(16, 1, 3, 2, 1), nn.Tanh()
    )


def make_fixed_nz(nz):
    return make_good_generator(100)


class ConstantGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.image = nn.Parameter(torch.zeros(1, 1, 28, 28))

    def forward(self, z):
        return torch.tanh(self.image).expand(len(z), -1, -1, -1)


def test_image_generator_accepts_a_correct_generator(capsys):
    ok, out = run_checker(capsys, lu.check_image_generator, make_good_generator)
    assert ok and "[pass]" in out and "parameters" in out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (make_no_tanh, "nn.Tanh"),
        (make_wrong_size, "should give images of shape (8, 1, 28, 28)"),
        (make_fixed_nz, "nz=10"),
        (lambda nz: ConstantGenerator(), "same image"),
        (lambda nz: "not a module", "should return an nn.Module"),
    ],
)
def test_image_generator_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_image_generator, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


def test_image_generator_other_shapes_and_stub(capsys):
    ok, out = run_checker(capsys, lu.check_image_generator, make_good_generator, (1, 16, 16))
    assert not ok and "(8, 1, 16, 16)" in out

    def stub(nz):
        raise NotImplementedError("not implemented yet: exercise 1")

    ok, out = run_checker(capsys, lu.check_image_generator, stub)
    assert not ok and "[not done]" in out and "exercise 1" in out


def init_correct(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def init_bn_mean_zero(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        nn.init.zeros_(m.bias)


def init_only_conv2d(m):
    if type(m) is nn.Conv2d:
        nn.init.normal_(m.weight, 0.0, 0.02)


def init_std_too_large(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.2)


def init_bias_left(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(m.weight, 1.0, 0.02)


def test_weights_init_accepts_the_dcgan_initialisation(capsys):
    ok, out = run_checker(capsys, lu.check_weights_init, init_correct)
    assert ok and "[pass]" in out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (init_bn_mean_zero, "N(1, 0.02)"),
        (init_only_conv2d, "ConvTranspose2d weights"),
        (init_std_too_large, "Conv2d weights have mean"),
        (init_bias_left, "biases should be set to 0"),
    ],
)
def test_weights_init_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_weights_init, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


def slerp_correct(z0, z1, t):
    omega = torch.arccos(torch.clamp((z0 / z0.norm()) @ (z1 / z1.norm()), -1, 1))
    return (
        torch.sin((1 - t) * omega)[:, None] * z0 + torch.sin(t * omega)[:, None] * z1
    ) / torch.sin(omega)


def lerp(z0, z1, t):
    return (1 - t)[:, None] * z0 + t[:, None] * z1


def slerp_swapped(z0, z1, t):
    return slerp_correct(z1, z0, t)


def slerp_unnormalised_angle(z0, z1, t):
    omega = torch.arccos(torch.clamp(z0 @ z1 / 100, -1, 1))
    return (
        torch.sin((1 - t) * omega)[:, None] * z0 + torch.sin(t * omega)[:, None] * z1
    ) / torch.sin(omega)


def test_slerp_accepts_a_correct_implementation(capsys):
    ok, out = run_checker(capsys, lu.check_slerp, slerp_correct)
    assert ok and "[pass]" in out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (lerp, "linear interpolation"),
        (slerp_swapped, "start at z0"),
        (slerp_unnormalised_angle, "cos(omega)"),
        (lambda z0, z1, t: torch.stack([z0, z1]), "should give (7, 100)"),
    ],
)
def test_slerp_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_slerp, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


# --- label maps and the conditional discriminator step (chapter 4) ---------------------------------------------------


def maps_correct(y, size):
    return F.one_hot(y, 10).float()[:, :, None, None].expand(-1, -1, size, size)


def maps_long(y, size):
    return F.one_hot(y, 10)[:, :, None, None].expand(-1, -1, size, size)


def maps_transposed(y, size):
    return maps_correct(y, size).permute(1, 0, 2, 3)


def maps_off_by_one(y, size):
    return maps_correct((y + 1) % 10, size)


def test_label_maps_accepts_a_correct_implementation(capsys):
    ok, out = run_checker(capsys, lu.check_label_maps, maps_correct)
    assert ok and "[pass]" in out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (maps_long, "should be floats"),
        (maps_transposed, "should give (4, 10, 1, 1)"),
        (maps_off_by_one, "wrong maps"),
    ],
)
def test_label_maps_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_label_maps, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


def cond_d_step_correct(D, G, opt_D, x_real, y, z):
    logits_real, logits_fake = D(x_real, y), D(G(z, y).detach(), y)
    loss = bce(logits_real, torch.ones_like(logits_real)) + bce(
        logits_fake, torch.zeros_like(logits_fake)
    )
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss.item()


def cond_d_step_no_detach(D, G, opt_D, x_real, y, z):
    logits_real, logits_fake = D(x_real, y), D(G(z, y), y)
    loss = bce(logits_real, torch.ones_like(logits_real)) + bce(
        logits_fake, torch.zeros_like(logits_fake)
    )
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss.item()


def cond_d_step_other_labels(D, G, opt_D, x_real, y, z):
    y_fake = y.roll(1)
    logits_real, logits_fake = D(x_real, y), D(G(z, y_fake).detach(), y_fake)
    loss = bce(logits_real, torch.ones_like(logits_real)) + bce(
        logits_fake, torch.zeros_like(logits_fake)
    )
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss.item()


def cond_d_step_no_update(D, G, opt_D, x_real, y, z):
    with torch.no_grad():
        return (
            bce(D(x_real, y), torch.ones(len(y), 1)) + bce(D(G(z, y), y), torch.zeros(len(y), 1))
        ).item()


def test_conditional_discriminator_step_accepts_a_correct_step(capsys):
    ok, out = run_checker(capsys, lu.check_conditional_discriminator_step, cond_d_step_correct)
    assert ok and "[pass]" in out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (cond_d_step_no_detach, "gradients reached the generator"),
        (cond_d_step_other_labels, "same labels y"),
        (cond_d_step_no_update, "did not change"),
    ],
)
def test_conditional_discriminator_step_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_conditional_discriminator_step, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


# --- critic loss, weight clipping, gradient penalty (chapter 5) -------------------------------------------------------


def critic_loss_correct(real, fake):
    return fake.mean() - real.mean()


def test_critic_loss_accepts_the_correct_loss(capsys):
    ok, out = run_checker(capsys, lu.check_critic_loss, critic_loss_correct)
    assert ok and "[pass]" in out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (lambda r, f: r.mean() - f.mean(), "sign is flipped"),
        (
            lambda r, f: bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f)),
            "no sigmoid and no log",
        ),
        (lambda r, f: f - r, "scalar tensor"),
        (lambda r, f: (f.mean() - r.mean()).detach(), "autograd"),
        (lambda r, f: f.mean() - 2 * r.mean(), "expected E f(fake) - E f(real)"),
    ],
)
def test_critic_loss_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_critic_loss, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


def clip_correct(critic, c):
    with torch.no_grad():
        for p in critic.parameters():
            p.clamp_(-c, c)


def clip_weights_only(critic, c):
    with torch.no_grad():
        for name, p in critic.named_parameters():
            if name.endswith("weight"):
                p.clamp_(-c, c)


def clip_replacing(critic, c):
    for module in critic.modules():
        for name, p in list(module.named_parameters(recurse=False)):
            setattr(module, name, nn.Parameter(p.detach().clamp(-c, c)))


def clip_rescaling(critic, c):
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(c / p.abs().max())


def test_weight_clipping_accepts_a_correct_implementation(capsys):
    ok, out = run_checker(capsys, lu.check_weight_clipping, clip_correct)
    assert ok and "[pass]" in out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (clip_weights_only, "biases and batch-norm parameters included"),
        (clip_replacing, "replaced by a new tensor"),
        (clip_rescaling, "changed inside [-c, c]"),
    ],
)
def test_weight_clipping_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_weight_clipping, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


def gp_correct(critic, real, fake):
    eps = torch.rand(len(real), 1, 1, 1)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def gp_no_create_graph(critic, real, fake):
    eps = torch.rand(len(real), 1, 1, 1)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def gp_squared_norm(critic, real, fake):
    eps = torch.rand(len(real), 1, 1, 1)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1) ** 2).sum(1).mean()


def gp_shared_eps(critic, real, fake):
    eps = torch.rand(1)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def test_gradient_penalty_accepts_a_correct_implementation(capsys):
    ok, out = run_checker(capsys, lu.check_gradient_penalty, gp_correct)
    assert ok and "[pass]" in out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (gp_no_create_graph, "create_graph=True"),
        (gp_squared_norm, "You return ||grad||^2"),
        (gp_shared_eps, "one epsilon is shared"),
    ],
)
def test_gradient_penalty_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_gradient_penalty, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


def sn_correct(weight, n_iters, u=None):
    W = weight.reshape(weight.shape[0], -1)
    if u is None:
        u = F.normalize(torch.randn(W.shape[0]), dim=0)
    with torch.no_grad():
        for _ in range(n_iters):
            v = F.normalize(W.T @ u, dim=0)
            u = F.normalize(W @ v, dim=0)
    return u @ W @ v, u


def sn_norm_of_wv(weight, n_iters, u=None):  # sigma = ||W v||, u detached at the end
    W = weight.flatten(1)
    u = F.normalize(torch.randn(W.shape[0]), dim=0) if u is None else u
    for _ in range(n_iters):
        v = F.normalize(W.T @ u, dim=0)
        u = F.normalize(W @ v, dim=0)
    return (W @ v.detach()).norm(), u.detach()


def sn_not_normalised(weight, n_iters, u=None):
    W = weight.reshape(weight.shape[0], -1)
    u = torch.randn(W.shape[0]) if u is None else u
    with torch.no_grad():
        for _ in range(n_iters):
            v = W.T @ u
            u = W @ v
        u, v = F.normalize(u, dim=0), F.normalize(v, dim=0)  # only at the end: overflows
    return u @ W @ v, u


def sn_v_not_normalised(weight, n_iters, u=None):
    W = weight.reshape(weight.shape[0], -1)
    u = F.normalize(torch.randn(W.shape[0]), dim=0) if u is None else u
    with torch.no_grad():
        for _ in range(n_iters):
            v = W.T @ u
            u = F.normalize(W @ v, dim=0)
    return (W @ v).norm(), u


def sn_flatten_last_dim(weight, n_iters, u=None):  # (out * in * kh, kw): a shape error on convs
    return sn_correct(weight.reshape(-1, weight.shape[-1]), n_iters, u)


def sn_conv_in_first(weight, n_iters, u=None):  # the in channels first: a different matrix
    if weight.dim() > 2:
        weight = weight.transpose(0, 1).reshape(weight.shape[0], -1)
    return sn_correct(weight, n_iters, u)


def sn_one_iteration(weight, n_iters, u=None):
    return sn_correct(weight, 1, u)


def sn_one_too_many(weight, n_iters, u=None):
    return sn_correct(weight, n_iters + 1, u)


def sn_sigma_per_row(weight, n_iters, u=None):
    _, u = sn_correct(weight, n_iters, u)
    W = weight.reshape(weight.shape[0], -1)
    return u * (W @ F.normalize(W.T @ u, dim=0)), u  # u * (W v) instead of u @ W @ v


def sn_returns_v(weight, n_iters, u=None):
    W = weight.reshape(weight.shape[0], -1)
    sigma, u = sn_correct(weight, n_iters, u)
    return sigma, F.normalize(W.T @ u, dim=0).detach()


def sn_sigma_only(weight, n_iters, u=None):
    return sn_correct(weight, n_iters, u)[0]


def sn_ignores_u(weight, n_iters, u=None):
    return sn_correct(weight, n_iters)


def sn_all_under_no_grad(weight, n_iters, u=None):
    with torch.no_grad():
        return sn_correct(weight, n_iters, u)


def sn_u_with_history(weight, n_iters, u=None):
    W = weight.reshape(weight.shape[0], -1)
    u = F.normalize(torch.randn(W.shape[0]), dim=0) if u is None else u
    for _ in range(n_iters):
        v = F.normalize(W.T @ u, dim=0)
        u = F.normalize(W @ v, dim=0)
    return u @ W @ v, u


def sn_zero_start(weight, n_iters, u=None):
    return sn_correct(weight, n_iters, torch.zeros(weight.shape[0]) if u is None else u)


def sn_normalises_in_place(weight, n_iters, u=None):
    sigma, u = sn_correct(weight, n_iters, u)
    with torch.no_grad():
        weight /= sigma
    return sigma, u


def sn_stub(weight, n_iters, u=None):
    raise NotImplementedError


@pytest.mark.parametrize("fn", [sn_correct, sn_norm_of_wv])
def test_spectral_norm_accepts_correct_implementations(capsys, fn):
    ok, out = run_checker(capsys, lu.check_spectral_norm, fn)
    assert ok is True and out.startswith("[pass] spectral norm: "), out


def test_spectral_norm_leaves_the_random_state_alone(capsys):
    state = torch.random.get_rng_state()
    run_checker(capsys, lu.check_spectral_norm, sn_correct)
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize(
    ("fn", "diagnosis"),
    [
        (sn_not_normalised, "overflowed; normalise both vectors inside the loop, at every"),
        (sn_v_not_normalised, "You get about sigma squared"),
        (sn_flatten_last_dim, "on a convolution's weight of shape (8, 3, 3, 3) your code raised"),
        (sn_conv_in_first, "(Linear weights pass): reshape any weight to the matrix W = weight"),
        (sn_one_iteration, "n_iters=50 gives the same estimate as n_iters=1"),
        (sn_one_too_many, "run exactly n_iters iterations, starting from u"),
        (sn_sigma_per_row, "should be a scalar tensor, u @ W @ v, got (6,)"),
        (sn_returns_v, "got (10,) (the length of v: return u, not v)"),
        (sn_sigma_only, "return a tuple (sigma, u), got Tensor"),
        (sn_ignores_u, "start the iterations from the u you are given"),
        (sn_all_under_no_grad, "sigma must be differentiable in the weight"),
        (sn_u_with_history, "the returned u carries autograd history"),
        (sn_zero_start, "with u=None you return a zero vector u"),
        (sn_normalises_in_place, "changed the weight in place"),
    ],
)
def test_spectral_norm_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_spectral_norm, fn)
    assert ok is False and out.startswith("[fail] spectral norm: ") and diagnosis in out, out
    assert "[pass]" not in out


def test_spectral_norm_stub_is_not_done(capsys):
    ok, out = run_checker(capsys, lu.check_spectral_norm, sn_stub)
    assert ok is False and out.startswith("[not done] spectral norm"), out


# --- chapter 06: U-Net skips, PatchGAN output size, pix2pix generator loss ---------------------------------------


def unet_correct(net, x):
    h1 = net.down1(x)
    h2 = net.down2(h1)
    u2 = net.up2(torch.cat([net.bottleneck(h2), h2], dim=1))
    return net.up1(torch.cat([u2, h1], dim=1))


def unet_batch_axis(net, x):
    h1 = net.down1(x)
    h2 = net.down2(h1)
    u2 = net.up2(torch.cat([net.bottleneck(h2), h2], dim=0))
    return net.up1(torch.cat([u2, h1], dim=0))


def unet_no_inner_skip(net, x):
    h1 = net.down1(x)
    u2 = net.up2(net.bottleneck(net.down2(h1)))
    return net.up1(torch.cat([u2, h1], dim=1))


def unet_swapped(net, x):
    h1 = net.down1(x)
    h2 = net.down2(h1)
    u2 = net.up2(torch.cat([h2, net.bottleneck(h2)], dim=1))
    return net.up1(torch.cat([h1, u2], dim=1))


def unet_skips_before_bottleneck(net, x):
    h1 = net.down1(x)
    h2 = net.down2(h1)
    u2 = net.up2(
        torch.cat([net.bottleneck(h2), net.bottleneck(h2)], dim=1)
    )  # the bottleneck twice, no skip
    return net.up1(torch.cat([u2, h1], dim=1))


def test_unet_skip_shapes_accepts_a_correct_forward_pass(capsys):
    ok, out = run_checker(capsys, lu.check_unet_skip_shapes, unet_correct)
    assert ok and "[pass]" in out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (unet_batch_axis, "batch axis (dim 0)"),
        (unet_no_inner_skip, "the skip connection is missing"),
        (unet_swapped, "the order [skip, decoder]"),
        (unet_skips_before_bottleneck, "the output differs"),
    ],
)
def test_unet_skip_shapes_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_unet_skip_shapes, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


def out_size_correct(size, layers):
    for kernel, stride, padding in layers:
        size = (size + 2 * padding - kernel) // stride + 1
    return size


def out_size_no_padding(size, layers):
    for kernel, stride, _ in layers:
        size = (size - kernel) // stride + 1
    return size


def out_size_true_division(size, layers):
    for kernel, stride, padding in layers:
        size = (size + 2 * padding - kernel) / stride + 1
    return size


def out_size_no_plus_one(size, layers):
    for kernel, stride, padding in layers:
        size = (size + 2 * padding - kernel) // stride
    return size


def out_size_input_over_stride(size, layers):
    for _, stride, _ in layers:
        size = size // stride
    return size


@pytest.mark.parametrize(
    "size, layers",
    [
        (28, [(4, 2, 1), (4, 2, 1), (3, 1, 1)]),
        (256, [(4, 2, 1)] * 3 + [(4, 1, 1)] * 2),
        (29, [(4, 2, 1)]),
        (32, [(3, 1, 0), (5, 2, 0)]),
        (16, [(4, 2, 1)] * 3),
        (7, [(7, 1, 0)]),
    ],
)
def test_patchgan_reference_size_matches_real_convolutions(size, layers):
    x = torch.zeros(1, 1, size, size)
    with torch.no_grad():
        for kernel, stride, padding in layers:
            x = torch.nn.Conv2d(1, 1, kernel, stride, padding)(x)
    assert _conv_output_size(size, layers) == x.shape[-1] == x.shape[-2]


def test_patchgan_output_size_accepts_a_correct_formula(capsys):
    ok, out = run_checker(capsys, lu.check_patchgan_output_size, out_size_correct)
    assert ok and "[pass]" in out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (out_size_no_padding, "The padding is missing"),
        (out_size_true_division, "not a whole number"),
        (out_size_no_plus_one, "The '+ 1' is missing"),
        (out_size_input_over_stride, "expected 30"),
    ],
)
def test_patchgan_output_size_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_patchgan_output_size, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


def p2p_loss_correct(d_logits_fake, fake, target, lam):
    return bce(d_logits_fake, torch.ones_like(d_logits_fake)) + lam * (fake - target).abs().mean()


def p2p_loss_l2(d_logits_fake, fake, target, lam):
    return bce(d_logits_fake, torch.ones_like(d_logits_fake)) + lam * ((fake - target) ** 2).mean()


def p2p_loss_saturating(d_logits_fake, fake, target, lam):
    return -bce(d_logits_fake, torch.zeros_like(d_logits_fake)) + lam * (fake - target).abs().mean()


def p2p_loss_lambda_on_gan(d_logits_fake, fake, target, lam):
    return lam * bce(d_logits_fake, torch.ones_like(d_logits_fake)) + (fake - target).abs().mean()


def p2p_loss_log_sigmoid(d_logits_fake, fake, target, lam):
    return -torch.log(torch.sigmoid(d_logits_fake)).mean() + lam * (fake - target).abs().mean()


def p2p_loss_detached(d_logits_fake, fake, target, lam):
    return (
        bce(d_logits_fake, torch.ones_like(d_logits_fake))
        + lam * (fake.detach() - target).abs().mean()
    )


def p2p_loss_global_lambda(d_logits_fake, fake, target, lam):
    return bce(d_logits_fake, torch.ones_like(d_logits_fake)) + 7.0 * (fake - target).abs().mean()


def test_pix2pix_generator_loss_accepts_a_correct_loss(capsys):
    ok, out = run_checker(capsys, lu.check_pix2pix_generator_loss, p2p_loss_correct)
    assert ok and "[pass]" in out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (p2p_loss_l2, "pix2pix uses L1"),
        (p2p_loss_saturating, "saturating"),
        (p2p_loss_lambda_on_gan, "lambda multiplies the adversarial term"),
        (p2p_loss_log_sigmoid, "binary_cross_entropy_with_logits"),
        (p2p_loss_detached, "do not detach fake"),
        (p2p_loss_global_lambda, "use the lam argument"),
    ],
)
def test_pix2pix_generator_loss_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_pix2pix_generator_loss, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


# --- cycle loss, translator, CycleGAN generator step (chapter 07) -----------------------------------------------------


def cycle_correct(g, f, x_mnist, x_usps, lambda_cycle):
    return lambda_cycle * (F.l1_loss(f(g(x_mnist)), x_mnist) + F.l1_loss(g(f(x_usps)), x_usps))


def cycle_squared(g, f, x_mnist, x_usps, lambda_cycle):
    return lambda_cycle * (F.mse_loss(f(g(x_mnist)), x_mnist) + F.mse_loss(g(f(x_usps)), x_usps))


def cycle_one_direction(g, f, x_mnist, x_usps, lambda_cycle):
    return lambda_cycle * F.l1_loss(f(g(x_mnist)), x_mnist)


def cycle_fixed_lambda(g, f, x_mnist, x_usps, lambda_cycle):
    return 10.0 * (F.l1_loss(f(g(x_mnist)), x_mnist) + F.l1_loss(g(f(x_usps)), x_usps))


def cycle_detached(g, f, x_mnist, x_usps, lambda_cycle):
    return cycle_correct(g, f, x_mnist, x_usps, lambda_cycle).detach()


def test_cycle_loss_accepts_a_correct_implementation(capsys):
    ok, out = run_checker(capsys, lu.check_cycle_loss, cycle_correct)
    assert ok and "[pass] cycle loss" in out, out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (cycle_squared, "squared error"),
        (cycle_one_direction, "only the MNIST -> USPS -> MNIST cycle"),
        (cycle_fixed_lambda, "lambda_cycle is fixed at 10"),
        (cycle_detached, "autograd"),
    ],
)
def test_cycle_loss_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_cycle_loss, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


class _Resizer(torch.nn.Module):
    """A translator for the tests: resize to the target size, then a small conv net (optionally without tanh)."""

    def __init__(self, target, tanh=True, resize=True, use_input=True):
        super().__init__()
        self.size = 16 if target == "usps" else 28
        self.resize, self.use_input = resize, use_input
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(4, 1, 3, padding=1),
            *([torch.nn.Tanh()] if tanh else []),
        )
        self.canvas = torch.nn.Parameter(torch.randn(1, 1, self.size, self.size))
        if not tanh:  # an untrained linear output that leaves [-1, 1], as a real one often does
            torch.nn.init.constant_(self.net[2].bias, 1.5)

    def forward(self, x):
        if not self.use_input:
            return torch.tanh(self.canvas).expand(len(x), -1, -1, -1)
        if self.resize:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear")
        return self.net(x)


@pytest.mark.parametrize("make", [lambda target: _Resizer(target)])
def test_translator_accepts_a_correct_translator(capsys, make):
    ok, out = run_checker(capsys, lu.check_translator, make)
    assert ok and "[pass] translator" in out, out


@pytest.mark.parametrize(
    "make, diagnosis",
    [
        (lambda target: _Resizer(target, resize=False), "keeps the input's size"),
        (lambda target: _Resizer(target, tanh=False), "nn.Tanh()"),
        (lambda target: _Resizer(target, use_input=False), "do not depend on the input image"),
        (
            lambda target: _Resizer("mnist" if target == "usps" else "usps"),
            "must map (8, 1, 28, 28)",
        ),
    ],
)
def test_translator_diagnoses_mistakes(capsys, make, diagnosis):
    ok, out = run_checker(capsys, lu.check_translator, make)
    assert not ok and "[fail]" in out and diagnosis in out, out


def gen_step(
    g,
    f,
    d_usps,
    d_mnist,
    opt_gen,
    x_mnist,
    x_usps,
    as_usps,
    as_mnist,
    lambda_cycle,
    lambda_identity,
    identity=True,
    adversarial="lsgan",
    frame_identity=True,
):
    fake_usps, fake_mnist = g(x_mnist), f(x_usps)
    s_usps, s_mnist = d_usps(fake_usps), d_mnist(fake_mnist)
    if adversarial == "lsgan":
        adv = F.mse_loss(s_usps, torch.ones_like(s_usps)) + F.mse_loss(
            s_mnist, torch.ones_like(s_mnist)
        )
    else:
        adv = bce(s_usps, torch.ones_like(s_usps)) + bce(s_mnist, torch.ones_like(s_mnist))
    cyc = F.l1_loss(f(fake_usps), x_mnist) + F.l1_loss(g(fake_mnist), x_usps)
    if frame_identity:
        idt = F.l1_loss(g(as_mnist(x_usps)), x_usps) + F.l1_loss(f(as_usps(x_mnist)), x_mnist)
    else:
        idt = F.l1_loss(g(x_usps), x_usps) + F.l1_loss(f(x_mnist), x_mnist)
    loss = adv + lambda_cycle * cyc + (lambda_identity * idt if identity else 0)
    opt_gen.zero_grad()
    loss.backward()
    opt_gen.step()
    return loss.item()


def gen_step_also_steps_d(g, f, d_usps, d_mnist, opt_gen, *args):
    loss = gen_step(g, f, d_usps, d_mnist, opt_gen, *args)
    with torch.no_grad():
        for p in d_usps.parameters():
            p.sub_(0.01 * p.grad)
    return loss


def test_cyclegan_generator_step_accepts_a_correct_step(capsys):
    ok, out = run_checker(capsys, lu.check_cyclegan_generator_step, gen_step)
    assert ok and "[pass] CycleGAN generator step" in out, out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (lambda *a: gen_step(*a, identity=False), "identity loss is missing"),
        (lambda *a: gen_step(*a, adversarial="bce"), "cross-entropy"),
        (lambda *a: gen_step(*a, frame_identity=False), "identity inputs are not framed"),
        (gen_step_also_steps_d, "discriminator's weights changed"),
        (lambda *a: gen_step(*a[:9], a[10], a[9]), "weights are swapped"),
    ],
)
def test_cyclegan_generator_step_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_cyclegan_generator_step, fn)
    assert not ok and "[fail]" in out and diagnosis in out, out


# --- nearest-neighbour distances, fade-in (chapter 08) ------------------------------------------------------------


def nn_correct(queries, references, chunk=256):
    r_norms = (references**2).sum(1)
    nearest = []
    for q in queries.split(chunk):
        squared = (q**2).sum(1, keepdim=True) - 2 * q @ references.T + r_norms
        nearest.append(squared.min(1).values.clamp_min(0).sqrt())
    return torch.cat(nearest)


def nn_cdist(queries, references, chunk=256):
    return torch.cat([torch.cdist(q, references).min(1).values for q in queries.split(chunk)])


def nn_indexed_loop(queries, references, chunk=256):
    out = torch.empty(len(queries))
    for i in range(0, len(queries), chunk):
        q = queries[i : i + chunk]
        squared = (q**2).sum(1)[:, None] - 2 * q @ references.T + (references**2).sum(1)[None]
        out[i : i + chunk] = squared.clamp_min(0).sqrt().min(1).values
    return out


def nn_chunks(queries, references, chunk, reduce):
    """The distances with `reduce` (N_chunk, M) -> result of a chunk in place of the minimum and sqrt."""
    parts = [reduce(torch.cdist(q, references)) for q in queries.split(chunk)]
    return torch.cat(parts)


def nn_squared(queries, references, chunk=256):
    return nn_chunks(queries, references, chunk, lambda d: (d**2).min(1).values)


def nn_mean(queries, references, chunk=256):
    return nn_chunks(queries, references, chunk, lambda d: (d**2).mean(1).sqrt())


def nn_indices(queries, references, chunk=256):
    return nn_chunks(queries, references, chunk, lambda d: d.min(1).indices)


def nn_indices_sqrt(queries, references, chunk=256):
    return nn_chunks(queries, references, chunk, lambda d: (d**2).min(1).indices.sqrt())


def nn_wrong_axis(queries, references, chunk=256):
    return nn_chunks(queries, references, chunk, lambda d: d.min(0).values)


def nn_drops_last_chunk(queries, references, chunk=256):
    parts = [
        torch.cdist(queries[i * chunk : (i + 1) * chunk], references).min(1).values
        for i in range(len(queries) // chunk)
    ]
    return torch.cat(parts)


def nn_float64(queries, references, chunk=256):
    return nn_correct(queries.double(), references.double(), chunk)


def nn_keepdim(queries, references, chunk=256):
    return nn_chunks(queries, references, chunk, lambda d: d.min(1, keepdim=True).values)


def nn_plus_cross_term(queries, references, chunk=256):
    return nn_correct(queries, -references, chunk)


def nn_list(queries, references, chunk=256):
    return [torch.cdist(q, references).min(1).values for q in queries.split(chunk)]


def nn_missing_query_norm(queries, references, chunk=256):
    return torch.cat(
        [
            (-2 * q @ references.T + (references**2).sum(1)).min(1).values.sqrt()
            for q in queries.split(chunk)
        ]
    )


def nn_stub(queries, references, chunk=256):
    raise NotImplementedError


@pytest.mark.parametrize("fn", [nn_correct, nn_cdist, nn_indexed_loop])
def test_nearest_neighbour_distances_accepts_correct_implementations(capsys, fn):
    ok, out = run_checker(capsys, lu.check_nearest_neighbour_distances, fn)
    assert ok and out.startswith("[pass] nearest-neighbour distances: "), out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (nn_squared, "these are squared distances"),
        (nn_mean, "the mean over the references"),
        (nn_indices, "indices of the nearest references"),
        (nn_indices_sqrt, "indices of the nearest references"),
        (nn_wrong_axis, "The minimum is taken over the queries (dim 0)"),
        (nn_drops_last_chunk, "The last, partial chunk is missing"),
        (nn_float64, "in the queries' dtype"),
        (nn_keepdim, "no keepdim=True"),
        (nn_plus_cross_term, "the cross term has the wrong sign"),
        (nn_list, "torch.cat the chunks"),
        (nn_missing_query_norm, "NaN"),
    ],
)
def test_nearest_neighbour_distances_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_nearest_neighbour_distances, fn)
    assert not ok and out.startswith("[fail] nearest-neighbour distances: "), out
    assert diagnosis in out, out


def fade_correct(low, high, alpha):
    return (1 - alpha) * F.interpolate(low, scale_factor=2, mode="nearest") + alpha * high


def fade_repeat_interleave(low, high, alpha):
    up = low.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    return torch.lerp(up, high, alpha)


def fade_upsample_module(low, high, alpha):
    return alpha * high + (1 - alpha) * nn.Upsample(scale_factor=2)(low)


def fade_swapped(low, high, alpha):
    return alpha * F.interpolate(low, scale_factor=2) + (1 - alpha) * high


def fade_bilinear(low, high, alpha):
    return (1 - alpha) * F.interpolate(low, scale_factor=2, mode="bilinear") + alpha * high


def fade_no_upsampling(low, high, alpha):
    return (1 - alpha) * low + alpha * high


def fade_downsampled_high(low, high, alpha):
    return (1 - alpha) * low + alpha * F.avg_pool2d(high, 2)


def fade_fixed_alpha(low, high, alpha):
    return fade_correct(low, high, 0.5)


def fade_zero_stuffing(low, high, alpha):
    up = torch.zeros_like(high)
    up[..., ::2, ::2] = low
    return (1 - alpha) * up + alpha * high


def fade_in_place(low, high, alpha):
    high *= alpha
    return high + (1 - alpha) * F.interpolate(low, scale_factor=2)


def fade_stub(low, high, alpha):
    raise NotImplementedError


@pytest.mark.parametrize("fn", [fade_correct, fade_repeat_interleave, fade_upsample_module])
def test_fade_in_accepts_correct_implementations(capsys, fn):
    ok, out = run_checker(capsys, lu.check_fade_in, fn)
    assert ok and out.startswith("[pass] fade-in: "), out


@pytest.mark.parametrize(
    "fn, diagnosis",
    [
        (fade_swapped, "the weights are swapped"),
        (fade_bilinear, "bilinear interpolation"),
        (fade_no_upsampling, "double low first"),
        (fade_downsampled_high, "you shrank high"),
        (fade_fixed_alpha, "use the alpha argument"),
        (fade_zero_stuffing, "a 2 x 2 block of its value"),
        (fade_in_place, "changed high in place"),
    ],
)
def test_fade_in_diagnoses_mistakes(capsys, fn, diagnosis):
    ok, out = run_checker(capsys, lu.check_fade_in, fn)
    assert not ok and out.startswith("[fail] fade-in: "), out
    assert diagnosis in out, out


@pytest.mark.parametrize(
    "checker, fn",
    [(lu.check_nearest_neighbour_distances, nn_stub), (lu.check_fade_in, fade_stub)],
)
def test_chapter_08_stubs_are_not_done(capsys, checker, fn):
    ok, out = run_checker(capsys, checker, fn)
    assert not ok and out.startswith("[not done] ") and "raise NotImplementedError" in out, out


@pytest.mark.parametrize(
    "checker, fn",
    [(lu.check_nearest_neighbour_distances, nn_correct), (lu.check_fade_in, fade_correct)],
)
def test_chapter_08_checkers_are_deterministic_and_leave_the_random_state_alone(
    capsys, checker, fn
):
    lu.seed_everything(3)
    expected = torch.randn(5)
    lu.seed_everything(3)
    assert checker(fn) is True
    assert torch.equal(torch.randn(5), expected)
    first = capsys.readouterr().out
    lu.seed_everything(4)
    assert checker(fn) is True
    assert capsys.readouterr().out == first
