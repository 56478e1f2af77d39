# %% [markdown]
# # 2. A GAN on a 1D Gaussian, then mode collapse
#
# Chapter 1 studied the game with a *fixed* generator. Here both players learn. The data is as
# simple as it gets, a 1D Gaussian $\mathcal{N}(4, 0.5^2)$, so that we can see everything: the
# generated density $p_g$, the discriminator's $D(x)$, and a distance between $p_g$ and $p_\text{data}$
# measured on samples, with a known noise floor.
#
# **Goals.** After this chapter you can
# 1. write the alternating training loop of Algorithm 1 (Goodfellow et al., 2014) in PyTorch, one
#    discriminator step and one generator step at a time;
# 2. *measure* a generator with the Wasserstein-1 distance, its mean and its standard deviation,
#    instead of judging plots by eye;
# 3. predict the effect of the minibatch size, the number $k$ of discriminator steps, the learning
#    rates, and the capacities of $G$ and $D$, and check the prediction by experiment;
# 4. run the original recipe (SGD, one sample per step, then the minibatch size), watch the saturating
#    loss stall in training, and tell the game's equilibrium from a broken game whose discriminator
#    also answers $\tfrac12$;
# 5. recognise **mode collapse** on a two-mode 1D target and on the 2D ring of 8 Gaussians, count it,
#    and test two remedies that let the discriminator see the whole minibatch: minibatch
#    discrimination (Salimans et al., 2016, *Improved Techniques for Training GANs*) and the minibatch
#    standard deviation (Karras et al., 2018, *Progressive Growing of GANs*). They are not
#    guaranteed fixes: in this chapter's runs only the minibatch standard deviation covers every
#    mode of both targets, while minibatch discrimination covers {glue}`mbd_modes_1d` of the 2
#    modes in 1D and {glue}`mbd_modes_ring` of the 8 of the ring.

# %%
import re

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import display
from matplotlib.figure import Figure
from torch import nn

import labutils as lu

# tiny networks: one CPU thread is fastest
settings = lu.setup("02_gan_1d", seed=0, threads=1)
device = settings.device

# %% [markdown]
# ## Settings
# All hyperparameters of the chapter. The profile changes only the number of steps and samples.

# %%
target_mean = 4.0  # p_data = N(4, 0.5^2)
target_std = 0.5  # its standard deviation
nz = 1  # latent dimension: z ~ N(0, 1)
g_hidden = 0  # generator hidden units (0: affine, G(z) = w z + b)
d_hidden = 32  # discriminator width
d_depth = 3  # discriminator hidden layers: deeper than G
lr_g = lr_d = 5e-3  # Adam learning rates of G and D
betas = (0.5, 0.999)  # Adam momentum terms, as in DCGAN (Radford et al.)
batch_size = 256  # samples of each distribution per step
k_steps = 1  # discriminator steps per generator step (Algorithm 1's k)
n_steps = lu.pick(full=3000, smoke=150)  # generator steps of the main run
experiment_steps = lu.pick(full=2000, smoke=100)  # steps of each experiment
snapshot_every = lu.pick(full=100, smoke=10)  # steps between snapshots
n_eval = lu.pick(full=20_000, smoke=2_000)  # samples to measure W1, mean, std
x_grid = np.linspace(1.0, 7.0, 301)  # where p_data and D(x) are drawn
# 2.5, mode collapse: a setting where the vanilla GAN collapses; the
# remedies are trained with exactly the same settings
collapse_nz = 16  # latent dimension of G
collapse_hidden = 64  # G and D: 2 hidden layers of 64 units
collapse_activation = "relu"  # ReLU networks collapse more readily
collapse_batch = 64  # samples of each distribution per step
collapse_lr_g = 2e-3  # G learns 4x faster than D
collapse_lr_d = 5e-4  # the discriminator's learning rate
mix_means = (-2.0, 2.0)  # two-mode 1D target: the means
mix_std = 0.3  # and their standard deviation
mix_min_share = 0.10  # a 1D mode is covered with 10% of the samples
ring_modes = 8  # 2D ring of 8 Gaussians
ring_radius = 2.0  # its radius
ring_std = 0.1  # each mode's standard deviation
ring_min_share = 0.01  # a mode of the ring is covered with 1% of them
mbd_kernels = 8  # minibatch discrimination: B kernels
mbd_kernel_dim = 4  # of dimension C
collapse_steps_1d = lu.pick(full=1500, smoke=60)  # steps on the two modes
collapse_steps_ring = lu.pick(full=2000, smoke=60)  # steps on the ring
# 2.4, the original recipe of Goodfellow et al. (2014): SGD, batch 1
sgd_lr = 0.05  # plain SGD's learning rate (their MNIST code: 0.1)
sgd_momentum = 0.5  # their code's momentum at the start (raised to 0.7)
momentum_lr = sgd_lr * (1 - sgd_momentum)  # same step: lr / (1 - m)
minibatch_sizes = (1, 4, 16, 64, 256)  # the minibatch-size sweep (Adam)
curve_every = lu.pick(full=50, smoke=10)  # steps between W1 measurements

# %% [markdown]
# ## 2.1 The models
#
# The generator maps $z \sim \mathcal{N}(0, 1)$ to $x$. With `g_hidden = 0` it is **affine**,
# $G(z) = w z + b$: then $p_g = \mathcal{N}(b, w^2)$, and the target is reached exactly at $w = \pm 0.5$,
# $b = 4$. It is deliberately *shallower* than the discriminator: $D$ must be flexible enough to
# find where $p_g$ and $p_\text{data}$ differ, while $G$ only has to move its mass there. Both
# networks (and the bigger ones of section 2.5) stack the same hidden layers.

# %%
ACTIVATIONS = {"leaky_relu": lambda: nn.LeakyReLU(0.2), "relu": nn.ReLU}


def hidden_layers(width, hidden, depth, activation):
    """`depth` layers of `hidden` units with an activation, from `width`."""
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
        width = hidden
    return layers


# %%
class Generator(nn.Module):
    """z (batch, nz) -> x (batch, dim); affine when hidden == 0."""

    def __init__(self, nz, hidden=0, dim=1, depth=1, activation="leaky_relu"):
        super().__init__()
        self.nz = nz
        if hidden == 0:
            self.net = nn.Linear(nz, dim)
        else:
            layers = hidden_layers(nz, hidden, depth, activation)
            self.net = nn.Sequential(*layers, nn.Linear(hidden, dim))

    def forward(self, z):
        return self.net(z)


# %%
class Discriminator(nn.Module):
    """x (batch, dim) -> logit (batch, 1): `depth` hidden layers."""

    def __init__(self, hidden, depth, dim=1, activation="leaky_relu"):
        super().__init__()
        layers = hidden_layers(dim, hidden, depth, activation)
        self.net = nn.Sequential(*layers, nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)


# %%
# NBVAL_CHECK_OUTPUT
G_demo, D_demo = Generator(nz, g_hidden), Discriminator(d_hidden, d_depth)
print(
    f"generator: {lu.n_params(G_demo)} parameters, "
    f"discriminator: {lu.n_params(D_demo)} parameters"
)
print(
    "output shapes:",
    tuple(G_demo(torch.zeros(5, nz)).shape),
    tuple(D_demo(torch.zeros(5, 1)).shape),
)

# %% [markdown]
# ## 2.2 The training loop, one piece at a time
#
# Algorithm 1 alternates two steps. The **discriminator step** is a classifier step on
# $\text{BCE}(D(x), 1) + \text{BCE}(D(G(z)), 0)$, with $G(z)$ **detached**: the discriminator step
# must not update $G$. The targets (ones for real, zeros for generated) are made once by the loop,
# for its batch size.


# %%
def sample_target(n):
    return lu.sample_gaussian_1d(n, target_mean, target_std)


# part of every run's checkpoint key
target = ("gaussian", target_mean, target_std)
bce = F.binary_cross_entropy_with_logits


# %%
def d_step(D, G, opt_d, x_real, z, ones, zeros):
    """One step of D on a real batch and G(z); return the loss and logits."""
    logits_real = D(x_real)
    # detached: no gradient of this loss may reach G
    logits_fake = D(G(z).detach())
    loss = bce(logits_real, ones) + bce(logits_fake, zeros)
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss, logits_real, logits_fake


# %% [markdown]
# One step on one batch, with freshly initialised players: $D$ starts close to a coin, so its loss
# is close to $2 \log 2$ and it gives about $\tfrac12$ to real and generated samples alike.

# %%
torch.manual_seed(settings.seed)
opt_g_demo = torch.optim.Adam(G_demo.parameters(), lr=lr_g, betas=betas)
opt_d_demo = torch.optim.Adam(D_demo.parameters(), lr=lr_d, betas=betas)
ones = torch.ones(batch_size, 1, device=device)
zeros = torch.zeros(batch_size, 1, device=device)
x_real = sample_target(batch_size).to(device)
z = torch.randn(batch_size, nz, device=device)
loss_d, logits_real, logits_fake = d_step(
    D_demo, G_demo, opt_d_demo, x_real, z, ones, zeros
)
d_of_real = torch.sigmoid(logits_real).mean().item()
d_of_fake = torch.sigmoid(logits_fake).mean().item()
print(f"loss_d = {loss_d.item():.4f}   (2 log 2 = {2 * np.log(2):.4f})")
print(f"mean D(x)    = {d_of_real:.3f}")
print(f"mean D(G(z)) = {d_of_fake:.3f}")
lu.claim(
    "the fresh D is close to a coin: loss within 0.05 of 2 log 2, "
    "D(x) and D(G(z)) within 0.05 of 1/2",
    abs(loss_d.item() - 2 * np.log(2)) < 0.05
    and abs(d_of_real - 0.5) < 0.05
    and abs(d_of_fake - 0.5) < 0.05,
)

