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
# # 1. The minimax game
#
# A generative adversarial network (GAN) trains two networks against each other: a **generator** $G$
# that turns random noise into samples, and a **discriminator** $D$ that tells real samples from
# generated ones. This chapter derives what the game is, what its solution is, and why the loss that
# is used in practice is not the one in the equations. Every result is then checked numerically.
#
# **Goals.** After this chapter you can
# 1. write the value function $V(D, G)$ of Goodfellow et al. (2014, *Generative Adversarial Nets*) and
#    say what each player wants;
# 2. derive the optimal discriminator $D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)}$ and
#    the generator's criterion $C(G) = -\log 4 + 2\,\mathrm{JSD}(p_\text{data} \,\|\, p_g)$;
# 3. verify both numerically: a trained discriminator approaches $D^*$, and $V(D^*, G)$ equals
#    $-\log 4 + 2\,\mathrm{JSD}$ computed by integration;
# 4. explain why the *saturating* generator loss stalls early in training and the *non-saturating*
#    one does not;
# 5. implement the discriminator and generator losses from logits (exercises with checkers).
#
# **Prerequisites.** Expectations, logarithms, a derivative, and a PyTorch training loop.

# %%
import copy
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy import integrate
from torch import nn

import labutils as lu

# tiny networks: one CPU thread is fastest
settings = lu.setup("01_minimax", seed=0, threads=1)
device = settings.device

# %% [markdown]
# ## Settings
# Every number this chapter uses is here. The profile (`LABBOOK_PROFILE`) only changes how long the
# discriminator trains, never the method.

# %%
data_mean = 2.0  # p_data = N(2, 0.7^2): the "real" distribution
data_std = 0.7  # its standard deviation
gen_mean = 0.0  # p_g = N(0, 1): a fixed generator, for the verification
gen_std = 1.0  # its standard deviation
hidden = 64  # width of the discriminator's two hidden layers
lr_d = 1e-3  # Adam learning rate of the discriminator
batch_size = 512  # samples of each distribution per step
d_steps = lu.pick(full=4000, smoke=300)  # training steps of D
x_grid = np.linspace(-4, 6, 1001)  # where densities and D(x) are evaluated
far_mean = -3.0  # a poor generator's mean, far from the data (section 1.6)

# %% [markdown]
# ## 1.1 The two-player game
#
# Let $p_\text{data}$ be the data distribution and $p_z$ a simple noise distribution (a standard
# Gaussian). The generator maps noise to samples, $x = G(z)$, which defines a distribution $p_g$. The
# discriminator outputs the probability $D(x) \in (0, 1)$ that $x$ is real. The game is
#
# $$
# \min_G \max_D V(D, G), \qquad
# V(D, G) = \mathbb{E}_{x \sim p_\text{data}}\big[\log D(x)\big]
#          + \mathbb{E}_{z \sim p_z}\big[\log\big(1 - D(G(z))\big)\big].
# $$
#
# * **The discriminator maximises $V$**: it wants $D(x) \to 1$ on real data (first term) and
#   $D(G(z)) \to 0$ on generated data (second term). $-V$ is exactly the binary cross-entropy of a
#   classifier with label 1 for real and 0 for fake, so *D is trained as an ordinary classifier*.
# * **The generator minimises $V$**: it only appears in the second term, and wants $D(G(z)) \to 1$,
#   that is, to fool the discriminator.

# %% [markdown]
# ## 1.2 The optimal discriminator
#
# Fix $G$. Writing the second expectation over $x = G(z)$ with density $p_g$,
#
# $$
# V(D, G) = \int_x \Big( p_\text{data}(x) \log D(x) + p_g(x) \log\big(1 - D(x)\big) \Big)\, dx .
# $$
#
# $D$ can choose its value independently at every $x$, so we maximise the integrand pointwise. For
# $a, b > 0$, $f(y) = a \log y + b \log(1 - y)$ on $(0, 1)$ has
# $f'(y) = \frac{a}{y} - \frac{b}{1-y} = 0 \iff y = \frac{a}{a + b}$, and $f'' < 0$, so this is the
# maximum. With $a = p_\text{data}(x)$ and $b = p_g(x)$:
#
# $$
# \boxed{D^*_G(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)}}
# $$
#
# Where only real data lives, $D^* = 1$; where only fakes live, $D^* = 0$; where the two densities
# are equal, $D^* = \tfrac12$.

