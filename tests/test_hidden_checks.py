"""Hidden checks (labbook.hidden): the instructor's solutions pass them, each targeted bug passes
the visible checker but fails its hidden check, and the registry matches the chapters' exercises."""

from __future__ import annotations

import ast
import functools
import math
import re
import time

import jupytext
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import labutils as lu
from labbook import hidden
from labbook.chapters import BOOK_DIR, toc_chapters

EXERCISE = re.compile(r"\*\*Exercise (\d+)\.\*\*")
OPEN_EXERCISE = re.compile(r"\*\*Exercise (\d+) \(open\)\.\*\*")
CHECKER_NAME = re.compile(r"exercise_\d+")
bce = F.binary_cross_entropy_with_logits


# --- the chapters' exercise cells -----------------------------------------------------------------


@functools.cache
def exercises(chapter: str) -> tuple[dict[int, str], frozenset[int]]:
    """Return ({N: the code cell after '**Exercise N.**'}, the numbers of the open exercises)."""
    notebook = jupytext.read(BOOK_DIR / f"{chapter}.py")
    cells: dict[int, str] = {}
    open_numbers: set[int] = set()
    pending: int | None = None
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            open_numbers.update(int(n) for n in OPEN_EXERCISE.findall(cell.source))
            found = EXERCISE.findall(cell.source)
            pending = int(found[-1]) if found else pending
        elif cell.cell_type == "code" and pending is not None:
            cells[pending] = cell.source
            pending = None
    return cells, frozenset(open_numbers)


def defined_names(source: str) -> set[str]:
    """Return the functions, classes and variables that a cell defines at its top level."""
    names = set()
    for statement in ast.parse(source).body:
        if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
            names.add(statement.name)
        elif isinstance(statement, ast.Assign):
            names.update(t.id for t in statement.targets if isinstance(t, ast.Name))
    return names


def is_checker_call(statement: ast.stmt) -> bool:
    """Return whether a statement is the cell's `exercise_N = lu.check_...(...)`."""
    return isinstance(statement, ast.Assign) and any(
        isinstance(t, ast.Name) and CHECKER_NAME.fullmatch(t.id) for t in statement.targets
    )


# Chapter 7's solution of exercise 2 uses the framing functions of the chapter's section 7.2:
# minimal faithful copies of chapters/07_cyclegan.py's mnist_to_usps_frame and usps_to_mnist_frame
# (with its crop = 4).
CROP = 4


def mnist_to_usps_frame(x: torch.Tensor) -> torch.Tensor:
    """MNIST (N, 1, 28, 28) -> (N, 1, 16, 16): the central 20 x 20 box, resized."""
    box = x[..., CROP : x.shape[-2] - CROP, CROP : x.shape[-1] - CROP]
    return F.interpolate(box, size=(16, 16), mode="bilinear", antialias=True, align_corners=False)


def usps_to_mnist_frame(u: torch.Tensor) -> torch.Tensor:
    """USPS (N, 1, 16, 16) -> (N, 1, 28, 28): resized to 20 x 20 and padded with background (-1)."""
    digit = F.interpolate(u, size=(28 - 2 * CROP,) * 2, mode="bilinear", align_corners=False)
    return F.pad(digit, (CROP,) * 4, value=-1.0)


NOTEBOOK_HELPERS = {
    "07_cyclegan": {
        "mnist_to_usps_frame": mnist_to_usps_frame,
        "usps_to_mnist_frame": usps_to_mnist_frame,
    }
}


def solution(chapter: str, exercise: int, target: str):
    """Run the instructor's exercise cell without its checker call; return the object `target`."""
    tree = ast.parse(exercises(chapter)[0][exercise])
    tree.body = [s for s in tree.body if not is_checker_call(s)]
    namespace = {
        "torch": torch,
        "nn": nn,
        "F": F,
        "math": math,
        "np": np,
        "lu": lu,
        **NOTEBOOK_HELPERS.get(chapter, {}),
    }
    exec(compile(tree, f"{chapter}, exercise {exercise}", "exec"), namespace)  # noqa: S102
    return namespace[target]