# %% [markdown]
# The **generator step** descends the non-saturating loss
# $\text{BCE}(D(G(z)), 1) = -\log D(G(z))$ (chapter 1). The gradient flows through $D$ into $G$,
# but only $G$'s optimiser steps.


# %%
def g_step(D, G, opt_g, z, ones, saturating=False):
    """One step of G on -log D(G(z)), or on log(1 - D(G(z))) (saturating)."""
    logits = D(G(z))
    # log(1 - D) = -BCE(logits, 0): the minimax game's own G loss (1.6)
    loss = -bce(logits, 1 - ones) if saturating else bce(logits, ones)
    # D's parameters receive gradients too; d_step zeroes them before use
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
    return loss


# %% [markdown]
# On the same batch: the affine generator's weight and bias move by about the learning rate (Adam's
# first step), in the direction that $D$ rewards: $G$'s loss on this batch falls.

# %%
before = G_demo.net.weight.item(), G_demo.net.bias.item()
loss_g = g_step(D_demo, G_demo, opt_g_demo, z, ones)
after = G_demo.net.weight.item(), G_demo.net.bias.item()
with torch.no_grad():
    loss_after = bce(D_demo(G_demo(z)), ones).item()
print(f"loss_g = {loss_g.item():.4f} before the step, {loss_after:.4f} after")
print(
    "G(z) = {:.4f} z + {:.4f}  ->  {:.4f} z + {:.4f}".format(*before, *after)
)
moves = [abs(a - b) for a, b in zip(after, before)]
lu.claim(
    "one G step moves w and b by about the learning rate (within 50%) "
    "and lowers G's loss",
    all(abs(m - lr_g) < lr_g / 2 for m in moves)
    and loss_after < loss_g.item(),
)

# %% [markdown]
# The loop around them adds what a real run needs. Both learning rates decay linearly to zero over
# the second half of training, which lets the two players settle instead of circling the
# equilibrium. Everything the figures need (losses, the mean of $D(x)$ and $D(G(z))$, snapshots of
# $p_g$ and $D$) goes into `run.history`, which the checkpoint keeps: executed again, the notebook
# loads the run and draws the same figures without retraining.


# %%
def optimiser(model, lr, hp):
    """Adam, or SGD with hp's momentum (Goodfellow et al.'s rule)."""
    if hp.get("optimiser", "adam") == "sgd":
        momentum = hp.get("momentum", 0.0)
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    return torch.optim.Adam(model.parameters(), lr=lr, betas=betas)


# %%
def training_state(G, D, hp):
    """The players, their optimisers and learning-rate schedules."""
    opt_g = optimiser(G, hp["lr_g"], hp)
    opt_d = optimiser(D, hp["lr_d"], hp)

    def decay(step):  # 1 over the first half, then linear to 0
        return min(1.0, 2.0 * (1 - step / hp["steps"]))

    return dict(
        generator=G,
        discriminator=D,
        opt_g=opt_g,
        opt_d=opt_d,
        sched_g=torch.optim.lr_scheduler.LambdaLR(opt_g, decay),
        sched_d=torch.optim.lr_scheduler.LambdaLR(opt_d, decay),
    )


# %%
def record(h, loss_d, loss_g, logits_real, logits_fake, G):
    """Append one step's losses, mean D(x), D(G(z)) and the norm of G's
    gradient to the history h."""
    if not (torch.isfinite(loss_d) and torch.isfinite(loss_g)):
        raise FloatingPointError(
            f"a loss became NaN/inf at step {len(h['loss_d'])}; "
            "lower the learning rates."
        )
    h["loss_d"].append(loss_d.item())
    h["loss_g"].append(loss_g.item())
    h["d_real"].append(torch.sigmoid(logits_real).mean().item())
    h["d_fake"].append(torch.sigmoid(logits_fake).mean().item())
    grads = [p.grad.flatten() for p in G.parameters()]
    h["g_grad"].append(torch.cat(grads).norm().item())


# %%
def snapshot(h, step, G, D, snap):
    """Record G's samples of the fixed noise, and D(x) on the grid if any."""
    with torch.no_grad():
        h["snapshot_step"].append(step)
        samples = G(snap["noise"].to(device)).squeeze(1)
        h["snapshot_samples"].append(samples.cpu())
        if snap.get("grid") is not None:
            grid = torch.tensor(snap["grid"], dtype=torch.float32)
            d = torch.sigmoid(D(grid.unsqueeze(1).to(device))).squeeze(1)
            h["snapshot_d"].append(d.cpu())


# %%
def run_config(hp, snap):
    """What the checkpoint key covers besides the code and the models."""
    config = dict(hp, betas=betas)
    if snap:
        grid = snap.get("grid")
        config["snapshots"] = [
            snap["every"],
            snap["noise"].sum().item(),
            None
            if grid is None
            else [float(grid[0]), float(grid[-1]), len(grid)],
        ]
    return config


# %% [markdown]
# The loop itself: $k$ discriminator steps, each on a fresh real batch and fresh noise, then one
# generator step on fresh noise; `hp` holds the run's settings (`steps`, `batch_size`, `lr_g`,
# `lr_d`, `k`, and the target's description; section 2.4 adds an optimiser and the saturating loss)
# and `snap` those of the snapshots.


# %%
def train_gan(name, G, D, sample_real, hp, snap=None):
    """Train G and D with Algorithm 1; return the run with its history."""
    state = training_state(G, D, hp)
    opt_g, opt_d = state["opt_g"], state["opt_d"]
    run = lu.start_run(name, run_config(hp, snap), state, hp["steps"])
    n = hp["batch_size"]
    ones = torch.ones(n, 1, device=device)
    zeros = torch.zeros(n, 1, device=device)
    for step in lu.training_steps(run, desc=name):
        for _ in range(hp["k"]):
            x_real = sample_real(n).to(device)
            z = torch.randn(n, G.nz, device=device)
            loss_d, real, fake = d_step(D, G, opt_d, x_real, z, ones, zeros)
        z = torch.randn(n, G.nz, device=device)
        loss_g = g_step(D, G, opt_g, z, ones, hp.get("saturating", False))
        state["sched_g"].step()
        state["sched_d"].step()
        record(run.history, loss_d, loss_g, real, fake, G)
        if snap and (step % snap["every"] == 0 or step == hp["steps"] - 1):
            snapshot(run.history, step, G, D, snap)
    return run


# %% [markdown]
# We measure the generator with the **Wasserstein-1 distance** between generated and real samples,
# $W_1(p, q) = \int |F_p(x) - F_q(x)|\,dx$ in 1D (the area between the two cumulative distribution
# functions): it is in the units of $x$, zero only when the distributions are equal, and meaningful
# even when they do not overlap. Fixed noise makes snapshots comparable from step to step.

# %%
eval_rng = torch.Generator().manual_seed(1)
x_eval_real = lu.sample_gaussian_1d(n_eval, target_mean, target_std, eval_rng)
z_eval = torch.randn(n_eval, nz, generator=eval_rng)
fixed_noise = torch.randn(2000, nz, generator=torch.Generator().manual_seed(2))


# %%
def evaluate(G, z=None):
    """W1 to the target, and the mean and std of generated samples."""
    with torch.no_grad():
        x = G((z_eval if z is None else z).to(device)).cpu()
    return {
        "w1": lu.wasserstein_1d(x, x_eval_real),
        "mean": x.mean().item(),
        "std": x.std().item(),
    }


# %% [markdown]
# The noise floor: the distance between two independent real samples of this size. A generator
# whose distance is at the floor is as close to the target as a second real sample is.

# %%
x_other_real = lu.sample_gaussian_1d(n_eval, target_mean, target_std, eval_rng)
w1_reference = lu.glue(
    "w1_floor", lu.wasserstein_1d(x_other_real, x_eval_real)
)
print(f"noise floor: W1 between two real samples = {w1_reference:.4f}")

# %% [markdown]
# ## 2.3 Training on $\mathcal{N}(4, 0.5^2)$

# %%
main_hp = dict(
    steps=n_steps,
    batch_size=batch_size,
    lr_g=lr_g,
    lr_d=lr_d,
    k=k_steps,
    target=target,
)
main_snap = dict(every=snapshot_every, noise=fixed_noise, grid=x_grid)
torch.manual_seed(settings.seed)
generator = Generator(nz, g_hidden).to(device)
discriminator = Discriminator(d_hidden, d_depth).to(device)
main_run = train_gan(
    "main", generator, discriminator, sample_target, main_hp, main_snap
)

