# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. A GAN on a 1D Gaussian, then mode collapse
#
# Chapter 1 studied the game with a *fixed* generator. Here both players learn. The data is as
# simple as it gets, a 1D Gaussian $\mathcal{N}(4, 0.5^2)$, so that we can see everything: the
# generated density $p_g$, the discriminator's $D(x)$, and an exact distance between $p_g$ and
# $p_\text{data}$ at every step.
#
# **Goals.** After this chapter you can
# 1. write the alternating training loop of Algorithm 1 (Goodfellow et al., 2014) in PyTorch;
# 2. *measure* a generator with the Wasserstein-1 distance, its mean and its standard deviation,
#    instead of judging plots by eye;
# 3. predict the effect of the minibatch size, the number $k$ of discriminator steps, the learning
#    rates, and the capacities of $G$ and $D$, and check the prediction by experiment;
# 4. recognise **mode collapse** on a two-mode 1D target and on the 2D ring of 8 Gaussians, count it,
#    and fix it with minibatch discrimination (Salimans et al., 2016, *Improved Techniques for
#    Training GANs*).

# %%
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import display
from torch import nn

import labutils as lu

settings = lu.setup("02_gan_1d", seed=0, threads=1)  # tiny networks: one CPU thread is fastest

# %% [markdown]
# ## Settings
# All hyperparameters of the chapter. The profile changes only the number of steps and samples.

# %%
target_mean, target_std = 4.0, 0.5      # p_data = N(4, 0.5^2)
nz = 1                                  # latent dimension: z ~ N(0, 1)
g_hidden = 0                            # generator hidden units (0 = affine G(z) = w z + b)
d_hidden, d_depth = 32, 3               # discriminator: 3 hidden layers of 32 units (deeper than G)
lr_g = lr_d = 5e-3                      # Adam learning rates of G and D
betas = (0.5, 0.999)                    # Adam momentum terms, as in DCGAN (Radford et al., 2016)
batch_size = 256                        # samples of each distribution per step
k_steps = 1                             # discriminator steps per generator step (Algorithm 1's k)
n_steps = lu.pick(full=3000, smoke=150)           # generator steps of the main run
experiment_steps = lu.pick(full=2000, smoke=100)  # generator steps of each experiment run
snapshot_every = lu.pick(full=100, smoke=10)      # steps between recorded snapshots (figures)
n_eval = lu.pick(full=20_000, smoke=2_000)        # samples used to measure W1, mean and std
x_grid = np.linspace(1.0, 7.0, 301)               # where p_data and D(x) are drawn

# %% [markdown]
# ## 2.1 The models
#
# The generator maps $z \sim \mathcal{N}(0, 1)$ to $x$. With `g_hidden = 0` it is **affine**,
# $G(z) = w z + b$: then $p_g = \mathcal{N}(b, w^2)$, and the target is reached exactly at $w = \pm 0.5$,
# $b = 4$. It is deliberately *shallower* than the discriminator: $D$ must be flexible enough to
# find where $p_g$ and $p_\text{data}$ differ, while $G$ only has to move its mass there.

# %%
# NBVAL_CHECK_OUTPUT
class Generator(nn.Module):
    """z (batch, nz) -> x (batch, dim); affine when hidden == 0."""

    def __init__(self, nz: int, hidden: int = 0, dim: int = 1, depth: int = 1):
        super().__init__()
        if hidden == 0:
            self.net = nn.Linear(nz, dim)
        else:
            layers, width = [], nz
            for _ in range(depth):
                layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
                width = hidden
            self.net = nn.Sequential(*layers, nn.Linear(width, dim))

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    """x (batch, dim) -> logit (batch, 1): `depth` hidden layers of `hidden` units."""

    def __init__(self, hidden: int, depth: int, dim: int = 1):
        super().__init__()
        layers, width = [], dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, x):
        return self.net(x)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


print(f"generator: {n_params(Generator(nz, g_hidden))} parameters, "
      f"discriminator: {n_params(Discriminator(d_hidden, d_depth))} parameters")
print("output shapes:", tuple(Generator(nz, g_hidden)(torch.zeros(5, nz)).shape),
      tuple(Discriminator(d_hidden, d_depth)(torch.zeros(5, 1)).shape))


# %% [markdown]
# ## 2.2 The training loop
#
# One function holds the whole of Algorithm 1, so that every experiment below uses the same code:
# $k$ discriminator steps on $\text{BCE}(D(x), 1) + \text{BCE}(D(G(z)), 0)$ with $G(z)$ **detached**
# (the discriminator step must not update $G$), then one generator step on the non-saturating loss
# $\text{BCE}(D(G(z)), 1) = -\log D(G(z))$ (chapter 1). Both learning rates decay linearly to zero over
# the second half of training, which lets the two players settle instead of circling the equilibrium.
#
# Everything the figures need (losses, the mean of $D(x)$ and $D(G(z))$, snapshots of $p_g$ and
# $D$) goes into `run.history`, which the checkpoint keeps: executed again, the notebook loads the run
# and draws the same figures without retraining.