ALL_CHECKS = [
    (chapter, check) for chapter, checks in sorted(hidden.registry().items()) for check in checks
]
CHECK_IDS = [f"{chapter[:2]}-{check.name}" for chapter, check in ALL_CHECKS]


# --- the registry ---------------------------------------------------------------------------------


def test_every_chapter_of_the_toc_has_at_least_two_hidden_checks():
    registry = hidden.registry()
    for chapter in toc_chapters():
        assert len(registry.get(chapter, [])) >= 2, f"{chapter} has fewer than two hidden checks"
    assert set(registry) <= set(toc_chapters()), "a hidden-check module names no chapter of the toc"


@pytest.mark.parametrize("chapter", sorted(hidden.registry()))
def test_names_are_unique_snake_case_in_each_chapter(chapter):
    names = [check.name for check in hidden.registry()[chapter]]
    assert len(names) == len(set(names)), f"{chapter}: duplicate names {names}"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in names)


@pytest.mark.parametrize(("chapter", "check"), ALL_CHECKS, ids=CHECK_IDS)
def test_each_check_targets_a_closed_exercise_and_its_function(chapter, check):
    cells, open_numbers = exercises(chapter)
    assert check.exercise in cells, f"{chapter} has no exercise {check.exercise} with a code cell"
    assert check.exercise not in open_numbers, f"{chapter}: exercise {check.exercise} is open"
    cell = cells[check.exercise]
    assert "### BEGIN SOLUTION" in cell
    assert check.target in defined_names(cell), f"exercise {check.exercise}: no {check.target}"
    checker_calls = [ast.unparse(s.value) for s in ast.parse(cell).body if is_checker_call(s)]
    assert any(re.match(rf"lu\.check_\w+\({check.target}\b", call) for call in checker_calls), (
        f"{chapter}, exercise {check.exercise}: the visible checker receives no {check.target}"
    )
    assert check.bug and check.points == 1


# --- the instructor's solutions pass --------------------------------------------------------------


@pytest.mark.parametrize(("chapter", "check"), ALL_CHECKS, ids=CHECK_IDS)
def test_the_solution_passes(chapter, check):
    target = solution(chapter, check.exercise, check.target)
    torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)  # the first one imports torch._dynamo
    start = time.perf_counter()
    assert hidden.outcome(chapter, check.name, target) is None
    assert time.perf_counter() - start < 1.0, f"hidden check {check.name} takes over a second"


@pytest.mark.parametrize(("chapter", "exercise"), sorted({(c, k.exercise) for c, k in ALL_CHECKS}))
def test_the_solution_passes_the_visible_checker_too(capsys, chapter, exercise):
    namespace = {
        "torch": torch,
        "nn": nn,
        "F": F,
        "math": math,
        "np": np,
        "lu": lu,
        **NOTEBOOK_HELPERS.get(chapter, {}),
    }
    exec(exercises(chapter)[0][exercise], namespace)  # noqa: S102
    assert namespace[f"exercise_{exercise}"] is True, capsys.readouterr().out


def test_run_prints_a_pass_and_raises_an_assertion_that_names_the_check(capsys):
    hidden.run("01_minimax", "unequal_batches", solution("01_minimax", 1, "discriminator_loss"))
    assert "[pass] hidden check unequal_batches" in capsys.readouterr().out
    with pytest.raises(AssertionError) as info:
        hidden.run("01_minimax", "unequal_batches", d_loss_sum_over_real_batch)
    assert str(info.value).startswith("hidden check unequal_batches: ")


def test_a_stub_is_not_done_and_a_crash_is_reported():
    def stub(real, fake):
        raise NotImplementedError

    def crashes(real, fake):
        return {}["logits"]

    assert hidden.outcome("01_minimax", "unequal_batches", stub) == "not implemented yet."
    assert hidden.outcome("01_minimax", "unequal_batches", crashes).startswith("your code raised")
    assert hidden.outcome("05_wgan", "unequal_batches", stub) == "not implemented yet."