# %%
result = evaluate(generator)
main_seconds = main_run.trained_seconds
w, b = generator.net.weight.item(), generator.net.bias.item()
print(f"W1 = {result['w1']:.4f} (noise floor {w1_reference:.4f})")
print(f"generated mean = {result['mean']:.3f} (target {target_mean})")
print(f"generated std  = {result['std']:.3f} (target {target_std})")
print(f"learned G(z) = {w:.3f} z + {b:.3f}; trained in {main_seconds:.1f} s")

# %% tags=["hide-input"]
lu.glue("w1_main", result["w1"])
lu.glue("mean_main", result["mean"])
lu.glue("std_main", result["std"])
lu.glue("learned_w", w)
lu.glue("learned_b", b)
lu.claim(
    "the main run's W1 is at the noise floor (below twice the floor)",
    result["w1"] < 2 * w1_reference,
)
lu.claim(
    "the generated mean and std are within 0.02 of the target's",
    abs(result["mean"] - target_mean) < 0.02
    and abs(result["std"] - target_std) < 0.02,
)
lu.claim(
    "|w| and b are the generated std and mean (within 0.02)",
    abs(abs(w) - result["std"]) < 0.02 and abs(b - result["mean"]) < 0.02,
)

# %% [markdown]
# The distance, measured on fresh samples, is {glue:text}`w1_main:.4f`, at the noise floor
# ({glue:text}`w1_floor:.4f`); the generated mean is {glue:text}`mean_main:.3f` and the standard
# deviation {glue:text}`std_main:.3f`. The learned weight and bias of the affine generator,
# {glue:text}`learned_w:.3f` and {glue:text}`learned_b:.3f`, are that standard deviation (its
# absolute value, see Q1) and that mean. Now the whole run: snapshots of $p_g$ and $D(x)$, and the
# training curves.

# %% tags=["hide-input"]
h = main_run.history
p_target = lu.gaussian_pdf(x_grid, target_mean, target_std)
picks = np.linspace(0, len(h["snapshot_step"]) - 1, 4).round().astype(int)
fig, axes = plt.subplots(1, 4, figsize=(16, 3.3), sharey=True)
for ax, i in zip(axes, picks):
    samples, d_of_x = h["snapshot_samples"][i], h["snapshot_d"][i].numpy()
    title = f"step {h['snapshot_step'][i]}"
    lu.plot_density_1d(x_grid, p_target, samples, d_of_x, title=title, ax=ax)
for ax in axes[1:]:
    ax.get_legend().remove()
    ax.set_ylabel("")
fig.suptitle("Generated density and D(x) during training", y=1.04)
plt.show()

# %% tags=["hide-input"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 3.5))
lu.plot_losses(h, ["loss_d", "loss_g"], title="Losses", ax=ax1, smooth=25)
ax1.axhline(2 * np.log(2), color="gray", ls=":", label="2 log 2 (D at 1/2)")
ax1.axhline(np.log(2), color="gray", ls="--", lw=0.8, label="log 2")
ax1.legend()
lu.plot_losses(
    h,
    ["d_real", "d_fake"],
    title="Mean D(x) on real and D(G(z)) on generated samples",
    ax=ax2,
    smooth=25,
    ylabel="probability",
)
ax2.axhline(0.5, color="gray", ls=":")
plt.show()

# %% [markdown]
# The end of the run, averaged over its last tenth:

# %%
tail = slice(-max(1, n_steps // 10), None)
final = {}
for key in ("loss_d", "loss_g", "d_real", "d_fake"):
    final[key] = lu.glue("final_" + key, float(np.mean(h[key][tail])))
    print(f"{key:7s} {final[key]:.3f}")
lu.claim(
    "at the end the D loss is within 0.05 of 2 log 2, the G loss of log 2",
    abs(final["loss_d"] - 2 * np.log(2)) < 0.05
    and abs(final["loss_g"] - np.log(2)) < 0.05,
)
lu.claim(
    "at the end D(x) and D(G(z)) are within 0.02 of 1/2",
    abs(final["d_real"] - 0.5) < 0.02 and abs(final["d_fake"] - 0.5) < 0.02,
)

# %% [markdown]
# At equilibrium $D = \tfrac12$ everywhere, so the discriminator loss tends to $2\log 2 \approx 1.39$,
# the generator loss to $\log 2 \approx 0.69$, and both $D(x)$ and $D(G(z))$ to $0.5$; over the last
# tenth of this run they average {glue:text}`final_loss_d:.3f`, {glue:text}`final_loss_g:.3f`,
# {glue:text}`final_d_real:.3f` and {glue:text}`final_d_fake:.3f`. Unlike a classifier's loss, a
# GAN's losses do not go to zero: a discriminator loss near $2 \log 2$ means the discriminator has
# been beaten, which is what we want.
#
# The same run as an animation (press play):

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(5.5, 3.2))
n_snapshots = len(h["snapshot_step"])
frames = list(range(0, n_snapshots, max(1, n_snapshots // 15)))
frames.append(n_snapshots - 1)


def draw(i):
    ax.clear()
    j = frames[i]
    title = f"step {h['snapshot_step'][j]}"
    samples, d_of_x = h["snapshot_samples"][j], h["snapshot_d"][j].numpy()
    lu.plot_density_1d(x_grid, p_target, samples, d_of_x, title=title, ax=ax)


lu.animate(fig, draw, len(frames), interval_ms=300, max_bytes=1_000_000)

# %% [markdown]
# ## 2.4 Experiments
#
# Each experiment changes **one** setting of the main run and trains for `experiment_steps` steps
# from the same initial weights, then measures $W_1$. Before running, predict what will happen.
#
# 1. **Minibatch size**: batches of a single sample (one real and one generated sample per step,
#    still with Adam) against minibatches of 256.
# 2. **$k$**: five discriminator steps per generator step instead of one.
# 3. **Learning rates**: ten times smaller, and ten times larger.
# 4. **Capacity**: a weak discriminator (one hidden layer of 4 units), and a generator with a hidden
#    layer (no longer affine).

# %%
experiments = {  # label: the settings that differ from the main run
    "baseline": {},
    "batch 1": {"batch_size": 1},
    "k = 5": {"k": 5},
    "lr x 0.1": {"lr_g": lr_g / 10, "lr_d": lr_d / 10},
    "lr x 10": {"lr_g": lr_g * 10, "lr_d": lr_d * 10},
    "weak D (1 x 4 units)": {"d_hidden": 4, "d_depth": 1},
    "G with 16 hidden units": {"g_hidden": 16},
}


# %%
def run_experiment(label, change):
    """Train the main run's GAN with one setting changed; measure it."""
    hp = main_hp | {"steps": experiment_steps} | change
    torch.manual_seed(settings.seed)
    G = Generator(nz, hp.pop("g_hidden", g_hidden)).to(device)
    D = Discriminator(hp.pop("d_hidden", d_hidden), hp.pop("d_depth", d_depth))
    run = train_gan("experiment " + label, G, D.to(device), sample_target, hp)
    measured = evaluate(G)
    return measured | {"seconds": run.trained_seconds, "history": run.history}


experiment_results = {
    label: run_experiment(label, change)
    for label, change in experiments.items()
}

# %%
lu.show_table(
    [
        {
            "experiment": label,
            "W1": f"{r['w1']:.4f}",
            "mean": f"{r['mean']:.3f}",
            "std": f"{r['std']:.3f}",
            "seconds": f"{r['seconds']:.1f}",
        }
        for label, r in experiment_results.items()
    ]
)

# %% tags=["hide-input"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 3.6))
labels = list(experiment_results)
ax1.barh(
    labels, [experiment_results[k]["w1"] for k in labels], color="tab:purple"
)
ax1.set(
    title=f"W1 to the target after {experiment_steps} steps (lower is better)",
    xlabel="W1",
    xscale="log",
)
ax1.invert_yaxis()
for label in ["baseline", "batch 1", "lr x 10"]:
    d_real = experiment_results[label]["history"]["d_real"]
    smooth = np.convolve(d_real, np.ones(20) / 20, mode="valid")
    ax2.plot(smooth, label=label)
ax2.set(
    title="Mean D(x) on real samples (moving average)",
    xlabel="training step",
    ylabel="D(x)",
)
ax2.legend()
plt.show()


# %% tags=["hide-input"]
def settle_step(d_real, window=20, tolerance=0.02):
    """First step at which the moving average of D(x) is within tolerance
    of 1/2 (the number of steps when it never is)."""
    smooth = np.convolve(d_real, np.ones(window) / window, mode="valid")
    close = np.flatnonzero(np.abs(smooth - 0.5) < tolerance)
    return int(close[0]) if len(close) else len(d_real)


e = experiment_results
w1 = {label: r["w1"] for label, r in e.items()}
settle = {label: settle_step(e[label]["history"]["d_real"]) for label in e}
half = experiment_steps // 2
jitter = {label: np.std(e[label]["history"]["d_real"][half:]) for label in e}
time_ratio = e["k = 5"]["seconds"] / e["baseline"]["seconds"]

# %% tags=["hide-input"]
lu.glue("k5_time_ratio", time_ratio)
lu.glue("weak_mean", e["weak D (1 x 4 units)"]["mean"])
lu.glue("weak_std", e["weak D (1 x 4 units)"]["std"])
lu.glue("w1_base", w1["baseline"])
lu.glue("w1_k5", w1["k = 5"])
lu.glue("w1_g16", w1["G with 16 hidden units"])
lu.glue("settle_lr10", settle["lr x 10"])
lu.glue("settle_base", settle["baseline"])
degraded = ["batch 1", "lr x 0.1", "lr x 10", "weak D (1 x 4 units)"]
lu.claim(
    "small batches, a weak D and both changed learning rates end further "
    "from the target than the baseline",
    all(w1[label] > w1["baseline"] for label in degraded),
)

# %% tags=["hide-input"]
lu.claim(
    "batch 1 ends much further from the target (W1 > 3x the baseline's)",
    w1["batch 1"] > 3 * w1["baseline"],
)
lu.claim(
    "batch 1's D(x) is far noisier (std over the second half > 3x)",
    jitter["batch 1"] > 3 * jitter["baseline"],
)
lu.claim(
    "k = 5 is no help here (W1 not below the baseline's)",
    w1["k = 5"] >= w1["baseline"],
)
lu.claim("k = 5 costs more time (over 1.5x the baseline's)", time_ratio > 1.5)
lu.claim("lr x 0.1 is far from converged (W1 > 0.5)", w1["lr x 0.1"] > 0.5)
lu.claim(
    "lr x 10's D(x) settles at 1/2 first (before baseline and batch 1)",
    settle["lr x 10"] < min(settle["baseline"], settle["batch 1"]),
)
lu.claim(
    "lr x 10 ends less precisely than the baseline",
    w1["lr x 10"] > w1["baseline"],
)

# %% tags=["hide-input"]
weak = e["weak D (1 x 4 units)"]
lu.claim(
    "the weak D leaves both the mean and the std off (by more than 0.05)",
    abs(weak["mean"] - target_mean) > 0.05
    and abs(weak["std"] - target_std) > 0.05,
)
lu.claim(
    "the G with a hidden layer ends further away than the affine G (> 3x)",
    w1["G with 16 hidden units"] > 3 * w1["baseline"],
)

# %% [markdown] tags=["solution"]
# **What the experiments show** (read the numbers above; they come from this run):
# * **Batch 1** is far noisier: each discriminator step sees one real and one fake sample, so its
#   estimate of where $p_g$ and $p_\text{data}$ differ is poor and the generator receives a noisy
#   signal (see its $D(x)$ curve); with the same number of steps it ends much further from the
#   target. Minibatches average the gradient over many samples.
# * **$k = 5$** keeps $D$ closer to its optimum for the current $G$. That is no help here: with $k = 1$
#   the discriminator already follows this slowly moving generator, and the sharper $D$ probably
#   gives the generator steeper, less forgiving gradients near the equilibrium; its $W_1$ is
#   {glue:text}`w1_k5:.4f` against the baseline's {glue:text}`w1_base:.4f`. It also costs $k$ times
#   more discriminator work: here {glue:text}`k5_time_ratio:.1f` times the baseline's training time.
# * **Learning rates**: ten times smaller and the players are far from converged after the same
#   number of steps. Ten times larger converges fastest of the three runs drawn on the right (its
#   $D(x)$ settles at $\tfrac12$ by step {glue}`settle_lr10`, the baseline's by step
#   {glue}`settle_base`) but ends less precisely than the baseline: large steps keep jittering around
#   the equilibrium until the decay of the learning rate calms them.
# * **Capacity**: with four units, the weak discriminator's $D(x)$ is a coarse function that cannot
#   describe precisely where $p_g$ and $p_\text{data}$ differ, so its gradient guides the generator
#   poorly: against it, both the generated mean ({glue:text}`weak_mean:.2f`) and the standard
#   deviation ({glue:text}`weak_std:.2f`) stay off, not only one of them. A non-affine generator
#   *can* represent the target, but must also learn to be linear; after the same number of steps it
#   is further away ($W_1$ of {glue:text}`w1_g16:.4f`).

# %% [markdown]
# ### The original recipe: SGD, one sample at a time, then the minibatch size
#
# Goodfellow et al. (2014) trained with stochastic gradient descent with momentum (a footnote to their
# Algorithm 1), and a study of the paper plans to start "without minibatches", one sample per step,
# then to tune the minibatch size, keeping it at most 16. We run the 1D problem both ways: plain SGD and
# SGD with momentum on single samples, against the chapter's Adam on single samples; then Adam with
# minibatches of `minibatch_sizes`. Every run has the main run's networks, learning-rate decay and
# initial weights, and records $W_1$ to the target every `curve_every` steps (on the fixed noise).


# %%
def curve_run(label, change, steps=experiment_steps):
    """Train with one change and W1 every curve_every steps; the run."""
    hp = main_hp | {"steps": steps} | change
    torch.manual_seed(settings.seed)
    G = Generator(nz, g_hidden).to(device)
    D = Discriminator(hp.pop("d_hidden", d_hidden), hp.pop("d_depth", d_depth))
    snap = dict(every=curve_every, noise=z_eval)
    return train_gan(
        "curve " + label, G, D.to(device), sample_target, hp, snap
    )


def w1_curve(run):
    """W1 of each snapshot's samples to the real evaluation sample."""
    h = run.history
    return [lu.wasserstein_1d(x, x_eval_real) for x in h["snapshot_samples"]]


# %%
sgd = {"optimiser": "sgd", "lr_g": sgd_lr, "lr_d": sgd_lr}
recipe = {
    "SGD, batch 1": {"batch_size": 1} | sgd,
    "momentum SGD, batch 1": sgd
    | {"batch_size": 1, "momentum": sgd_momentum}
    | {"lr_g": momentum_lr, "lr_d": momentum_lr},
}
recipe |= {f"Adam, batch {m}": {"batch_size": m} for m in minibatch_sizes}
recipe_runs = {label: curve_run(label, c) for label, c in recipe.items()}
recipe_w1 = {label: w1_curve(run) for label, run in recipe_runs.items()}


# %% tags=["hide-input"]
def seconds_axis(run):
    """The snapshot steps in training seconds (steps cost about the same)."""
    per_step = run.trained_seconds / run.total_steps
    return [step * per_step for step in run.history["snapshot_step"]]


fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 3.8), sharey=True)
for label, run in recipe_runs.items():
    style = dict(ls="--") if "SGD" in label else {}
    steps = run.history["snapshot_step"]
    ax1.plot(steps, recipe_w1[label], label=label, **style)
    ax2.plot(seconds_axis(run), recipe_w1[label], label=label, **style)
for ax in (ax1, ax2):
    ax.axhline(w1_reference, color="black", ls=":", label="noise floor")
    ax.set(yscale="log", ylabel="W1 to the target")
ax1.set(title="W1 against steps", xlabel="generator step")
ax2.set(title="W1 against training time", xlabel="training seconds")
ax2.legend(fontsize=8)
plt.show()

# %%
rows = []
for label, run in recipe_runs.items():
    w1s = recipe_w1[label]
    rows.append({"run": label, "W1 at the end": w1s[-1]})
    rows[-1] |= {"best W1": min(w1s), "seconds": run.trained_seconds}
display(lu.show_table(rows))
final_w1 = {label: w1s[-1] for label, w1s in recipe_w1.items()}

# %%
base_w1 = final_w1["Adam, batch 256"]
small = [f"Adam, batch {m}" for m in minibatch_sizes if m <= 16]
lu.glue("recipe_sgd_w1", final_w1["SGD, batch 1"])
lu.glue("recipe_momentum_w1", final_w1["momentum SGD, batch 1"])
lu.glue("recipe_adam1_w1", final_w1["Adam, batch 1"])
lu.glue("recipe_adam16_w1", final_w1["Adam, batch 16"])
lu.glue("recipe_adam256_w1", base_w1)
early = {label: w1s[min(len(w1s) - 1, 10)] for label, w1s in recipe_w1.items()}
lu.glue("early_step", recipe_runs["SGD, batch 1"].history["snapshot_step"][10])
lu.glue("early_sgd", early["SGD, batch 1"])
lu.glue("early_adam1", early["Adam, batch 1"])
lu.glue("early_momentum", early["momentum SGD, batch 1"])
adam_runs = [run for label, run in recipe_runs.items() if "Adam" in label]
step_seconds = [run.trained_seconds for run in adam_runs]
lu.glue("recipe_seconds_min", min(step_seconds))
lu.glue("recipe_seconds_max", max(step_seconds))

# %%
lu.claim(
    "SGD at batch 1 ends closer to the target than Adam at batch 1",
    final_w1["SGD, batch 1"] < final_w1["Adam, batch 1"],
)
lu.claim(
    "SGD at batch 1 is ahead of Adam at batch 1 early on",
    early["SGD, batch 1"] < early["Adam, batch 1"],
)
lu.claim(
    "momentum SGD is ahead of plain SGD early and behind it at the end",
    early["momentum SGD, batch 1"] < early["SGD, batch 1"]
    and final_w1["momentum SGD, batch 1"] > final_w1["SGD, batch 1"],
)
lu.claim(
    "batch 16 ends within 2x batch 256's W1; batch 1 over 3x",
    final_w1["Adam, batch 16"] < 2 * base_w1
    and final_w1["Adam, batch 1"] > 3 * base_w1,
)
lu.claim(
    "every Adam run costs about the same time (within a factor of 1.5)",
    max(step_seconds) < 1.5 * min(step_seconds),
)

# %% [markdown]
# **Reading the recipe.** One sample per step is a poor estimate of the gradient whatever the rule:
# Adam at batch 1 ends at $W_1 =$ {glue:text}`recipe_adam1_w1:.3f`. Plain SGD at batch 1, with its
# learning rate chosen for this problem (the authors' MNIST code used $0.1$, batches of 100 and
# momentum rising from $0.5$ to $0.7$), does better than Adam at batch 1 here, both early (at step
# {glue:text}`early_step:d`: {glue:text}`early_sgd:.2f` against {glue:text}`early_adam1:.2f`) and at
# the end ({glue:text}`recipe_sgd_w1:.3f`). With momentum and the same effective step size
# ($\text{lr} / (1 - m)$) it is faster still early ({glue:text}`early_momentum:.2f`) but ends further
# away ({glue:text}`recipe_momentum_w1:.3f`): momentum keeps pushing in the direction of past,
# single-sample gradients, and near the target those are mostly noise. The minibatch size matters more than the rule: Adam with batches of 16 ends
# at {glue:text}`recipe_adam16_w1:.4f`, close to batches of 256 ({glue:text}`recipe_adam256_w1:.4f`).
# So the advice "at most 16" is sound for the *quality per step* here: beyond 16 samples the gradient
# is as good as it needs to be. Against *time* it does not buy anything on this problem: each Adam
# run took between {glue:text}`recipe_seconds_min:.1f` and {glue:text}`recipe_seconds_max:.1f` s,
# because a step of these tiny networks costs about the same for 1 sample or 256 (the CPU's fixed
# cost per operation dominates). On a GPU, or with large networks, the balance moves; the measurement, not the rule of
# thumb, decides.

# %% [markdown]
# ### The saturating loss, trained
#
# Section 1.6 showed on a fixed, confident discriminator that the minimax game's own generator loss,
# $\log(1 - D(G(z)))$, has almost no gradient where $D$ rejects the samples. Here it is trained: the
# original recipe (plain SGD, `sgd_lr`) with a discriminator that gets ahead from the start ($k = 5$
# discriminator steps per generator step, against a generator whose samples start near 0, far from
# the data at 4), with the saturating and with the non-saturating loss; and the saturating loss once
# more with Adam. Each run records $W_1$ and the norm of the generator's gradient at every step.

# %%
sgd_k5 = sgd | {"k": 5}
stall = {
    "non-saturating, SGD": sgd_k5,
    "saturating, SGD": sgd_k5 | {"saturating": True},
    "saturating, Adam": {"k": 5, "saturating": True},
}
stall_runs = {label: curve_run(label, c) for label, c in stall.items()}
stall_w1 = {label: w1_curve(run) for label, run in stall_runs.items()}

# %% tags=["hide-input"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 3.8))
for label, run in stall_runs.items():
    h = run.history
    ax1.plot(h["snapshot_step"], stall_w1[label], label=label)
    smooth = np.convolve(h["g_grad"], np.ones(25) / 25, mode="valid")
    ax2.plot(smooth, label=label)
ax1.axhline(w1_reference, color="black", ls=":", label="noise floor")
ax1.set(title="W1 to the target", xlabel="generator step", yscale="log")
ax1.set(ylabel="W1")
ax2.set(title="Norm of G's gradient (moving average)", yscale="log")
ax2.set(xlabel="generator step", ylabel="gradient norm")
ax1.legend(fontsize=8)
plt.show()


# %%
def first_below(run, w1s, level=1.0):
    """The first snapshot step with W1 below level (None if never)."""
    steps = run.history["snapshot_step"]
    return next((s for s, w in zip(steps, w1s) if w < level), None)


escape = {
    label: first_below(stall_runs[label], stall_w1[label]) for label in stall
}
for label, step in escape.items():
    print(f"{label:20} first below W1 = 1 at step {step}")

# %%
# the gradients while both SGD generators are still far from the data
far = escape["non-saturating, SGD"] or experiment_steps
stall_grad = {
    label: float(np.median(run.history["g_grad"][:far]))
    for label, run in stall_runs.items()
}
stall_end = {label: w1s[-1] for label, w1s in stall_w1.items()}
sat_h = stall_runs["saturating, SGD"].history
print(f"median |grad G| over the first {far} steps, and W1 at the end:")
for label in stall:
    print(f"{label:20} {stall_grad[label]:.1e}   {stall_end[label]:.3f}")

# %%
ratio = stall_grad["non-saturating, SGD"] / stall_grad["saturating, SGD"]
lu.glue("stall_grad_ratio", ratio)
lu.glue("stall_far", far)
lu.glue("stall_ns_w1", stall_end["non-saturating, SGD"])
lu.glue("stall_sat_w1", stall_end["saturating, SGD"])
lu.glue("stall_adam_w1", stall_end["saturating, Adam"])
lu.glue("stall_d_real", float(np.mean(sat_h["d_real"][-100:])))
lu.glue("stall_d_fake", float(np.mean(sat_h["d_fake"][-100:])))
lu.glue("stall_adam_escape", escape["saturating, Adam"] or experiment_steps)
lu.glue("stall_ns_escape", escape["non-saturating, SGD"] or experiment_steps)
lu.claim(
    "with SGD the saturating loss never gets going (W1 > 1 at the end)",
    stall_end["saturating, SGD"] > 1 and escape["saturating, SGD"] is None,
)
lu.claim(
    "its gradient is over 50x smaller than the non-saturating one's",
    ratio > 50,
)
lu.claim(
    "the non-saturating loss with the same D ends near the target (W1 < 0.05)",
    stall_end["non-saturating, SGD"] < 0.05,
)
lu.claim(
    "with Adam the saturating loss escapes, later than SGD's non-saturating",
    escape["saturating, Adam"] is not None
    and escape["saturating, Adam"] > (escape["non-saturating, SGD"] or 0),
)

# %% [markdown]
# **The stall, seen.** With the saturating loss and SGD, the generator's gradient over the first
# {glue:text}`stall_far:d` steps, while both generators are still far from the data, is
# {glue:text}`stall_grad_ratio:.0f` times smaller than with the non-saturating loss and the same
# discriminator: the discriminator rejects every sample with confidence ($D(x) \approx$
# {glue:text}`stall_d_real:.2f`, $D(G(z)) \approx$ {glue:text}`stall_d_fake:.2f` at the end), and
# $\log(1 - D)$ is flat there. The generator never moves: $W_1$ stays at
# {glue:text}`stall_sat_w1:.2f` for the whole run, while the non-saturating loss reaches
# {glue:text}`stall_ns_w1:.4f` (below 1 by step {glue:text}`stall_ns_escape:d`). Adam hides part of the
# problem: it divides each step by a running estimate of the gradient's size, so even a tiny but
# consistent gradient produces steps of the learning rate's size; the saturating generator escapes by
# step {glue:text}`stall_adam_escape:d` and ends at {glue:text}`stall_adam_w1:.4f`. Goodfellow et al.
# recommended the non-saturating loss for exactly this early phase of training, and with the
# momentum-SGD of their time it was not optional.
#
# ### A broken equilibrium
#
# The main run ends at the Nash equilibrium of the game, measured in section 2.3: $D(x)$ and $D(G(z))$
# at $\tfrac12$ and $W_1$ at the noise floor. What if one player overpowers the other? Two runs from the
# same start: a discriminator ten times faster than the main run's with five steps per generator step,
# against a generator ten times slower (**strong D**); and the reverse, a generator ten times faster
# against a discriminator ten times slower (**strong G**).

# %%
balance = {
    "strong D": {"lr_d": lr_d * 10, "lr_g": lr_g / 10, "k": 5},
    "strong G": {"lr_g": lr_g * 10, "lr_d": lr_d / 10},
}
balance_runs = {"balanced": recipe_runs["Adam, batch 256"]}
balance_runs |= {label: curve_run(label, c) for label, c in balance.items()}
balance_w1 = {label: w1_curve(run) for label, run in balance_runs.items()}

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 4, figsize=(17, 3.4))
for ax, (label, run) in zip(axes, balance_runs.items()):
    for key, name in [("d_real", "D(x)"), ("d_fake", "D(G(z))")]:
        smooth = np.convolve(run.history[key], np.ones(25) / 25, "valid")
        ax.plot(smooth, label=name)
    ax.axhline(0.5, color="gray", ls=":")
    ax.set(title=f"{label}: D's outputs", xlabel="step", ylim=(-0.02, 1.02))
    ax.legend(fontsize=8)
for label, run in balance_runs.items():
    steps = run.history["snapshot_step"]
    axes[3].plot(steps, balance_w1[label], label=label)
axes[3].axhline(w1_reference, color="black", ls=":", label="noise floor")
axes[3].set(title="W1 to the target", xlabel="step", yscale="log")
axes[3].legend(fontsize=8)
plt.show()

# %%
end = {}
for label, run in balance_runs.items():
    h = run.history
    end[label] = {"W1": balance_w1[label][-1]}
    end[label] |= {"D(x)": float(np.mean(h["d_real"][-100:]))}
    end[label] |= {"D(G(z))": float(np.mean(h["d_fake"][-100:]))}
lu.show_table([{"run": label} | values for label, values in end.items()])

# %%
strong_d, strong_g = end["strong D"], end["strong G"]
lu.glue("strong_d_w1", strong_d["W1"])
lu.glue("strong_d_real", strong_d["D(x)"])
lu.glue("strong_d_fake", strong_d["D(G(z))"])
lu.glue("strong_g_w1", strong_g["W1"])
lu.glue("strong_g_real", strong_g["D(x)"])
lu.glue("strong_g_fake", strong_g["D(G(z))"])
lu.glue("balanced_w1", end["balanced"]["W1"])
lu.claim(
    "strong D: D wins (D(x) > 0.9, D(G(z)) < 0.1) and W1 stays above 1",
    strong_d["D(x)"] > 0.9
    and strong_d["D(G(z))"] < 0.1
    and strong_d["W1"] > 1,
)
lu.claim(
    "strong G: D sits at 1/2 (within 0.05) though W1 is 10x the balanced one",
    abs(strong_g["D(x)"] - 0.5) < 0.05
    and abs(strong_g["D(G(z))"] - 0.5) < 0.05
    and strong_g["W1"] > 10 * end["balanced"]["W1"],
)

# %% [markdown]
# **Two ways to break the game.** With the strong discriminator the game never reaches its equilibrium
# in this run: $D$ separates the two distributions completely ($D(x) \approx$
# {glue:text}`strong_d_real:.2f`, $D(G(z)) \approx$ {glue:text}`strong_d_fake:.2f`), and the slow
# generator, though it receives large non-saturating gradients, is still at $W_1 =$
# {glue:text}`strong_d_w1:.2f`. With the strong generator the discriminator's outputs sit at
# $\tfrac12$ ({glue:text}`strong_g_real:.2f` and {glue:text}`strong_g_fake:.2f`), exactly what the
# balanced run shows, yet $W_1$ is {glue:text}`strong_g_w1:.3f` against the balanced run's
# {glue:text}`balanced_w1:.4f`: the discriminator is too slow to tell the distributions apart, so it
# answers $\tfrac12$ everywhere and gives the generator nothing to correct. $D = \tfrac12$ is what the
# equilibrium looks like, but a discriminator that cannot keep up looks the same: the losses and
# $D$'s outputs certify nothing without a measure of the samples themselves.


# %% [markdown]
# ## 2.5 Mode collapse
#
# A generator covers the data distribution only if the game pushes it to. In practice a generator
# often finds it easier to produce *one* kind of sample the discriminator currently accepts, and to
# move on to another when the discriminator catches up: this is **mode collapse**. We make it visible
# on two targets with several modes, and count it with `lu.mode_statistics`: a mode is *covered*
# when at least $1\%$ ($10\%$ in 1D) of the samples fall within 3 standard deviations of its centre,
# and a sample is of *high quality* when it is that close to some centre.
#
# **The remedy: minibatch discrimination.** A collapsed generator's samples all look alike, but a
# discriminator that judges one sample at a time cannot see that. Salimans et al. (2016) give the
# discriminator features of the **whole minibatch**: each sample's feature vector $f(x_i) \in
# \mathbb{R}^A$ is multiplied by a learned tensor $T \in \mathbb{R}^{A \times B \times C}$ into a
# matrix $M_i \in \mathbb{R}^{B \times C}$; for each of the $B$ rows,
# $o_b(x_i) = \sum_{j} \exp(-\lVert M_{i,b} - M_{j,b} \rVert_1)$ measures how many samples of the
# batch are close to $x_i$. The discriminator sees these $B$ numbers beside $f(x_i)$: a batch of
# near-identical fakes has large $o_b$, unlike a batch of real data, and is easy to reject.


# %%
class MinibatchDiscrimination(nn.Module):
    """f (batch, A) -> (batch, A + n_kernels), with o_b(x_i) appended."""

    def __init__(self, in_features: int, n_kernels: int, kernel_dim: int):
        super().__init__()
        self.n_kernels, self.kernel_dim = n_kernels, kernel_dim
        self.T = nn.Parameter(
            0.1 * torch.randn(in_features, n_kernels * kernel_dim)
        )

    def forward(self, f):
        # M: (B, batch, C), one matrix of rows M_ib per kernel b
        M = f @ self.T
        M = M.view(-1, self.n_kernels, self.kernel_dim).transpose(0, 1)
        l1 = torch.cdist(M.contiguous(), M.contiguous(), p=1)
        # sum over j of exp(-||M_ib - M_jb||_1), without j = i (the -1)
        o = torch.exp(-l1).sum(dim=2).transpose(0, 1) - 1
        return torch.cat([f, o], dim=1)


# %%
class MinibatchStd(nn.Module):
    """f (batch, A) -> (batch, A + 1): the features' std over the batch."""

    def forward(self, f):
        return torch.cat([f, f.std(dim=0).mean().expand(len(f), 1)], dim=1)


# %%
class BatchAwareDiscriminator(nn.Module):
    """The Discriminator above, whose output layer also sees batch
    statistics: remedy 'mbd' (minibatch discrimination) or 'std'."""

    def __init__(self, hidden, depth, dim, remedy, activation="leaky_relu"):
        super().__init__()
        layers = hidden_layers(dim, hidden, depth, activation)
        self.features = nn.Sequential(*layers)
        if remedy == "mbd":
            self.batch_features = MinibatchDiscrimination(
                hidden, mbd_kernels, mbd_kernel_dim
            )
            extra = mbd_kernels
        else:
            self.batch_features, extra = MinibatchStd(), 1
        self.out = nn.Linear(hidden + extra, 1)

    def forward(self, x):
        return self.out(self.batch_features(self.features(x)))


# %%
# NBVAL_CHECK_OUTPUT
mbd = MinibatchDiscrimination(64, 8, 4)
print("minibatch discrimination:", tuple(mbd(torch.randn(5, 64)).shape))
ring_d = BatchAwareDiscriminator(64, 2, 2, "mbd")
print("batch-aware D on the ring:", tuple(ring_d(torch.randn(5, 2)).shape))

# %% [markdown]
# The study: the same generator, trained with the same settings against three discriminators: a
# plain one ("vanilla"), one with minibatch discrimination, and one with the simpler *minibatch
# standard deviation* feature of Karras et al. (2018, *Progressive Growing of GANs*), which appends a
# single number, the average spread of the features over the batch.

# %%
collapse_models = ["vanilla", "minibatch discrimination", "minibatch std"]


def collapse_pair(model, dim):
    """The study's generator and one of its three discriminators."""
    torch.manual_seed(settings.seed)
    h, act = collapse_hidden, collapse_activation
    G = Generator(collapse_nz, h, dim, depth=2, activation=act).to(device)
    if model == "vanilla":
        return G, Discriminator(h, 2, dim, act).to(device)
    remedy = "mbd" if model.endswith("discrimination") else "std"
    return G, BatchAwareDiscriminator(h, 2, dim, remedy, act).to(device)


# %%
def collapse_study(task, sample_real, modes, hp):
    """Train the three variants on one target; return their samples and
    mode statistics. modes: the centres, std and min_share of the target."""
    centres, std, min_share = modes
    noise_rng = torch.Generator().manual_seed(4)
    noise = torch.randn(5000, collapse_nz, generator=noise_rng)
    snap = dict(every=max(1, hp["steps"] // 4), noise=noise[:1000])
    results = {}
    for model in collapse_models:
        G, D = collapse_pair(model, dim=centres.shape[1])
        run = train_gan(f"{task} {model}", G, D, sample_real, hp, snap)
        with torch.no_grad():
            samples = G(noise.to(device)).cpu()
        stats = lu.mode_statistics(samples, centres, std, min_share=min_share)
        results[model] = stats | {
            "samples": samples,
            "discriminator": D,
            "history": run.history,
            "seconds": run.trained_seconds,
        }
    return results


# %%
def collapse_hp(steps, target):
    """The settings of the study's runs: the same for the three variants."""
    return dict(
        steps=steps,
        batch_size=collapse_batch,
        lr_g=collapse_lr_g,
        lr_d=collapse_lr_d,
        k=1,
        target=target,
    )


def collapse_table(results):
    rows = [
        {
            "model": model,
            "modes covered": f"{r['modes_covered']} of {r['n_modes']}",
            "high-quality share": f"{r['high_quality_share']:.2f}",
            "seconds": f"{r['seconds']:.1f}",
        }
        for model, r in results.items()
    ]
    return lu.show_table(rows)


# %% [markdown]
# **Two modes in 1D.** The target is an equal mixture of $\mathcal{N}(-2, 0.3^2)$ and
# $\mathcal{N}(2, 0.3^2)$; a mode counts as covered when it receives at least $10\%$ of the samples.


# %%
def sample_mix(n):
    return lu.sample_mixture_1d(n, mix_means, mix_std)


mix_centres = torch.tensor(mix_means).unsqueeze(1)
results_1d = collapse_study(
    "two modes",
    sample_mix,
    (mix_centres, mix_std, mix_min_share),
    collapse_hp(collapse_steps_1d, ("mixture", mix_means, mix_std)),
)
collapse_table(results_1d)

# %% tags=["hide-input"]
x_mix = np.linspace(-4, 4, 401)
p_mix = lu.mixture_pdf(x_mix, mix_means, mix_std)
fig, axes = plt.subplots(1, 3, figsize=(15, 3.2), sharey=True)
for ax, (model, r) in zip(axes, results_1d.items()):
    title = f"{model}: {r['modes_covered']} of 2 modes"
    lu.plot_density_1d(x_mix, p_mix, r["samples"], ax=ax, title=title)
fig.suptitle(
    "Two-mode target: generated densities at the end of training", y=1.04
)
plt.show()

# %% [markdown]
# **The ring of 8 Gaussians** (radius $2$, standard deviation $0.1$). A sample is of high quality
# when it lies within 3 standard deviations of a centre; a mode is covered when it receives at
# least $1\%$ of the samples. The background of the vanilla panel shows $D(x)$ (for the batch-aware
# discriminators, $D$ of a point depends on the rest of the batch, so there is no such map).


# %%
def sample_ring(n):
    return lu.sample_ring(n, ring_modes, ring_radius, ring_std)


centres = lu.ring_centres(ring_modes, ring_radius)
ring_target = ("ring", ring_modes, ring_radius, ring_std)
results_ring = collapse_study(
    "ring",
    sample_ring,
    (centres, ring_std, ring_min_share),
    collapse_hp(collapse_steps_ring, ring_target),
)
collapse_table(results_ring)


# %% tags=["hide-input"]
def d_map(D):
    """D(x) at points p, for the background of a panel."""
    return lambda p: torch.sigmoid(D(p.to(device))).cpu()


ring_rng = torch.Generator().manual_seed(5)
real_ring = lu.sample_ring(1000, ring_modes, ring_radius, ring_std, ring_rng)
fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
for ax, (model, r) in zip(axes, results_ring.items()):
    vanilla = model == "vanilla"
    d_fn = d_map(r["discriminator"]) if vanilla else None
    modes, good = r["modes_covered"], r["high_quality_share"]
    title = f"{model}: {modes}/8 modes, {good:.0%} good"
    lu.plot_samples_2d(
        real_ring, r["samples"][:1000], d_fn=d_fn, ax=ax, title=title
    )
plt.show()

# %% [markdown]
# How the vanilla generator moves during training: snapshots of its samples. A collapsed generator
# rarely sits still: it hops from mode to mode as the discriminator learns to reject each one.

# %% tags=["hide-input"]
h_vanilla = results_ring["vanilla"]["history"]
n_snaps = len(h_vanilla["snapshot_step"])
fig, axes = plt.subplots(1, n_snaps, figsize=(3.2 * n_snaps, 3.2))
snaps = zip(h_vanilla["snapshot_step"], h_vanilla["snapshot_samples"])
for ax, (step, samples) in zip(axes, snaps):
    lu.plot_samples_2d(
        real_ring, samples, ax=ax, title=f"vanilla, step {step}"
    )
    ax.get_legend().remove()
plt.show()


# %% tags=["hide-input"]
def nearest_mode(samples):
    """The mode of the ring nearest to the centre of the samples."""
    return int(torch.cdist(samples.mean(0, keepdim=True), centres).argmin())


# the first snapshot is the untrained generator, at the centre of the ring
visited = {nearest_mode(s) for s in h_vanilla["snapshot_samples"][1:]}
lu.glue("vanilla_modes_visited", len(visited))
lu.claim(
    "the vanilla generator hops: its samples' centre is nearest to at "
    "least 2 different modes in turn",
    len(visited) >= 2,
)

# %% [markdown]
# The verdict, computed from the numbers above: which models collapse, and which cover every mode.


# %%
def fully_covered(results):
    """The models that cover every mode of the target."""
    return [
        m for m, r in results.items() if r["modes_covered"] == r["n_modes"]
    ]


studies = {"two modes": results_1d, "ring": results_ring}
verdict = []
for task, results in studies.items():
    vanilla = results["vanilla"]
    covered = f"{vanilla['modes_covered']} of {vanilla['n_modes']}"
    full_models = ", ".join(fully_covered(results)) or "none"
    verdict.append(
        {
            "target": task,
            "vanilla covers": covered,
            "all modes covered by": full_models,
        }
    )
lu.show_table(verdict)

# %% tags=["hide-input"]
full = {task: set(fully_covered(results)) for task, results in studies.items()}
mbd_1d = results_1d["minibatch discrimination"]["modes_covered"]
lu.glue("mbd_modes_1d", int(mbd_1d))
mbd_ring = results_ring["minibatch discrimination"]["modes_covered"]
lu.glue("mbd_modes_ring", int(mbd_ring))
lu.glue("std_hq_ring", results_ring["minibatch std"]["high_quality_share"])
lu.glue(
    "mbd_hq_ring",
    results_ring["minibatch discrimination"]["high_quality_share"],
)
lu.claim(
    "the vanilla GAN collapses on both targets (misses a mode of each)",
    all("vanilla" not in models for models in full.values()),
)
lu.claim(
    "on the ring the vanilla GAN covers at most 3 of the 8 modes",
    results_ring["vanilla"]["modes_covered"] <= 3,
)

# %% tags=["hide-input"]
lu.claim(
    "only the minibatch std covers every mode of both targets",
    full["two modes"] & full["ring"] == {"minibatch std"},
)
lu.claim(
    "minibatch discrimination covers more of the ring than the vanilla GAN",
    results_ring["minibatch discrimination"]["modes_covered"]
    > results_ring["vanilla"]["modes_covered"],
)
lu.claim(
    "on the ring the minibatch std's high-quality share is below that of "
    "minibatch discrimination",
    results_ring["minibatch std"]["high_quality_share"]
    < results_ring["minibatch discrimination"]["high_quality_share"],
)

# %% [markdown] tags=["solution"]
# **Reading the results.** A vanilla GAN that collapses is not stuck on one mode: the snapshots
# show it moving around the ring (the centre of its samples is nearest to
# {glue}`vanilla_modes_visited` different modes in turn) as the discriminator learns to reject each
# place it goes. Both remedies give the discriminator a statistic of the whole batch, so a batch
# whose samples are all alike becomes easy to reject, and the generator is pushed to spread out.
# They are not guarantees: in this run the minibatch standard deviation covers every mode of both
# targets, while minibatch discrimination covers {glue}`mbd_modes_1d` of the 2 modes in 1D and
# {glue}`mbd_modes_ring` of the 8 of the ring. Compare the high-quality shares too: on the ring the
# minibatch standard deviation spreads over every mode but strews samples *between* them (a
# high-quality share of {glue:text}`std_hq_ring:.0%`, against {glue:text}`mbd_hq_ring:.0%` for
# minibatch discrimination), so more modes do not always mean better samples. Minibatch
# discrimination has more to tune (the number and size of its kernels, the scale of $T$): when its
# distances $\lVert M_{i,b} - M_{j,b} \rVert_1$ are all large, $\exp(-\cdot)$ is close to zero for
# every pair and the feature says nothing. The minibatch standard deviation has nothing to tune.
# Always measure coverage; do not assume it.

# %%
collapse_metrics = {
    f"{task}_{model.replace(' ', '_')}_{key}": r[key]
    for task, results in (("two_modes", results_1d), ("ring", results_ring))
    for model, r in results.items()
    for key in ("modes_covered", "high_quality_share")
}

# %% [markdown]
# ## 2.6 An interactive explorer
#
# Change the learning rates, the minibatch size, $k$ and the widths, then press **Train and redraw**:
# the GAN trains for `explorer_steps` steps with these settings (with the default settings, the
# training took {glue:text}`explorer_seconds:.0f` s in this run, more with $k > 1$) and the figure
# shows the generated density, $D(x)$ and the losses. Without a live kernel (the rendered book, the
# tests) you see the figure for the default values below the controls.


# %% tags=["hide-input"]
def draw_exploration(run, r):
    """Draw the explorer's result: p_g and D(x) at the end, and the losses."""
    h = run.history
    # a Figure outside pyplot: the inline backend's end-of-cell hooks, which
    # a widget callback can meet half-way (in another thread), never see it
    fig = Figure(figsize=(12, 3.3))
    ax1, ax2 = fig.subplots(1, 2)
    title = f"after {len(h['loss_d'])} steps: W1 = {r['w1']:.3f}, "
    title += f"std = {r['std']:.2f}"
    samples, d_of_x = h["snapshot_samples"][-1], h["snapshot_d"][-1].numpy()
    lu.plot_density_1d(x_grid, p_target, samples, d_of_x, ax=ax1, title=title)
    lu.plot_losses(h, ["loss_d", "loss_g"], title="Losses", ax=ax2, smooth=20)
    display(fig)


# %%
explorer_steps = experiment_steps  # generator steps per exploration


def explore(
    lr_g=lr_g,
    lr_d=lr_d,
    batch_size=batch_size,
    k=k_steps,
    g_hidden=g_hidden,
    d_hidden=d_hidden,
):
    """Train briefly with the given settings and draw p_g, D(x), losses."""
    hp = dict(main_hp, steps=explorer_steps, batch_size=batch_size, k=k)
    hp |= dict(lr_g=lr_g, lr_d=lr_d)
    snap = dict(every=explorer_steps, noise=fixed_noise, grid=x_grid)
    torch.manual_seed(settings.seed)
    G_x = Generator(nz, g_hidden).to(device)
    D_x = Discriminator(d_hidden, d_depth).to(device)
    run = train_gan("explorer", G_x, D_x, sample_target, hp, snap)
    r = evaluate(G_x)
    draw_exploration(run, r)
    return r | {"seconds": run.trained_seconds}


# %% tags=["hide-input"]
# learning rates from a list: a log slider would snap 5e-3 to 0.00562
rates = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1]
controls = {
    "lr_g": widgets.SelectionSlider(
        options=rates, value=lr_g, description="lr G"
    ),
    "lr_d": widgets.SelectionSlider(
        options=rates, value=lr_d, description="lr D"
    ),
    "batch_size": widgets.SelectionSlider(
        options=[1, 4, 16, 64, 256, 1024],
        value=batch_size,
        description="batch",
    ),
    "k": widgets.IntSlider(value=k_steps, min=1, max=5, description="k"),
    "g_hidden": widgets.SelectionSlider(
        options=[0, 4, 16, 64], value=g_hidden, description="G hidden"
    ),
    "d_hidden": widgets.SelectionSlider(
        options=[2, 4, 8, 32, 64], value=d_hidden, description="D hidden"
    ),
}
button = widgets.Button(description="Train and redraw", button_style="primary")
panel = widgets.Output()


def on_click(_):
    with panel:
        panel.clear_output(wait=True)
        explore(**{name: c.value for name, c in controls.items()})


button.on_click(on_click)

# %%
sliders = list(controls.values())
rows = [widgets.HBox(sliders[:3]), widgets.HBox(sliders[3:])]
display(widgets.VBox([*rows, button, panel]))
explorer_default = explore()
seconds = lu.glue("explorer_seconds", explorer_default["seconds"])

# %% [markdown]
# ## 2.7 Questions
#
# **Q1.** The learned affine generator may come out as $G(z) = -0.5\,z + 4$, with a *negative*
# weight. Is that a failure?

# %% [markdown] tags=["solution"]
# **Answer.** No. $z \sim \mathcal{N}(0, 1)$ is symmetric, so $-z$ has the same distribution as $z$ and
# $w z + b$ and $-w z + b$ generate the same $\mathcal{N}(b, w^2)$. The GAN objective only depends on
# the distribution $p_g$, not on which noise vector maps to which sample; the sign is decided by the
# initialisation.

# %% [markdown]
# **Q2.** At the end of training the discriminator loss sits at $2 \log 2$ and $D(x) \approx 0.5$.
# Has the discriminator stopped learning? Would a lower discriminator loss be better?

# %% [markdown] tags=["solution"]
# **Answer.** It keeps learning, but there is nothing left to learn: when $p_g = p_\text{data}$, the
# best possible discriminator outputs $\tfrac12$ everywhere (chapter 1) and its loss is
# $2 \log 2$. A *lower* discriminator loss would mean that $D$ still separates real from generated
# samples, that is, that the generator has not yet matched the data. GAN losses therefore do not say
# "lower is better"; we need measurements such as $W_1$.

# %% [markdown]
# **Q3.** The minimax optimum $p_g = p_\text{data}$ covers every mode. Why does training still
# collapse?

# %% [markdown] tags=["solution"]
# **Answer.** The optimum is defined with the discriminator at its best response for every $G$, but
# training alternates small steps. Against the *current* $D$, the generator's best move is to send all
# its samples to wherever $D$ is currently highest (chapter 1, Q2), which is one mode. The discriminator
# then learns to reject that mode and the generator jumps to another: nothing in a single-sample
# discriminator's gradient rewards the generator for *spreading* over modes, because each sample is
# judged alone.

# %% [markdown]
# **Q4.** Minibatch discrimination computes features across the batch. Why must each batch given to
# $D$ be all real or all generated, and what happens at test time?

# %% [markdown] tags=["solution"]
# **Answer.** The features measure how similar a sample is to the *other samples of its batch*. If real
# and generated samples were mixed, a generated sample would be compared with real ones and the feature
# would no longer describe the generator's diversity. We only use $D$ during training; at test time only
# $G$ is used, so the batch dependence never matters there.

# %% [markdown]
# ## 2.8 Exercises
#
# Section 2.2's `d_step` and `g_step` take their targets from the loop, made once for its batch
# size. The exercises write the two steps as functions that work for any batches, with the targets
# built from the logits themselves, and that return the loss as a Python float. Write them without
# looking back; the checkers also test what a training loop relies on.
#
# **Exercise 1.** Write one discriminator step: compute the loss $\text{BCE}(D(x), 1) + \text{BCE}(D(G(z)), 0)$
# on logits, without letting gradients reach $G$, update $D$, and return the loss (measured before the
# update) as a Python float. The real batch and the noise batch may differ in size.


# %%
def discriminator_step(D, G, opt_D, x_real, z) -> float:
    """One gradient step of the discriminator; returns its loss as a float."""
    ### BEGIN SOLUTION
    logits_real, logits_fake = D(x_real), D(G(z).detach())
    loss = F.binary_cross_entropy_with_logits(
        logits_real, torch.ones_like(logits_real)
    ) + F.binary_cross_entropy_with_logits(
        logits_fake, torch.zeros_like(logits_fake)
    )
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss.item()
    ### END SOLUTION


exercise_1 = lu.check_discriminator_step(discriminator_step)

# %% [markdown]
# **Exercise 2.** Write one generator step with the non-saturating loss $-\log D(G(z))$, for any
# batch size, returning the loss (measured before the update) as a Python float. Only the
# generator's optimiser may step.


# %%
def generator_step(D, G, opt_G, z) -> float:
    """One gradient step of the generator (non-saturating loss); returns its
    loss as a float."""
    ### BEGIN SOLUTION
    logits = D(G(z))
    loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return loss.item()
    ### END SOLUTION


exercise_2 = lu.check_generator_step(generator_step)

# %% [markdown]
# **Exercise 3 (open).** In the explorer, find settings for which the generator's standard deviation
# collapses towards zero while its mean is right, and explain what the discriminator sees.
# **Exercise 4 (open).** PacGAN (Lin et al., 2018, *PacGAN: The Power of Two Samples in Generative
# Adversarial Networks*) gives the discriminator $m$ samples at once, concatenated into one input of
# size $m \times$ `dim`, all real or all generated. Implement it with a `reshape` in the
# discriminator's `forward` (labels: one per pack) and measure it on the two targets of section 2.5.

# %% [markdown]
# ## Summary
#
# * A GAN is trained by alternating a classifier step for $D$ and a non-saturating step for $G$;
#   at equilibrium both losses flatten at $2\log 2$ and $\log 2$, which says nothing about quality: we
#   measure quality with $W_1$ instead.
# * Small minibatches, a weak discriminator, and poorly chosen learning rates all degrade the result,
#   as the measured table shows. The original recipe, SGD on one sample per step, works on this problem
#   once its learning rate is chosen; minibatches of 16 are as good per step as 256.
# * The saturating generator loss stalls in training when the discriminator gets ahead (plain SGD:
#   $W_1$ {glue:text}`stall_sat_w1:.2f` at the end); Adam's rescaling lets it escape late.
# * $D(x) = D(G(z)) = \tfrac12$ is necessary for the equilibrium, not sufficient: a discriminator that
#   is too slow answers $\tfrac12$ too, while $W_1$ stays far from the floor.
# * Vanilla GANs collapse onto a few modes of a multimodal target and hop between them; a discriminator
#   that sees batch statistics (minibatch discrimination, the minibatch standard deviation) can restore
#   the coverage, but does not always: in this run only the minibatch standard deviation covered every
#   mode of both targets. Measure it, never assume it.

# %%
metrics = {
    "w1_final": result["w1"],
    "generated_mean": result["mean"],
    "generated_std": result["std"],
    "learned_weight": w,
    "learned_bias": b,
    "main_run_train_seconds": main_seconds,
    "w1_reference_real_vs_real": w1_reference,
}

# %%
for label, r in experiment_results.items():
    slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    metrics["experiment_w1_" + slug] = r["w1"]
metrics |= collapse_metrics
metrics["explorer_default_w1"] = explorer_default["w1"]
metrics |= {
    "recipe_w1_sgd_batch_1": final_w1["SGD, batch 1"],
    "recipe_w1_momentum_sgd_batch_1": final_w1["momentum SGD, batch 1"],
    "recipe_w1_adam_batch_16": final_w1["Adam, batch 16"],
    "stall_w1_saturating_sgd": stall_end["saturating, SGD"],
    "stall_grad_ratio": ratio,
    "strong_d_w1": strong_d["W1"],
    "strong_g_w1": strong_g["W1"],
}
metrics["exercises_passed"] = int(exercise_1) + int(exercise_2)

# %%
exercises = {
    "Exercise 1: discriminator step": exercise_1,
    "Exercise 2: generator step": exercise_2,
}

# %% [markdown]
# ## Results summary
#
# This run's numbers beside their full-profile ranges (kept in `labutils/expected.toml`), every claim
# the prose makes about them, and the exercises' checkers, in one table (the grading report reads it
# too); then the metrics are saved and the run is recorded.

# %%
summary = lu.finish(metrics, exercises=exercises)