# %% [markdown]
# ## 1.3 What the generator minimises
#
# Substituting $D^*_G$ gives the generator's criterion
#
# $$
# C(G) = \max_D V(D, G)
#      = \mathbb{E}_{p_\text{data}}\Big[\log \frac{p_\text{data}}{p_\text{data} + p_g}\Big]
#      + \mathbb{E}_{p_g}\Big[\log \frac{p_g}{p_\text{data} + p_g}\Big].
# $$
#
# Let $m = \frac{p_\text{data} + p_g}{2}$. Each fraction is $\frac{p}{2m}$, so each term is
# $\mathrm{KL}(p \,\|\, m) - \log 2$:
#
# $$
# C(G) = -\log 4 + \mathrm{KL}\big(p_\text{data} \,\|\, m\big) + \mathrm{KL}\big(p_g \,\|\, m\big)
#      = -\log 4 + 2\,\mathrm{JSD}\big(p_\text{data} \,\|\, p_g\big).
# $$
#
# **The global optimum.** The Jensen-Shannon divergence is non-negative and zero only when the two
# distributions are equal. So $C(G) \ge -\log 4$, with equality if and only if $p_g = p_\text{data}$;
# there $D^* = \tfrac12$ everywhere: the discriminator cannot do better than a coin. This pair
# $(G, D) = (G^*, \tfrac12)$ is the Nash equilibrium of the game: neither player gains by changing
# alone.

# %% [markdown]
# ## 1.4 Algorithm 1: alternating updates
#
# In practice neither player is optimised to the end. Goodfellow et al. alternate stochastic
# gradient steps on minibatches:
#
# > **for** each training iteration **do**
# > &nbsp;&nbsp; **for** $k$ steps **do**: sample $m$ noise vectors and $m$ data points, and *ascend*
# >   $\frac1m \sum_i \big[\log D(x_i) + \log(1 - D(G(z_i)))\big]$ in $D$'s parameters;
# > &nbsp;&nbsp; sample $m$ noise vectors and *descend* $\frac1m \sum_i \log(1 - D(G(z_i)))$ in $G$'s
# >   parameters (in practice: ascend $\log D(G(z_i))$, see section 1.6).
#
# With $k$ large, $D$ stays close to $D^*_G$ and the generator step on the minimax loss follows the
# gradient of $C(G)$, that is of the JSD. With the non-saturating loss of section 1.6 and $D = D^*_G$,
# the generator follows instead the gradient of
# $\mathrm{KL}(p_g \,\|\, p_\text{data}) - 2\,\mathrm{JSD}(p_\text{data} \,\|\, p_g)$ (Arjovsky and
# Bottou, 2017, *Towards Principled Methods for Training GANs*, theorem 2.5), which also vanishes at
# $p_g = p_\text{data}$. The paper used $k = 1$, the cheapest choice, and so does most later work.

# %% [markdown]
# ## 1.5 Checking the theory numerically
#
# We take two 1D distributions, $p_\text{data} = \mathcal{N}(2, 0.7^2)$ and a fixed
# $p_g = \mathcal{N}(0, 1)$, and train a discriminator on samples of both as a classifier. Theory
# predicts that it approaches $D^*$, which we can compute exactly.


# %%
def p_data(x):
    return lu.gaussian_pdf(x, data_mean, data_std)


def p_g(x):
    return lu.gaussian_pdf(x, gen_mean, gen_std)


d_star = p_data(x_grid) / (p_data(x_grid) + p_g(x_grid))
for x in (gen_mean, data_mean):
    print(f"D*(x) at x = {x}: {d_star[np.argmin(abs(x_grid - x))]:.4f}")