def test_the_checks_leave_the_random_state_alone():
    state = torch.random.get_rng_state()
    for chapter, check in ALL_CHECKS:
        hidden.outcome(chapter, check.name, solution(chapter, check.exercise, check.target))
    assert torch.equal(torch.random.get_rng_state(), state)


# --- realistic bugs: chapter 01 -------------------------------------------------------------------


def softplus_by_hand(x):
    """log(1 + e^x) 'made stable' with torch.where: finite values, NaN gradients for large |x|."""
    return torch.where(x > 0, x + torch.log1p(torch.exp(-x)), torch.log1p(torch.exp(x)))


def d_loss_sum_over_real_batch(real, fake):
    targets = torch.cat([torch.ones_like(real), torch.zeros_like(fake)])
    return bce(torch.cat([real, fake]), targets, reduction="sum") / len(real)


def d_loss_targets_from_real(real, fake):
    return bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(real))


def d_loss_where(real, fake):
    return softplus_by_hand(-real).mean() + softplus_by_hand(fake).mean()


def g_loss_saturating_where(fake):
    return -softplus_by_hand(fake).mean()


def g_loss_non_saturating_where(fake):
    return softplus_by_hand(-fake).mean()


def spectral_norm_by_view(weight, n_iters, u=None):
    """Power iteration with weight.view: right for contiguous weights only."""
    W = weight.view(weight.shape[0], -1)
    if u is None:
        u = torch.nn.functional.normalize(torch.randn(W.shape[0]), dim=0)
    with torch.no_grad():
        for _ in range(n_iters):
            v = torch.nn.functional.normalize(W.T @ u, dim=0)
            u = torch.nn.functional.normalize(W @ v, dim=0)
    return u @ W @ v, u


# --- chapter 02 -----------------------------------------------------------------------------------


def d_step(
    D,
    G,
    opt_D,
    x_real,
    z,
    zero_grad=True,
    freeze_g=False,
    detach_after_d=False,
    targets_from_real=False,
):
    """The solution's discriminator step, with one bug switched on."""
    if freeze_g:
        G.requires_grad_(False)
    logits_real = D(x_real)
    logits_fake = D(G(z)).detach() if detach_after_d else D(G(z) if freeze_g else G(z).detach())
    ones = torch.ones(len(x_real), 1) if targets_from_real else torch.ones_like(logits_real)
    zeros = torch.zeros(len(x_real), 1) if targets_from_real else torch.zeros_like(logits_fake)
    loss = bce(logits_real, ones) + bce(logits_fake, zeros)
    if zero_grad:
        opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss.item()


def g_step(D, G, opt_G, z, zero_grad=True, freeze_d=False):
    """The solution's generator step, with one bug switched on."""
    if freeze_d:
        for p in D.parameters():
            p.requires_grad_(False)
    logits = D(G(z))
    loss = bce(logits, torch.ones_like(logits))
    if zero_grad:
        opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss.item()


# --- chapter 03 -----------------------------------------------------------------------------------


def dcgan_generator(nz, *output):
    """The solution's generator of exercise 1, with `output` as its last layers."""
    return nn.Sequential(
        nn.Linear(nz, 64 * 7 * 7, bias=False),
        nn.BatchNorm1d(64 * 7 * 7),
        nn.ReLU(),
        nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, 2, 1, bias=False),
        *output,
    )


def make_generator_sigmoid(nz):
    return dcgan_generator(nz, nn.Sigmoid())


def make_generator_norm_on_output(nz):
    return dcgan_generator(nz, nn.BatchNorm2d(1), nn.Tanh())