# %%
def train_gan(name, generator, discriminator, sample_real, *, steps, batch_size, lr_g, lr_d, k=1,
              snapshot_every=0, grid=None, extra_config=None):
    """Train a GAN with Algorithm 1 (non-saturating G loss); return the run with its history."""
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=betas)
    decay = lambda step: min(1.0, 2.0 * (1 - step / steps))  # noqa: E731  (1, then linear to 0)
    sched_g, sched_d = (torch.optim.lr_scheduler.LambdaLR(o, decay) for o in (opt_g, opt_d))
    config = dict(batch_size=batch_size, lr_g=lr_g, lr_d=lr_d, k=k, betas=betas, snapshot_every=snapshot_every,
                  grid=None if grid is None else [float(grid[0]), float(grid[-1]), len(grid)], **(extra_config or {}))
    run = lu.start_run(name, config, state={"generator": generator, "discriminator": discriminator, "opt_g": opt_g,
                       "opt_d": opt_d, "sched_g": sched_g, "sched_d": sched_d}, total_steps=steps, code=[train_gan])
    latent = generator.net[0].in_features if isinstance(generator.net, nn.Sequential) else generator.net.in_features
    ones, zeros = torch.ones(batch_size, 1), torch.zeros(batch_size, 1)
    for step in lu.training_steps(run, desc=name):
        for _ in range(k):                                   # k discriminator steps
            x_real, z = sample_real(batch_size), torch.randn(batch_size, latent)
            logits_real, logits_fake = discriminator(x_real), discriminator(generator(z).detach())
            loss_d = (F.binary_cross_entropy_with_logits(logits_real, ones)
                      + F.binary_cross_entropy_with_logits(logits_fake, zeros))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        logits_gen = discriminator(generator(torch.randn(batch_size, latent)))  # one generator step
        loss_g = F.binary_cross_entropy_with_logits(logits_gen, ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        sched_g.step()
        sched_d.step()
        if not (torch.isfinite(loss_d) and torch.isfinite(loss_g)):
            raise FloatingPointError(f"{name}: the loss became NaN/inf at step {step}; lower the learning rates.")
        h = run.history
        h["loss_d"].append(loss_d.item())
        h["loss_g"].append(loss_g.item())
        h["d_real"].append(torch.sigmoid(logits_real).mean().item())
        h["d_fake"].append(torch.sigmoid(logits_fake).mean().item())
        if snapshot_every and (step % snapshot_every == 0 or step == steps - 1):
            with torch.no_grad():
                h["snapshot_step"].append(step)
                h["snapshot_samples"].append(generator(fixed_noise).squeeze(1).clone())
                if grid is not None:
                    h["snapshot_d"].append(torch.sigmoid(discriminator(grid_tensor)).squeeze(1).clone())
    return run


# %% [markdown]
# We measure the generator with the **Wasserstein-1 distance** between generated and real samples,
# $W_1(p, q) = \int |F_p(x) - F_q(x)|\,dx$ in 1D (the area between the two cumulative distribution
# functions): it is in the units of $x$, zero only when the distributions are equal, and meaningful
# even when they do not overlap. Fixed noise makes snapshots comparable from step to step.

# %%
eval_generator = torch.Generator().manual_seed(1)
x_eval_real = lu.sample_gaussian_1d(n_eval, target_mean, target_std, generator=eval_generator)
z_eval = torch.randn(n_eval, nz, generator=eval_generator)
fixed_noise = torch.randn(2000, nz, generator=torch.Generator().manual_seed(2))
grid_tensor = torch.tensor(x_grid, dtype=torch.float32).unsqueeze(1)


def sample_target(n):
    return lu.sample_gaussian_1d(n, target_mean, target_std)


def evaluate(generator, z=None):
    """W1 to the target, and the mean and std of generated samples."""
    with torch.no_grad():
        x = generator(z_eval if z is None else z)
    return {"w1": lu.wasserstein_1d(x, x_eval_real), "mean": x.mean().item(), "std": x.std().item()}


print(f"reference: W1 between two independent real samples of this size = "
      f"{lu.wasserstein_1d(sample_target(n_eval), x_eval_real):.4f}")

# %% [markdown]
# ## 2.3 Training on $\mathcal{N}(4, 0.5^2)$

# %%
torch.manual_seed(settings.seed)
generator, discriminator = Generator(nz, g_hidden), Discriminator(d_hidden, d_depth)
started = time.perf_counter()
main_run = train_gan("main", generator, discriminator, sample_target, steps=n_steps, batch_size=batch_size,
                     lr_g=lr_g, lr_d=lr_d, k=k_steps, snapshot_every=snapshot_every, grid=x_grid)
main_seconds = main_run.trained_seconds
result = evaluate(generator)
print(f"W1 = {result['w1']:.4f}, generated mean = {result['mean']:.3f} (target {target_mean}), "
      f"std = {result['std']:.3f} (target {target_std}); trained in {main_seconds:.1f} s")
w, b = generator.net.weight.item(), generator.net.bias.item()
print(f"learned G(z) = {w:.3f} z + {b:.3f}")

# %% [markdown]
# The distance is printed above, measured on fresh samples; the learned weight and bias of the affine
# generator are the standard deviation and the mean it found. Now the whole run: snapshots of $p_g$
# and $D(x)$, and the training curves.

# %%
h = main_run.history
picks = np.linspace(0, len(h["snapshot_step"]) - 1, 4).round().astype(int)
fig, axes = plt.subplots(1, 4, figsize=(16, 3.3), sharey=True)
for ax, i in zip(axes, picks):
    lu.plot_density_1d(x_grid, lu.gaussian_pdf(x_grid, target_mean, target_std), h["snapshot_samples"][i],
                       h["snapshot_d"][i].numpy(), title=f"step {h['snapshot_step'][i]}", ax=ax)
for ax in axes[1:]:
    ax.get_legend().remove()
    ax.set_ylabel("")
fig.suptitle("Generated density and D(x) during training", y=1.04)
plt.show()

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 3.5))
lu.plot_losses(h, ["loss_d", "loss_g"], title="Losses", ax=ax1, smooth=25)
ax1.axhline(2 * np.log(2), color="gray", ls=":", label="2 log 2 (D at 1/2)")
ax1.axhline(np.log(2), color="gray", ls="--", lw=0.8, label="log 2")
ax1.legend()
lu.plot_losses(h, ["d_real", "d_fake"], title="Mean D(x) on real and D(G(z)) on generated samples", ax=ax2,
               smooth=25, ylabel="probability")