# %% [markdown]
# The discriminator is a small MLP that outputs a **logit** $a$, with $D(x) = \sigma(a)$. We never
# apply the sigmoid inside the model: `BCEWithLogitsLoss` computes $-\log \sigma(a)$ stably from the
# logit, while `log(sigmoid(a))` underflows to $-\infty$ for confident predictions.


# %%
class Discriminator(nn.Module):
    """x (batch, 1) -> logit (batch, 1)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(1, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x):
        return self.net(x)


# %%
# NBVAL_CHECK_OUTPUT
discriminator = Discriminator(hidden).to(device)
optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d)
print(discriminator)
print("parameters:", lu.n_params(discriminator))

# %% [markdown]
# Training $D$ is training a classifier: label 1 for samples of $p_\text{data}$, label 0 for samples
# of $p_g$. One step computes the loss on a batch of each, then takes one gradient step.

# %%
bce = nn.BCEWithLogitsLoss()


def d_step(D, optimizer, x_real, x_fake):
    """One step of D as a classifier; return the loss before the step."""
    logits_real, logits_fake = D(x_real), D(x_fake)
    loss = bce(logits_real, torch.ones_like(logits_real)) + bce(
        logits_fake, torch.zeros_like(logits_fake)
    )
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


# %% [markdown]
# A few steps on one fixed batch, on a copy of the discriminator (the run below starts from the
# untouched weights): the loss starts near $2 \log 2$, the loss of a coin, and falls.

# %%
demo_d = copy.deepcopy(discriminator)
demo_optimizer = torch.optim.Adam(demo_d.parameters(), lr=lr_d)
demo_rng = torch.Generator().manual_seed(1)  # leaves the global stream alone
x_real = lu.sample_gaussian_1d(batch_size, data_mean, data_std, demo_rng)
x_fake = lu.sample_gaussian_1d(batch_size, gen_mean, gen_std, demo_rng)
demo_losses = []
for i in range(3):
    loss = d_step(demo_d, demo_optimizer, x_real.to(device), x_fake.to(device))
    demo_losses.append(loss.item())
    print(
        f"step {i}: loss {loss.item():.4f}   (2 log 2 = {2 * math.log(2):.4f})"
    )
lu.claim(
    "on one batch the loss starts within 0.1 of 2 log 2 and falls",
    abs(demo_losses[0] - 2 * math.log(2)) < 0.1
    and demo_losses[2] < demo_losses[1] < demo_losses[0],
)

# %% [markdown]
# The training loop draws a fresh batch of each distribution at every step. `lu.start_run` loads the
# trained discriminator if this notebook ran before with the same settings (see the README on
# checkpoints), and `lu.training_steps` saves it while training.

# %%
config = dict(
    data_mean=data_mean,
    data_std=data_std,
    gen_mean=gen_mean,
    gen_std=gen_std,
    hidden=hidden,
    lr_d=lr_d,
    batch_size=batch_size,
)
state = {"discriminator": discriminator, "optimizer_d": optimizer_d}
run = lu.start_run("optimal_discriminator", config, state, d_steps)
for _ in lu.training_steps(run, desc="discriminator"):
    x_real = lu.sample_gaussian_1d(batch_size, data_mean, data_std)
    x_fake = lu.sample_gaussian_1d(batch_size, gen_mean, gen_std)
    loss = d_step(
        discriminator, optimizer_d, x_real.to(device), x_fake.to(device)
    )
    run.history["loss_d"].append(loss.item())

# %% [markdown]
# Now the trained $D(x)$ on the grid, against $D^*$, where the samples fall (theory constrains $D$ only
# where $p_\text{data} + p_g > 0$; we look where the sum is above $0.05$).

# %%
with torch.no_grad():
    grid = torch.tensor(x_grid, dtype=torch.float32, device=device)
    d_trained = torch.sigmoid(discriminator(grid.unsqueeze(1))).squeeze(1)
d_trained = d_trained.cpu().numpy()
support = (p_data(x_grid) + p_g(x_grid)) > 0.05
max_gap = lu.glue(
    "max_gap", float(np.max(np.abs(d_trained - d_star)[support]))
)
print(f"largest |D(x) - D*(x)| where p_data + p_g > 0.05: {max_gap:.3f}")
lu.claim(
    "the trained D lies on D* where there are samples (gap < 0.05)",
    max_gap < 0.05,
)

# %% tags=["hide-input"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
ax1.plot(
    x_grid, p_data(x_grid), label=r"$p_\mathrm{data} = \mathcal{N}(2, 0.7^2)$"
)
ax1.plot(x_grid, p_g(x_grid), label=r"$p_g = \mathcal{N}(0, 1)$")
ax1.plot(x_grid, d_star, "k-", lw=2, label=r"$D^*(x)$ (theory)")
ax1.plot(
    x_grid, d_trained, "--", color="tab:red", lw=2, label=r"$D(x)$ (trained)"
)
ax1.set(
    title="The trained discriminator approaches $D^*$",
    xlabel="x",
    ylabel="density / probability",
)
ax1.legend(loc="upper left", fontsize=8)
lu.plot_losses(
    run.history,
    ["loss_d"],
    title="Discriminator loss (BCE, real + fake)",
    ax=ax2,
    smooth=50,
)
ax2.axhline(
    -2 * (math.log(0.5)), color="gray", ls=":", label="2 log 2: D cannot tell"
)
ax2.legend()
plt.show()

# %% [markdown]
# The trained curve lies on $D^*$ where there are samples (the largest gap there is
# {glue:text}`max_gap:.3f`); far in the tails, where neither distribution puts mass, the network is
# free to do anything.
#
# Now the identity $C(G) = -\log 4 + 2\,\mathrm{JSD}$. We compute $V(D^*, G)$ by numerical
# integration, and separately the JSD, and compare. We also estimate $V$ for the *trained*
# discriminator from fresh samples: it can only be lower than the maximum $V(D^*, G)$.


# %%
def v_integrand(x, d):
    return p_data(x) * np.log(d(x)) + p_g(x) * np.log(1 - d(x))


# %%
def d_star_fn(x):
    return p_data(x) / (p_data(x) + p_g(x))


# %%
# NBVAL_CHECK_OUTPUT
v_star = integrate.quad(
    lambda x: v_integrand(x, d_star_fn), -12, 14, limit=200
)[0]
jsd = lu.jensen_shannon_1d(p_data, p_g, -12, 14)
c_g = -math.log(4) + 2 * jsd
print(f"V(D*, G)            = {v_star:.6f}")
print(f"-log 4 + 2 JSD      = {c_g:.6f}")
print(
    f"JSD                 = {jsd:.6f} nats (at most log 2 = {math.log(2):.6f})"
)
print(f"lower bound -log 4  = {-math.log(4):.6f}")

# %%
lu.glue("v_star", v_star)
lu.glue("jsd", jsd)
lu.claim(
    "V(D*, G) and -log 4 + 2 JSD agree to six decimals",
    abs(v_star - c_g) < 5e-7,
)

# %% [markdown]
# The two numbers agree to six decimals (both are {glue:text}`v_star:.6f`, with a JSD of
# {glue:text}`jsd:.4f` nats), as the derivation says. Now the trained discriminator, on
# $200{,}000$ fresh samples of each distribution:

# %%
eval_rng = torch.Generator().manual_seed(123)
x_real = lu.sample_gaussian_1d(200_000, data_mean, data_std, eval_rng)
x_fake = lu.sample_gaussian_1d(200_000, gen_mean, gen_std, eval_rng)
with torch.no_grad():
    v_trained = (
        F.logsigmoid(discriminator(x_real.to(device))).mean()
        + F.logsigmoid(-discriminator(x_fake.to(device))).mean()
    ).item()
v_gap = lu.glue("v_gap", v_star - v_trained)
lu.glue("v_trained", v_trained)
print(f"V(D_trained, G) = {v_trained:.4f}  <=  V(D*, G) = {v_star:.4f}")
print(f"gap {v_gap:.4f}")
lu.claim("V of the trained D is below V(D*, G)", v_trained < v_star)

# %% [markdown]
# The trained discriminator's $V$ is {glue:text}`v_trained:.4f`, {glue:text}`v_gap:.4f` below the
# maximum: close to $D^*$, never above it.

# %% [markdown]
# ## 1.6 Saturating versus non-saturating generator loss
#
# Write $a = \text{logit}(D(G(z)))$, so $D(G(z)) = \sigma(a)$. The generator's term of $V$ is the
# **saturating** loss $\log(1 - \sigma(a))$, which $G$ minimises. Goodfellow et al. instead propose
# to *maximise* $\log D(G(z))$, the **non-saturating** loss $-\log \sigma(a)$. Both have the same
# fixed point, but their gradients with respect to the logit are
#
# $$
# \frac{\partial}{\partial a} \log\big(1 - \sigma(a)\big) = -\sigma(a), \qquad
# \frac{\partial}{\partial a} \big(-\log \sigma(a)\big) = -\big(1 - \sigma(a)\big).
# $$
#
# Early in training the generator is bad, $D$ rejects its samples confidently, $a \ll 0$ and
# $\sigma(a) \approx 0$: the saturating gradient **vanishes** exactly when the generator most needs
# to learn, while the non-saturating gradient is close to its maximum magnitude 1.

# %%
logit = torch.linspace(-8, 8, 401, requires_grad=True)
saturating = torch.log1p(-torch.sigmoid(logit))  # log(1 - D), minimised by G
non_saturating = -F.logsigmoid(logit)  # -log D, minimised by G
grad_sat = torch.autograd.grad(saturating.sum(), logit)[0]
grad_non = torch.autograd.grad(non_saturating.sum(), logit)[0]
confident = logit.detach() < -3  # D(G(z)) below 0.05: judged fake
lu.claim(
    "where D is confident (logit < -3) the saturating gradient is below "
    "0.05 and the non-saturating one above 0.95",
    bool(grad_sat[confident].abs().max() < 0.05)
    and bool(grad_non[confident].abs().min() > 0.95),
)

# %% tags=["hide-input"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.6))
d_of_logit = torch.sigmoid(logit).detach()
ax1.plot(
    d_of_logit, saturating.detach(), label=r"saturating $\log(1 - D(G(z)))$"
)
ax1.plot(
    d_of_logit,
    non_saturating.detach(),
    label=r"non-saturating $-\log D(G(z))$",
)
ax1.set(
    title="Generator losses", xlabel="D(G(z))", ylabel="loss (G minimises)"
)
ax1.legend()
ax2.semilogy(
    logit.detach(), grad_sat.abs(), label=r"saturating: $|\sigma(a)|$"
)
ax2.semilogy(
    logit.detach(), grad_non.abs(), label=r"non-saturating: $|1 - \sigma(a)|$"
)
ax2.axvspan(
    -8, -3, color="gray", alpha=0.15, label="D confident: sample judged fake"
)
ax2.set(
    title="Gradient magnitude with respect to the logit",
    xlabel="logit a of D(G(z))",
    ylabel="|dloss/da|",
)
ax2.legend(fontsize=8)
plt.show()

# %% [markdown]
# **The vanishing gradient in a real network.** Take a poor generator, $G(z) = \mu + z$ with
# $\mu = -3$ far from the data at 2, and a discriminator trained (as above) until it is confident.
# Compare the gradient that each loss sends to $\mu$.

# %%
far_d = Discriminator(hidden).to(device)
far_optimizer = torch.optim.Adam(far_d.parameters(), lr=lr_d)
far_config = dict(
    far_mean=far_mean,
    data_mean=data_mean,
    data_std=data_std,
    hidden=hidden,
    lr_d=lr_d,
    batch_size=batch_size,
)
far_state = {"discriminator": far_d, "optimizer_d": far_optimizer}
far_run = lu.start_run(
    "confident_discriminator", far_config, far_state, d_steps // 4
)
for _ in lu.training_steps(far_run, desc="confident D"):
    x_real = lu.sample_gaussian_1d(batch_size, data_mean, data_std)
    x_fake = lu.sample_gaussian_1d(batch_size, far_mean, gen_std)
    d_step(far_d, far_optimizer, x_real.to(device), x_fake.to(device))

# %% [markdown]
# The generator's samples are $\mu + z$; each loss is averaged over them and differentiated with
# respect to $\mu$ alone.

# %%
mu = torch.tensor(far_mean, device=device, requires_grad=True)
z = torch.randn(10_000, 1, generator=torch.Generator().manual_seed(7))
fake_logits = far_d(mu + z.to(device))
loss_sat = torch.log1p(-torch.sigmoid(fake_logits)).mean()
loss_non = (-F.logsigmoid(fake_logits)).mean()
grad_mu_sat = torch.autograd.grad(loss_sat, mu, retain_graph=True)[0].item()
grad_mu_non = torch.autograd.grad(loss_non, mu)[0].item()
d_of_fakes = torch.sigmoid(fake_logits).mean().item()

# %%
grad_ratio = lu.glue("grad_ratio", abs(grad_mu_non / grad_mu_sat))
lu.glue("grad_mu_sat", grad_mu_sat)
lu.glue("grad_mu_non", grad_mu_non)
lu.glue("d_of_fakes", d_of_fakes)
print(f"mean D(G(z)) = {d_of_fakes:.2e}: the discriminator rejects the fakes")
print(f"gradient on mu, saturating loss     : {grad_mu_sat:+.2e}")
print(f"gradient on mu, non-saturating loss : {grad_mu_non:+.2e}")
print(f"the non-saturating gradient is {grad_ratio:.0f} times larger")
lu.claim(
    "the confident D rejects the fakes (mean D(G(z)) < 0.01)",
    d_of_fakes < 0.01,
)
lu.claim(
    "both gradients on mu are negative", grad_mu_sat < 0 and grad_mu_non < 0
)
lu.claim(
    "the saturating gradient is orders of magnitude smaller (ratio >= 100)",
    grad_ratio >= 100,
)

# %% [markdown]
# The discriminator gives the fakes a mean $D(G(z))$ of {glue:text}`d_of_fakes:.1e`. Both gradients
# are negative (so gradient *descent* moves $\mu$ up, towards the data), but the saturating one is
# {glue:text}`grad_ratio:.0f` times smaller: with it the generator barely moves. This is why every
# GAN in this book trains $G$ with the non-saturating loss.

# %% [markdown]
# ## 1.7 Questions
#
# **Q1.** Interpret the discriminator's objective and the generator's objective in words.

# %% [markdown] tags=["solution"]
# **Answer.** $D$ maximises the log-likelihood of a binary classifier that labels data 1 and
# generated samples 0: it wants $D(x)$ high on real data and $D(G(z))$ low on fakes. $G$ minimises
# the same quantity, which it only influences through $D(G(z))$: it wants its samples to be
# classified as real. At the optimum of $D$, what $G$ minimises is $2\,\mathrm{JSD}(p_\text{data}\|p_g) - \log 4$,
# a divergence between its distribution and the data's.

# %% [markdown]
# **Q2.** What happens if only one of the two networks is optimised?

# %% [markdown] tags=["solution"]
# **Answer.** If only $D$ is trained, it converges to $D^*$ for the fixed, bad $p_g$: a perfect
# classifier when the supports are apart, and nothing is generated better. If only $G$ is trained
# against a fixed $D$, it does not learn the data distribution: it moves all its samples to wherever
# that fixed $D$ is highest (the minimiser of $\log(1 - D(x))$ is the $\arg\max$ of $D$), a single point:
# complete mode collapse. The data distribution is only reached because $D$ keeps adapting to $p_g$.

# %% [markdown]
# **Q3.** Ideally, what should the generator produce, and what is $D$ then?

# %% [markdown] tags=["solution"]
# **Answer.** Samples distributed exactly as the data, $p_g = p_\text{data}$ (not copies of training
# examples: new samples from the same distribution). Then $D^*(x) = \tfrac12$ everywhere, $V = -\log 4$,
# and the JSD is zero.

# %% [markdown]
# **Q4.** Which generator objective is the "true" one, and why is the other used in practice?

# %% [markdown] tags=["solution"]
# **Answer.** The saturating $\min_G \mathbb{E}[\log(1 - D(G(z)))]$ is the true minimax objective:
# it is the one for which the derivation gives $C(G) = -\log 4 + 2\,\mathrm{JSD}$. The non-saturating
# $\max_G \mathbb{E}[\log D(G(z))]$ has the same fixed point ($p_g = p_\text{data}$, $D = \tfrac12$) but is
# no longer a zero-sum game; it is used because its gradient is large exactly when $D$ confidently
# rejects the fakes, early in training, where the saturating loss gives almost no gradient (section 1.6).

# %% [markdown]
# ## 1.8 Exercises
#
# Implement the losses from **logits** (the raw output of $D$, before the sigmoid). Use
# `F.binary_cross_entropy_with_logits` or `F.logsigmoid`; never `torch.log(torch.sigmoid(...))`,
# which returns $-\infty$ for confident logits. Each checker prints a pass, or what is wrong.
#
# **Exercise 1.** The discriminator loss $-V$: `mean(-log D(x)) + mean(-log(1 - D(G(z))))`.


# %%
def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> torch.Tensor:
    """Binary cross-entropy of D: target 1 for real, 0 for generated."""
    ### BEGIN SOLUTION
    real_loss = F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    )
    fake_loss = F.binary_cross_entropy_with_logits(
        fake_logits, torch.zeros_like(fake_logits)
    )
    return real_loss + fake_loss
    ### END SOLUTION


exercise_1 = lu.check_discriminator_loss(discriminator_loss)

# %% [markdown]
# **Exercise 2.** The saturating generator loss `mean(log(1 - D(G(z))))`, minimised by $G$.
# Hint: $\log(1 - \sigma(a)) = \log \sigma(-a)$.


# %%
def generator_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The minimax generator loss log(1 - D(G(z))), averaged over the batch."""
    ### BEGIN SOLUTION
    return F.logsigmoid(-fake_logits).mean()
    ### END SOLUTION