def dcgan_init_by_class_name(m):
    """The PyTorch DCGAN tutorial's weights_init: layers chosen by the name of their class."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


def _slerp(u0, u1, t, z0, z1):
    """sin((1-t) w)/sin w z0 + sin(t w)/sin w z1, w the angle between the unit vectors u0, u1."""
    omega = torch.arccos(torch.clamp(u0 @ u1, -1.0, 1.0))
    return (
        torch.sin((1 - t) * omega)[:, None] * z0 + torch.sin(t * omega)[:, None] * z1
    ) / torch.sin(omega)


def slerp_own_times(z0, z1, t):
    t = torch.linspace(0, 1, len(t))
    return _slerp(z0 / z0.norm(), z1 / z1.norm(), t, z0, z1)


def slerp_in_place(z0, z1, t):
    z0 /= z0.norm()
    z1 /= z1.norm()
    return _slerp(z0, z1, t, z0, z1)


# --- chapter 04 -----------------------------------------------------------------------------------


def label_maps_without_num_classes(y, size):
    return F.one_hot(y).float()[:, :, None, None].expand(-1, -1, size, size)


def cond_step(D, G, opt_D, x_real, y, z, zero_grad=True, freeze_g=False, detach_after_d=False):
    """The solution's conditional discriminator step, with one bug switched on."""
    if freeze_g:
        for p in G.parameters():
            p.requires_grad = False
    logits_real = D(x_real, y)
    if detach_after_d:
        logits_fake = D(G(z, y), y).detach()
    else:
        logits_fake = D(G(z, y) if freeze_g else G(z, y).detach(), y)
    loss = bce(logits_real, torch.ones_like(logits_real)) + bce(
        logits_fake, torch.zeros_like(logits_fake)
    )
    if zero_grad:
        opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss.item()


# --- chapter 05 -----------------------------------------------------------------------------------


def critic_loss_paired(scores_real, scores_fake):
    return (scores_fake - scores_real).mean()


def clip_top_level_layers(critic, c):
    with torch.no_grad():
        for layer in critic.children():
            if getattr(layer, "weight", None) is not None:
                layer.weight.clamp_(-c, c)
            if getattr(layer, "bias", None) is not None:
                layer.bias.clamp_(-c, c)


def clip_chosen_layer_types(critic, c):
    with torch.no_grad():
        for m in critic.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
                for p in m.parameters():
                    p.clamp_(-c, c)


def gradient_penalty(critic, real, fake, per_pixel=False, reduce=lambda n: ((n - 1) ** 2).mean()):
    """The solution's penalty, with one epsilon per pixel or another reduction of the norms."""
    eps = torch.rand_like(real) if per_pixel else torch.rand(len(real), 1, 1, 1)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return reduce(grad.flatten(1).norm(dim=1))


# --- chapter 06 -----------------------------------------------------------------------------------


def unet_detached_skip(net, x):
    h1 = net.down1(x)
    h2 = net.down2(h1)
    u2 = net.up2(torch.cat([net.bottleneck(h2), h2], dim=1))
    return net.up1(torch.cat([u2, h1.detach()], dim=1))


def patchgan_pops_layers(size, layers):
    while layers:
        kernel, stride, padding = layers.pop(0)
        size = (size + 2 * padding - kernel) // stride + 1
    return size


def pix2pix_loss_seven_by_seven(d_logits_fake, fake, target, lam):
    adversarial = bce(d_logits_fake, torch.ones(d_logits_fake.size(0), 1, 7, 7))
    return adversarial + lam * (fake - target).abs().mean()


def pix2pix_loss_detached_logits(d_logits_fake, fake, target, lam):
    logits = d_logits_fake.detach()
    return bce(logits, torch.ones_like(logits)) + lam * (fake - target).abs().mean()


# --- chapter 07 -----------------------------------------------------------------------------------


def cycle_loss_detached(g, f, x_mnist, x_usps, lambda_cycle):
    x_cycle = F.l1_loss(f(g(x_mnist).detach()), x_mnist)
    return lambda_cycle * (x_cycle + F.l1_loss(g(f(x_usps)), x_usps))


class Resized(nn.Module):
    """A translator: a resize into the target's size, then `layers`."""

    def __init__(self, target, *layers):
        super().__init__()
        self.size = 16 if target == "usps" else 28
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(F.interpolate(x, size=(self.size, self.size), mode="bilinear"))


def make_translator_sigmoid(target):
    return Resized(
        target,
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 1, 3, padding=1),
        nn.Sigmoid(),
    )


def make_translator_batch_norm(target):
    return Resized(
        target,
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 1, 3, padding=1),
        nn.Tanh(),
    )