ax2.axhline(0.5, color="gray", ls=":")
plt.show()

# %% [markdown]
# At equilibrium $D = \tfrac12$ everywhere, so the discriminator loss tends to $2\log 2 \approx 1.39$,
# the generator loss to $\log 2 \approx 0.69$, and both $D(x)$ and $D(G(z))$ to $0.5$. Unlike a
# classifier's loss, a GAN's losses do not go to zero: a discriminator loss near $2 \log 2$ means the
# discriminator has been beaten, which is what we want.
#
# The same run as an animation (press play):

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.2))
frames = list(range(0, len(h["snapshot_step"]), max(1, len(h["snapshot_step"]) // 15))) + [len(h["snapshot_step"]) - 1]


def draw(i):
    ax.clear()
    j = frames[i]
    lu.plot_density_1d(x_grid, lu.gaussian_pdf(x_grid, target_mean, target_std), h["snapshot_samples"][j],
                       h["snapshot_d"][j].numpy(), title=f"step {h['snapshot_step'][j]}", ax=ax)


lu.animate(fig, draw, len(frames), interval_ms=300, max_bytes=1_000_000)


# %% [markdown]
# ## 2.4 Experiments
#
# Each experiment changes **one** setting of the main run and trains for `experiment_steps` steps
# from the same initial weights, then measures $W_1$. Before running, predict what will happen.
#
# 1. **Minibatch size**: pure stochastic gradient (batches of 1) against minibatches of 256.
# 2. **$k$**: five discriminator steps per generator step instead of one.
# 3. **Learning rates**: ten times smaller, and ten times larger.
# 4. **Capacity**: a weak discriminator (one hidden layer of 4 units), and a generator with a hidden
#    layer (no longer affine).

# %%
experiments = {                      # name: settings that differ from the main run
    "baseline": {},
    "batch 1 (pure SGD)": {"batch_size": 1},
    "k = 5": {"k": 5},
    "lr x 0.1": {"lr_g": lr_g / 10, "lr_d": lr_d / 10},
    "lr x 10": {"lr_g": lr_g * 10, "lr_d": lr_d * 10},
    "weak D (1 x 4 units)": {"d_hidden": 4, "d_depth": 1},
    "G with 16 hidden units": {"g_hidden": 16},
}
experiment_results = {}
for label, change in experiments.items():
    options = dict(batch_size=batch_size, lr_g=lr_g, lr_d=lr_d, k=k_steps, d_hidden=d_hidden, d_depth=d_depth,
                   g_hidden=g_hidden) | change
    torch.manual_seed(settings.seed)
    G_exp, D_exp = Generator(nz, options["g_hidden"]), Discriminator(options["d_hidden"], options["d_depth"])
    run = train_gan("experiment " + label, G_exp, D_exp, sample_target, steps=experiment_steps,
                    batch_size=options["batch_size"], lr_g=options["lr_g"], lr_d=options["lr_d"], k=options["k"])
    experiment_results[label] = evaluate(G_exp) | {"seconds": run.trained_seconds, "history": run.history}

# %%
print(f"{'experiment':26s} {'W1':>7s} {'mean':>7s} {'std':>7s} {'seconds':>8s}")
for label, r in experiment_results.items():
    print(f"{label:26s} {r['w1']:7.4f} {r['mean']:7.3f} {r['std']:7.3f} {r['seconds']:8.1f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 3.6))
labels = list(experiment_results)
ax1.barh(labels, [experiment_results[k]["w1"] for k in labels], color="tab:purple")
ax1.set(title=f"W1 to the target after {experiment_steps} steps (lower is better)", xlabel="W1", xscale="log")
ax1.invert_yaxis()
for label in ["baseline", "batch 1 (pure SGD)", "lr x 10"]:
    ax2.plot(np.convolve(experiment_results[label]["history"]["d_real"], np.ones(20) / 20, mode="valid"), label=label)
ax2.set(title="Mean D(x) on real samples (moving average)", xlabel="training step", ylabel="D(x)")
ax2.legend()
plt.show()

# %% [markdown] tags=["solution"]
# **What the experiments show** (read the numbers above; they come from this run):
# * **Batch 1** is far noisier: each discriminator step sees one real and one fake sample, so its
#   estimate of where $p_g$ and $p_\text{data}$ differ is poor and the generator receives a noisy
#   signal; with the same number of steps it ends much further from the target. Minibatches average
#   the gradient over many samples.
# * **$k = 5$** keeps $D$ closer to optimal, so each generator step follows a better estimate of
#   $\nabla\,\mathrm{JSD}$; it helps little here because $D$ is already accurate, and it costs $k$
#   times more discriminator work.
# * **Learning rates**: too small and the players have not converged after the same number of steps;
#   too large and the updates overshoot and oscillate around the equilibrium (the decay at the end
#   limits the damage).
# * **Capacity**: a weak discriminator cannot describe how $p_g$ differs from $p_\text{data}$ in shape
#   (it mostly sees the mean), so the generator is only pushed as far as $D$ can see. A non-affine
#   generator *can* represent the target, but must also learn to be linear; it converges more slowly.

# %% [markdown]
# ## 2.5 Mode collapse
#
# A generator covers the data distribution only if the game pushes it to. In practice a generator
# often finds it easier to produce *one* kind of sample the discriminator currently accepts, and to
# move on to another when the discriminator catches up: this is **mode collapse**. We make it visible
# on two targets with several modes, and count it with `lu.mode_statistics`: a mode is *covered*
# when at least 1% (1D: 10%) of the samples fall within 3 standard deviations of its centre, and a
# sample is of *high quality* when it is that close to some centre.
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
    """Features f (batch, A) -> (batch, A + n_kernels): appends o_b(x_i) = sum_j exp(-||M_ib - M_jb||_1)."""

    def __init__(self, in_features: int, n_kernels: int, kernel_dim: int):
        super().__init__()
        self.n_kernels, self.kernel_dim = n_kernels, kernel_dim
        self.T = nn.Parameter(0.1 * torch.randn(in_features, n_kernels * kernel_dim))

    def forward(self, f):
        M = (f @ self.T).view(-1, self.n_kernels, self.kernel_dim)        # (batch, B, C)
        l1 = torch.cdist(M.transpose(0, 1), M.transpose(0, 1), p=1)       # (B, batch, batch) L1 distances
        o = torch.exp(-l1).sum(dim=2).transpose(0, 1) - 1                 # (batch, B); -1 removes j = i
        return torch.cat([f, o], dim=1)


class MinibatchDiscriminator(nn.Module):
    """The Discriminator above with a minibatch discrimination layer before its output layer."""

    def __init__(self, hidden: int, depth: int, dim: int, n_kernels: int, kernel_dim: int):
        super().__init__()
        layers, width = [], dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        self.features = nn.Sequential(*layers)
        self.minibatch = MinibatchDiscrimination(hidden, n_kernels, kernel_dim)
        self.out = nn.Linear(hidden + n_kernels, 1)

    def forward(self, x):
        return self.out(self.minibatch(self.features(x)))


print("shapes:", tuple(MinibatchDiscrimination(8, 5, 3)(torch.randn(7, 8)).shape),
      tuple(MinibatchDiscriminator(16, 2, 2, 5, 3)(torch.randn(7, 2)).shape))