exercise_2 = lu.check_generator_loss(
    generator_loss_saturating, variant="saturating"
)

# %% [markdown]
# **Exercise 3.** The non-saturating generator loss `mean(-log D(G(z)))`.


# %%
def generator_loss_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -log D(G(z)), batch-averaged."""
    ### BEGIN SOLUTION
    return F.binary_cross_entropy_with_logits(
        fake_logits, torch.ones_like(fake_logits)
    )
    ### END SOLUTION


exercise_3 = lu.check_generator_loss(
    generator_loss_non_saturating, variant="non_saturating"
)

# %% [markdown]
# ## Summary
#
# * $V(D, G)$ is the log-likelihood of $D$ as a real-versus-fake classifier; $D$ maximises it, $G$
#   minimises it.
# * For a fixed $G$, $D^* = p_\text{data} / (p_\text{data} + p_g)$, and then the generator minimises
#   $-\log 4 + 2\,\mathrm{JSD}(p_\text{data}\|p_g)$, whose minimum is reached at $p_g = p_\text{data}$.
# * Both facts hold numerically: the results below were computed by this notebook.
# * Train $G$ with the non-saturating loss $-\log D(G(z))$, and compute every loss from logits.

# %%
metrics = {
    "v_d_star": v_star,
    "minus_log4_plus_2jsd": -math.log(4) + 2 * jsd,
    "jsd_nats": jsd,
    "v_trained_discriminator": v_trained,
    "max_abs_gap_trained_vs_optimal_d": max_gap,
    "gradient_mu_saturating": grad_mu_sat,
    "gradient_mu_non_saturating": grad_mu_non,
    "exercises_passed": int(exercise_1) + int(exercise_2) + int(exercise_3),
}

# %%
exercises = {
    "Exercise 1: discriminator loss": exercise_1,
    "Exercise 2: saturating generator loss": exercise_2,
    "Exercise 3: non-saturating generator loss": exercise_3,
}

# %% [markdown]
# ## Results summary
#
# This run's numbers beside their full-profile ranges (kept in `labutils/expected.toml`), every claim
# the prose makes about them, and the exercises' checkers, in one table (the grading report reads it
# too); then the metrics are saved and the run is recorded.

# %%
summary = lu.finish(metrics, exercises=exercises)