def cyclegan_step(
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
    zero_grad=True,
    freeze_d=False,
    detach_cycle=False,
):
    """The solution's generators' step, with one bug switched on."""
    if freeze_d:  # as the CycleGAN code's set_requires_grad([netD_A, netD_B], False), never undone
        for d in (d_usps, d_mnist):
            d.requires_grad_(False)
    fake_usps, fake_mnist = g(x_mnist), f(x_usps)
    score_usps, score_mnist = d_usps(fake_usps), d_mnist(fake_mnist)
    adversarial = F.mse_loss(score_usps, torch.ones_like(score_usps)) + F.mse_loss(
        score_mnist, torch.ones_like(score_mnist)
    )
    if detach_cycle:
        fake_usps, fake_mnist = fake_usps.detach(), fake_mnist.detach()
    cycle = F.l1_loss(f(fake_usps), x_mnist) + F.l1_loss(g(fake_mnist), x_usps)
    identity = F.l1_loss(g(as_mnist(x_usps)), x_usps) + F.l1_loss(f(as_usps(x_mnist)), x_mnist)
    loss = adversarial + lambda_cycle * cycle + lambda_identity * identity
    if zero_grad:
        opt_gen.zero_grad()
    loss.backward()
    opt_gen.step()
    return loss.item()


# --- chapter 08 -----------------------------------------------------------------------------------


def nearest_distances(queries, references, chunk=256, clamp=True, squeeze=False):
    """The solution's nearest-neighbour distances, without the clamp or with squeezed chunks."""
    r_norms = (references**2).sum(1)
    nearest = []
    for i in range(0, len(queries), chunk):
        q = queries[i : i + chunk].squeeze() if squeeze else queries[i : i + chunk]
        squared = (q**2).sum(1, keepdim=True) - 2 * q @ references.T + r_norms
        smallest = squared.min(1).values
        nearest.append((smallest.clamp_min(0) if clamp else smallest).sqrt())
    return torch.cat(nearest)


def nearest_distances_all_at_once(queries, references, chunk=256):
    return nearest_distances(queries, references, chunk=len(queries))


def nearest_distances_fixed_chunk(queries, references, chunk=256):
    return nearest_distances(queries, references, chunk=256)


def fade_in_fixed_size(low, high, alpha):
    return (1 - alpha) * F.interpolate(low, size=(14, 14), mode="nearest") + alpha * high


def fade_in_no_grad_upsampling(low, high, alpha):
    with torch.no_grad():
        up = F.interpolate(low, scale_factor=2, mode="nearest")
    return (1 - alpha) * up + alpha * high


def bug(chapter, name, buggy, visible, phrase, label=None):
    """One case: a buggy implementation, the visible checker it passes, a phrase of the message."""
    label = label or buggy.__name__
    return pytest.param(chapter, name, buggy, visible, phrase, id=f"{chapter[:2]}-{name}-{label}")


partial = functools.partial
BUGS = [
    bug(
        "01_minimax",
        "unequal_batches",
        d_loss_sum_over_real_batch,
        lu.check_discriminator_loss,
        "average each term over its own batch",
    ),
    bug(
        "01_minimax",
        "unequal_batches",
        d_loss_targets_from_real,
        lu.check_discriminator_loss,
        "differ in size",
    ),
    bug(
        "01_minimax",
        "discriminator_finite_gradient",
        d_loss_where,
        lu.check_discriminator_loss,
        "NaN or infinite gradient",
    ),
    bug(
        "01_minimax",
        "saturating_finite_gradient",
        g_loss_saturating_where,
        partial(lu.check_generator_loss, variant="saturating"),
        "NaN or infinite gradient",
    ),
    bug(
        "01_minimax",
        "non_saturating_finite_gradient",
        g_loss_non_saturating_where,
        partial(lu.check_generator_loss, variant="non_saturating"),
        "NaN or infinite gradient",
    ),
    bug(
        "02_gan_1d",
        "d_zero_grad",
        partial(d_step, zero_grad=False),
        lu.check_discriminator_step,
        "opt_D.zero_grad()",
        "no_zero_grad",
    ),
    bug(
        "02_gan_1d",
        "d_unequal_batches",
        partial(d_step, targets_from_real=True),
        lu.check_discriminator_step,
        "16 real samples and 8 noise vectors",
        "targets_from_real",
    ),
    bug(
        "02_gan_1d",
        "d_fake_term",
        partial(d_step, detach_after_d=True),
        lu.check_discriminator_step,
        "D(G(z).detach())",
        "detached_after_d",
    ),
    bug(
        "02_gan_1d",
        "d_leaves_g_trainable",
        partial(d_step, freeze_g=True),
        lu.check_discriminator_step,
        "no longer require gradients",
        "freezes_g",
    ),
    bug(
        "02_gan_1d",
        "g_zero_grad",
        partial(g_step, zero_grad=False),
        lu.check_generator_step,
        "opt_G.zero_grad()",
        "no_zero_grad",
    ),
    bug(
        "02_gan_1d",
        "g_leaves_d_trainable",
        partial(g_step, freeze_d=True),
        lu.check_generator_step,
        "no longer require gradients",
        "freezes_d",
    ),
    bug(
        "03_mnist_dcgan",
        "output_range",
        make_generator_sigmoid,
        lu.check_image_generator,
        "nn.Tanh()",
    ),
    bug(
        "03_mnist_dcgan",
        "no_norm_on_output",
        make_generator_norm_on_output,
        lu.check_image_generator,
        "normalises its output layer",
    ),
    bug(
        "03_mnist_dcgan",
        "custom_modules",
        dcgan_init_by_class_name,
        lu.check_weights_init,
        "ConvBlock",
    ),
    bug(
        "03_mnist_dcgan",
        "uses_times",
        slerp_own_times,
        lu.check_slerp,
        "use the times t you are given",
    ),
    bug("03_mnist_dcgan", "inputs_untouched", slerp_in_place, lu.check_slerp, "in place"),
    bug(
        "04_conditional",
        "missing_classes",
        label_maps_without_num_classes,
        lu.check_label_maps,
        "num_classes=10",
    ),
    bug(
        "04_conditional",
        "zero_grad",
        partial(cond_step, zero_grad=False),
        lu.check_conditional_discriminator_step,
        "opt_D.zero_grad()",
        "no_zero_grad",
    ),
    bug(
        "04_conditional",
        "fake_term",
        partial(cond_step, detach_after_d=True),
        lu.check_conditional_discriminator_step,
        "D(G(z, y).detach(), y)",
        "detached_after_d",
    ),
    bug(
        "04_conditional",
        "leaves_g_trainable",
        partial(cond_step, freeze_g=True),
        lu.check_conditional_discriminator_step,
        "no longer require gradients",
        "freezes_g",
    ),
    bug(
        "05_wgan",
        "unequal_batches",
        critic_loss_paired,
        lu.check_critic_loss,
        "take the two means separately",
    ),
    bug(
        "05_wgan",
        "nested_modules",
        clip_top_level_layers,
        lu.check_weight_clipping,
        "critic.parameters()",
    ),
    bug("05_wgan", "nested_modules", clip_chosen_layer_types, lu.check_weight_clipping, "gain"),
    bug(
        "05_wgan",
        "per_sample_epsilon",
        partial(gradient_penalty, per_pixel=True),
        lu.check_gradient_penalty,
        "one epsilon per sample",
        "per_pixel",
    ),
    bug(
        "05_wgan",
        "per_sample_penalty",
        partial(gradient_penalty, reduce=lambda n: (n.mean() - 1) ** 2),
        lu.check_gradient_penalty,
        "you square the mean gradient norm",
        "square_of_mean",
    ),
    bug(
        "05_wgan",
        "per_sample_penalty",
        partial(gradient_penalty, reduce=lambda n: (n - 1).abs().mean()),
        lu.check_gradient_penalty,
        "the penalty squares it",
        "absolute",
    ),
    bug(
        "05_wgan",
        "per_sample_penalty",
        partial(gradient_penalty, reduce=lambda n: ((n - 1).clamp(min=0) ** 2).mean()),
        lu.check_gradient_penalty,
        "two-sided",
        "one_sided",
    ),
    bug(
        "06_pix2pix",
        "gradients_flow",
        unet_detached_skip,
        lu.check_unet_skip_shapes,
        "skip connection detached",
    ),
    bug(
        "06_pix2pix",
        "input_untouched",
        patchgan_pops_layers,
        lu.check_patchgan_output_size,
        "changed the list of layers",
    ),
    bug(
        "06_pix2pix",
        "patch_map_size",
        pix2pix_loss_seven_by_seven,
        lu.check_pix2pix_generator_loss,
        "torch.ones_like(d_logits_fake)",
    ),
    bug(
        "06_pix2pix",
        "adversarial_gradient",
        pix2pix_loss_detached_logits,
        lu.check_pix2pix_generator_loss,
        "do not detach d_logits_fake",
    ),
    bug(
        "07_cyclegan",
        "through_both_translators",
        cycle_loss_detached,
        lu.check_cycle_loss,
        "flow back through f into g",
    ),
    bug("07_cyclegan", "output_range", make_translator_sigmoid, lu.check_translator, "nn.Tanh()"),
    bug(
        "07_cyclegan",
        "batch_independent",
        make_translator_batch_norm,
        lu.check_translator,
        "nn.InstanceNorm2d",
    ),
    bug(
        "07_cyclegan",
        "zero_grad",
        partial(cyclegan_step, zero_grad=False),
        lu.check_cyclegan_generator_step,
        "opt_gen.zero_grad()",
        "no_zero_grad",
    ),
    bug(
        "05_wgan",
        "channels_last",
        spectral_norm_by_view,
        lu.check_spectral_norm,
        "channels-last",
        "view",
    ),
    bug(
        "07_cyclegan",
        "leaves_discriminators_trainable",
        partial(cyclegan_step, freeze_d=True),
        lu.check_cyclegan_generator_step,
        "no longer require gradients",
        "freezes_d",
    ),
    bug(
        "07_cyclegan",
        "full_gradient",
        partial(cyclegan_step, detach_cycle=True),
        lu.check_cyclegan_generator_step,
        "does not follow its gradient",
        "detached_cycle",
    ),
    bug(
        "08_what_gans_learn",
        "exact_copies",
        partial(nearest_distances, clamp=False),
        lu.check_nearest_neighbour_distances,
        "Clamp the squared distances at 0",
        "no_clamp",
    ),
    bug(
        "08_what_gans_learn",
        "chunked",
        nearest_distances_all_at_once,
        lu.check_nearest_neighbour_distances,
        "use the chunk argument",
    ),
    bug(
        "08_what_gans_learn",
        "chunked",
        nearest_distances_fixed_chunk,
        lu.check_nearest_neighbour_distances,
        "not a fixed size",
    ),
    bug(
        "08_what_gans_learn",
        "chunked",
        partial(nearest_distances, squeeze=True),
        lu.check_nearest_neighbour_distances,
        "(no .squeeze())",
        "squeezed_chunk",
    ),
    bug(
        "08_what_gans_learn",
        "any_resolution",
        fade_in_fixed_size,
        lu.check_fade_in,
        "without fixed sizes",
    ),
    bug(
        "08_what_gans_learn",
        "gradients_flow",
        fade_in_no_grad_upsampling,
        lu.check_fade_in,
        "torch.no_grad()",
    ),
]


@pytest.mark.parametrize(("chapter", "name", "buggy", "visible", "phrase"), BUGS)
def test_the_bug_passes_the_visible_checker_but_fails_the_hidden_check(
    capsys, chapter, name, buggy, visible, phrase
):
    assert visible(buggy) is True, capsys.readouterr().out
    assert "[pass]" in capsys.readouterr().out
    message = hidden.outcome(chapter, name, buggy)
    assert message is not None, f"hidden check {name} lets the bug through"
    assert phrase in message, message


def test_every_hidden_check_has_a_bug_that_it_catches():
    covered = {case.values[:2] for case in BUGS}
    assert covered == {(chapter, check.name) for chapter, check in ALL_CHECKS}
