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
# # 3. MNIST: an MLP GAN against a DCGAN
#
# Chapters 1 and 2 trained GANs on distributions we could draw. Now the data are images of handwritten
# digits, $28 \times 28 = 784$ dimensions, and we can no longer compare densities. We will *measure*
# generated images anyway, with a classifier trained on real digits, and use those measurements to
# compare two generators: a fully connected one, as in the original GAN paper (Goodfellow et al.,
# 2014, *Generative Adversarial Nets*), and a convolutional one, the DCGAN (Radford et al.,
# 2016, *Unsupervised Representation Learning with Deep Convolutional Generative Adversarial Networks*).
#
# **Goals.** After this chapter you can
# 1. write the MLP GAN and the DCGAN in PyTorch, and follow the shape of a tensor through transposed
#    convolutions;
# 2. evaluate a generator with numbers: the classes its samples are recognised as (mode coverage), the
#    classifier's confidence, and a Fréchet distance between classifier features, read against the
#    same distance between two sets of *real* images;
# 3. read the training curves of a GAN, $D(x)$ and $D(G(z))$ included, and say what they do not tell;
# 4. predict and measure the effect of the learning rate, Adam's $\beta_1$ and the latent size;
# 5. spot mode collapse in a class histogram, walk through the latent space, and move the whole chapter
#    to Fashion-MNIST by changing one setting.

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

settings = lu.setup("03_mnist_dcgan", seed=0)  # convolutions: torch uses every CPU thread
device = settings.device

# %% [markdown]
# ## Settings
# Every hyperparameter of the chapter. The DCGAN values are those of Radford et al. (2016) with two
# changes for a laptop CPU: the networks are narrower, and the learning rate is $10^{-3}$ instead of the
# paper's $2 \cdot 10^{-4}$, because we train for two epochs instead of their 25 (the study in 3.6 trains
# with the paper's value and measures the difference). The profile changes only the numbers of steps and
# samples.

# %%
dataset = "mnist"              # "fashion" runs the whole chapter on Fashion-MNIST (section 3.9)
nz = 100                       # latent size: z ~ N(0, I_nz)
batch_size = 64                # images of each kind (real, generated) per step
lr = 1e-3                      # Adam learning rate of G and D (the paper: 2e-4 for 25 epochs; see 3.6)
betas = (0.5, 0.999)           # Adam (beta1, beta2); DCGAN lowers beta1 from the default 0.9 to 0.5
init_std = 0.02                # DCGAN initialisation: weights ~ N(0, 0.02)
ngf, ndf = 16, 32              # feature maps of the DCGAN generator / discriminator (the paper: 128)
extra_layers = 2               # same-size 3x3 convolutions the deeper DCGAN adds at each place (3.10)
mlp_hidden = (256, 512)        # hidden widths of the MLP generator (its discriminator mirrors them)
leak = 0.2                     # slope of LeakyReLU in the discriminators
n_steps = lu.pick(full=2000, smoke=20)      # training steps of the MLP GAN and of the DCGAN (2.1 epochs)
study_steps = lu.pick(full=300, smoke=10)   # steps of each run of the hyperparameter study (3.6)
study = {                                   # one change to the DCGAN per run
    "lr = 2e-4": {"lr": 2e-4},
    "beta1 = 0.9": {"betas": (0.9, 0.999)},
    "nz = 10": {"nz": 10},
    "nz = 1000": {"nz": 1000},
}
other_dataset = "fashion"                   # section 3.9 trains the DCGAN on this dataset as well
other_steps = lu.pick(full=600, smoke=10)
deeper_steps = lu.pick(full=4000, smoke=20)  # steps of the deeper DCGAN (3.10); both rates decay over the second half
snapshot_every = lu.pick(full=100, smoke=10)  # steps between fixed-noise sample grids
eval_every = lu.pick(full=150, smoke=10)     # steps between measurements during training
n_eval_during = lu.pick(full=2000, smoke=500)  # samples per measurement during training
n_final = lu.pick(full=10_000, smoke=1000)   # samples of the final measurements and exports

# %% [markdown]
# ## 3.1 The data
#
# MNIST has 60,000 training and 10,000 test images of handwritten digits. `lu.load_dataset` returns them
# as one float tensor, scaled from $[0, 255]$ to $[-1, 1]$: the range of the $\tanh$ that ends both
# generators.

# %%
x_train, y_train = lu.load_dataset(dataset, train=True, device=device)
x_test, y_test = lu.load_dataset(dataset, train=False)
class_names = lu.CLASS_NAMES[dataset]
print(f"train {tuple(x_train.shape)} {x_train.dtype}, test {tuple(x_test.shape)}, "
      f"values in [{x_train.min():.0f}, {x_train.max():.0f}]")
print("training images per class:", torch.bincount(y_train.cpu()).tolist())
lu.show_images(x_train[:64], title=f"64 real training images ({dataset})")
plt.show()

# %% [markdown]
# ## 3.2 Measuring generated images
#
# A GAN's losses do not say how good its samples are (chapter 2, Q2). For images we borrow a judge: a
# small CNN classifier trained on the real training set (`lu.get_classifier`, trained once on first use
# and cached; its test accuracy is printed when it is trained). Given $N$ generated images it gives
# * the **class histogram**: the share of samples recognised as each digit. A generator that covers the
#   data covers the 10 classes about equally; we call a class *covered* when it gets at least 5% of the
#   samples;
# * the **mean confidence** $\frac1N \sum_i \max_c p(c \mid x_i)$: high when samples look like clear
#   digits, low for ambiguous blobs;
# * the **Fréchet distance** between the classifier's 128 penultimate features $f(x)$ of generated and
#   real test images. Fit a Gaussian to each set of features, means $\mu_g, \mu_r$, covariances
#   $\Sigma_g, \Sigma_r$; the Fréchet (Wasserstein-2) distance between the two Gaussians is
#
# $$ \mathrm{FD} = \lVert \mu_g - \mu_r \rVert_2^2 + \operatorname{tr}\bigl(\Sigma_g + \Sigma_r - 2\,(\Sigma_g \Sigma_r)^{1/2}\bigr). $$
#
# This is the FID of Heusel et al. (2017, *GANs Trained by a Two Time-Scale Update Rule Converge to a
# Local Nash Equilibrium*) with a digit classifier instead of the Inception network (which would need a
# download and is trained on photographs). It sees both quality (where the features lie) and diversity
# (how they spread). Its numbers have no absolute scale, so we calibrate them first: the distance
# between two *real* sets (the floor that finite samples give), and the distance of real images spoiled
# in known ways.

# %%
classifier = lu.get_classifier(dataset)
floor = lu.real_vs_real_distance(dataset, n=n_final)
floor_subset = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))[:n_final]  # the floor's images
spoiled_noise = torch.Generator().manual_seed(5)
ruler = {
    "real training images": x_train[floor_subset].cpu(),
    "real + noise (std 0.3)": (x_test + 0.3 * torch.randn(x_test.shape, generator=spoiled_noise)).clamp(-1, 1),
    "real, blurred (2x2 average)": F.interpolate(F.avg_pool2d(x_test, 2), scale_factor=2, mode="nearest"),
    f"real, one class only ({class_names[1]})": x_test[y_test == 1],
}
ruler_metrics = {name: lu.evaluate_samples(images, dataset) for name, images in ruler.items()}
lu.show_table([{"images": name, "Fréchet distance": r["frechet_distance"], "classes covered": r["classes_covered"],
                "mean confidence": r["mean_confidence"]} for name, r in ruler_metrics.items()])

# %% [markdown]
# The first row is not zero: two finite samples of the same distribution differ. Its value (the
# real-vs-real floor, printed below) is the best a generator can reach with this number of samples.
# Noise and blur, which a person barely notices, already move the distance by orders of magnitude: the
# classifier's features are sensitive to exactly the stroke details that a generator gets wrong. A
# generator that draws only one digit, however well, is far away too, and covers one class.

# %%
print(f"real-vs-real floor: Fréchet distance {floor:.2f} between {n_final} training and the 10,000 test images")
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
for ax, name in zip(axes, list(ruler)[1:]):
    lu.show_images(ruler[name][:36], nrow=6, ax=ax, title=f"{name}\nFD = {ruler_metrics[name]['frechet_distance']:.0f}")
plt.show()

# %% [markdown]
# ## 3.3 Two generators and two discriminators
#
# **The MLP GAN.** The generator is a multilayer perceptron $z \mapsto x$: two hidden layers, then 784
# outputs through $\tanh$, reshaped into an image. The discriminator mirrors it, $784 \to 512 \to 256 \to
# 1$ logit. Neither knows that pixels have neighbours: permuting the pixels of every image in the same
# way would not change what they can learn.

# %%
# NBVAL_CHECK_OUTPUT
class MLPGenerator(nn.Module):
    """z (N, nz) -> image (N, 1, 28, 28) through fully connected layers."""

    def __init__(self, nz: int, hidden=mlp_hidden):
        super().__init__()
        self.nz = nz
        self.net = nn.Sequential(
            nn.Linear(nz, hidden[0]), nn.LeakyReLU(leak),
            nn.Linear(hidden[0], hidden[1]), nn.LeakyReLU(leak),
            nn.Linear(hidden[1], 28 * 28), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


class MLPDiscriminator(nn.Module):
    """image (N, 1, 28, 28) -> logit (N,) through fully connected layers."""

    def __init__(self, hidden=mlp_hidden):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(28 * 28, hidden[1]), nn.LeakyReLU(leak),
            nn.Linear(hidden[1], hidden[0]), nn.LeakyReLU(leak), nn.Linear(hidden[0], 1))

    def forward(self, x):
        return self.net(x).view(-1)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


print(f"MLP generator {n_params(MLPGenerator(nz)):,} parameters, discriminator {n_params(MLPDiscriminator()):,}")

# %% [markdown]
# **The DCGAN.** Radford et al. (2016) found an architecture that trains stably, summarised in their
# guidelines: no pooling and no fully connected hidden layers, but **strided convolutions** in the
# discriminator (to go down in resolution) and **transposed convolutions** in the generator (to go up);
# **batch normalisation** in both, except the generator's output and the discriminator's input layers;
# **ReLU** in the generator with $\tanh$ at the output, **LeakyReLU** (slope 0.2) in the discriminator;
# Adam with learning rate $2\cdot10^{-4}$ and $\beta_1 = 0.5$; weights drawn from $\mathcal{N}(0, 0.02)$.
# We follow all of them except the learning rate (see the settings).
#
# A convolution with kernel $k$, stride $s$ and padding $p$ maps a side of $n$ pixels to
# $\lfloor (n + 2p - k)/s \rfloor + 1$; the transposed convolution inverts that map,
# $n \mapsto (n - 1)s - 2p + k$. With $k = 4, s = 2, p = 1$ a side doubles ($7 \to 14 \to 28$), and the
# generator starts from $z$ seen as a $1 \times 1$ image with $nz$ channels, which a $7 \times 7$
# transposed convolution turns into $7 \times 7$ feature maps.

# %%
# NBVAL_CHECK_OUTPUT
class DCGANGenerator(nn.Module):
    """z (N, nz) -> image (N, 1, 28, 28): 1x1 -> 7x7 -> 14x14 -> 28x28 with transposed convolutions."""

    def __init__(self, nz: int, ngf: int = ngf):
        super().__init__()
        self.nz = nz
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, 4 * ngf, 7, 1, 0, bias=False), nn.BatchNorm2d(4 * ngf), nn.ReLU(),
            nn.ConvTranspose2d(4 * ngf, 2 * ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ngf), nn.ReLU(),
            nn.ConvTranspose2d(2 * ngf, 1, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.net(z.view(-1, self.nz, 1, 1))


class DCGANDiscriminator(nn.Module):
    """image (N, 1, 28, 28) -> logit (N,): 28 -> 14 -> 7 with strided convolutions, then one 7x7 convolution."""

    def __init__(self, ndf: int = ndf):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(leak),
            nn.Conv2d(ndf, 2 * ndf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ndf), nn.LeakyReLU(leak),
            nn.Conv2d(2 * ndf, 1, 7, 1, 0, bias=False))

    def forward(self, x):
        return self.net(x).view(-1)


def weights_init(m: nn.Module) -> None:
    """DCGAN initialisation, applied to every submodule with model.apply(weights_init)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, init_std)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, init_std)
        nn.init.zeros_(m.bias)


print(f"DCGAN generator {n_params(DCGANGenerator(nz)):,} parameters, discriminator {n_params(DCGANDiscriminator()):,}")

# %% [markdown]
# Follow one batch of noise through the DCGAN generator, layer by layer:

# %%
# NBVAL_CHECK_OUTPUT
x = torch.zeros(2, nz, 1, 1)
for layer in DCGANGenerator(nz).net:
    x = layer(x)
    if not isinstance(layer, (nn.BatchNorm2d, nn.ReLU)):
        print(f"{layer.__class__.__name__:16s} -> {tuple(x.shape)}")
print("discriminator:", tuple(DCGANDiscriminator()(x).shape), "(one logit per image)")

# %% [markdown]
# The convolutional generator has fewer parameters than the MLP one, yet, as we will measure, it draws
# better digits: its weights are shared across positions, so a stroke learned in one place can be drawn
# anywhere, and every output pixel depends on a local neighbourhood of feature maps, an assumption that
# suits images.
#
# ## 3.4 The training loop
#
# The loop is Algorithm 1 with $k = 1$ and the non-saturating generator loss of chapter 1, both losses
# computed from logits with `binary_cross_entropy_with_logits`. The generator step reuses the generated
# batch of the discriminator step (not detached this time) through the *updated* discriminator.
# Every `snapshot_every` steps we draw the same 64 noise vectors (`fixed_noise`): the grids then show
# how one set of samples evolves. Every `eval_every` steps we measure the generator on `n_eval_during`
# samples. Everything goes into `run.history`, which the checkpoint keeps. Two helpers from `labutils` draw
# samples: `lu.latent_noise(n, nz, seed)` gives fixed latent vectors (the same in every run), and
# `lu.generate(G, z)` computes $G(z)$ in eval mode, without gradients, in batches.

# %%
def train_gan(name, generator, discriminator, *, steps, lr=lr, betas=betas, data=x_train, domain=dataset, decay=False):
    """Train with alternating D and G steps (non-saturating loss); record losses, snapshots and metrics.

    decay=True lowers both learning rates linearly to 0 over the second half of the steps (used in 3.10)."""
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    schedule = (lambda step: min(1.0, 2.0 * (1 - step / steps))) if decay else (lambda step: 1.0)
    sched_g, sched_d = (torch.optim.lr_scheduler.LambdaLR(o, schedule) for o in (opt_g, opt_d))
    config = dict(domain=domain, batch_size=batch_size, lr=lr, betas=betas, decay=decay, snapshot_every=snapshot_every,
                  eval_every=eval_every, n_eval_during=n_eval_during)
    run = lu.start_run(name, config, state={"generator": generator, "discriminator": discriminator, "opt_g": opt_g,
                       "opt_d": opt_d, "sched_g": sched_g, "sched_d": sched_d}, total_steps=steps, code=[train_gan])
    fixed_noise, eval_noise = lu.latent_noise(64, generator.nz, seed=1), lu.latent_noise(n_eval_during, generator.nz, seed=2)
    batches = lu.minibatches(data, batch_size=batch_size, seed=settings.seed, start_step=run.step)
    ones, zeros = torch.ones(batch_size, device=device), torch.zeros(batch_size, device=device)
    h = run.history
    for step in lu.training_steps(run, desc=name):
        (x_real,) = next(batches)
        fake = generator(torch.randn(batch_size, generator.nz, device=device))
        logits_real, logits_fake = discriminator(x_real), discriminator(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(logits_real, ones) + F.binary_cross_entropy_with_logits(logits_fake, zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.binary_cross_entropy_with_logits(discriminator(fake), ones)  # non-saturating: -log D(G(z))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        sched_g.step()
        sched_d.step()
        if not (torch.isfinite(loss_d) and torch.isfinite(loss_g)):
            raise FloatingPointError(f"{name}: a loss became NaN/inf at step {step}; lower the learning rate.")
        h["loss_d"].append(loss_d.item())
        h["loss_g"].append(loss_g.item())
        h["d_real"].append(torch.sigmoid(logits_real).mean().item())
        h["d_fake"].append(torch.sigmoid(logits_fake).mean().item())
        done = step + 1
        if done % snapshot_every == 0 or done in (1, steps):
            h["snapshot_step"].append(done)
            h["snapshot"].append(lu.generate(generator, fixed_noise).half())
        if done % eval_every == 0 or done == steps:
            started = time.perf_counter()
            m = lu.evaluate_samples(lu.generate(generator, eval_noise), domain)
            h["eval_step"].append(done)
            h["fd"].append(m["frechet_distance"])
            h["covered"].append(m["classes_covered"])
            h["confidence"].append(m["mean_confidence"])
            h["eval_seconds"].append(time.perf_counter() - started)
    return run


# %% [markdown]
# ## 3.5 Training both GANs
#
# Same data, same batch size, same optimiser, same number of steps, same seed: only the networks differ.

# %%
torch.manual_seed(settings.seed)
mlp_g, mlp_d = MLPGenerator(nz).to(device), MLPDiscriminator().to(device)
mlp_run = train_gan("mlp", mlp_g, mlp_d, steps=n_steps)

# %%
torch.manual_seed(settings.seed)
dcgan_g, dcgan_d = DCGANGenerator(nz).to(device), DCGANDiscriminator().to(device)
dcgan_g.apply(weights_init)
dcgan_d.apply(weights_init)
dcgan_run = train_gan("dcgan", dcgan_g, dcgan_d, steps=n_steps)

# %% [markdown]
# The same 64 noise vectors at four moments of training, for each generator:

# %%
def snapshot_row(run, axes, label):
    """Draw four fixed-noise grids of a run, from its first to its last snapshot."""
    h = run.history
    for ax, i in zip(axes, np.linspace(0, len(h["snapshot_step"]) - 1, len(axes)).round().astype(int)):
        lu.show_images(h["snapshot"][i].float(), ax=ax, title=f"{label}, step {h['snapshot_step'][i]}")


fig, axes = plt.subplots(2, 4, figsize=(13, 6.8))
snapshot_row(mlp_run, axes[0], "MLP GAN")
snapshot_row(dcgan_run, axes[1], "DCGAN")
fig.suptitle("Fixed-noise samples during training")
plt.show()

# %% [markdown]
# The animation plays every snapshot (press play; it runs in the rendered book too):

# %%
fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.5))
panels = [axes[0].imshow(np.zeros((2, 2)), cmap="gray", vmin=0, vmax=1), axes[1].imshow(np.zeros((2, 2)), cmap="gray", vmin=0, vmax=1)]
for ax in axes:
    ax.set_axis_off()


def draw_frame(i):
    for ax, panel, (label, run) in zip(axes, panels, [("MLP GAN", mlp_run), ("DCGAN", dcgan_run)]):
        panel.set_data(lu.image_grid(run.history["snapshot"][i][:36].float(), nrow=6))
        panel.set_extent((0, 1, 0, 1))
        ax.set_title(f"{label}, step {run.history['snapshot_step'][i]}")
    return panels


lu.animate(fig, draw_frame, len(dcgan_run.history["snapshot_step"]), interval_ms=400, max_bytes=500_000)

# %% [markdown]
# ### Reading the training curves
#
# $D(x)$ is the discriminator's mean probability that a real batch is real, $D(G(z))$ the same for a
# generated batch (before its update). At the equilibrium of chapter 1 both are $\tfrac12$ and the losses
# are $\log 4 \approx 1.39$ (discriminator) and $\log 2 \approx 0.69$ (generator).

# %%
fig, axes = plt.subplots(2, 2, figsize=(13, 6.5), sharex=True)
for row, (label, run) in enumerate([("MLP GAN", mlp_run), ("DCGAN", dcgan_run)]):
    lu.plot_losses(run.history, ["loss_d", "loss_g"], title=f"{label}: losses", ax=axes[row, 0], smooth=50)
    lu.plot_losses(run.history, ["d_real", "d_fake"], title=f"{label}: D(x) and D(G(z))", ax=axes[row, 1], smooth=50,
                   ylabel="mean probability 'real'")
    axes[row, 0].axhline(np.log(4), color="grey", linestyle=":", linewidth=1)
    axes[row, 1].axhline(0.5, color="grey", linestyle=":", linewidth=1)
plt.tight_layout()
plt.show()

# %% [markdown]
# Neither pair of curves converges to a value that says "done", and neither says which generator is
# better: the losses measure the *current* discriminator against the *current* generator, a moving
# target. When $D(x)$ stays well above $D(G(z))$ the discriminator still separates the two sets, so
# the generator has not matched the data yet. The measurements during training say more:

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 3.6))
for label, run in [("MLP GAN", mlp_run), ("DCGAN", dcgan_run)]:
    ax1.plot(run.history["eval_step"], run.history["fd"], marker="o", label=label)
    ax2.plot(run.history["eval_step"], run.history["covered"], marker="o", label=label)
ax1.axhline(lu.real_vs_real_distance(dataset, n=n_eval_during), color="black", linestyle=":",
            label=f"real vs real ({n_eval_during} images)")
ax1.set(yscale="log", title="Fréchet distance to the test set", xlabel="training step", ylabel="Fréchet distance")
ax2.set(title="Classes covered (>= 5% of the samples)", xlabel="training step", ylabel="classes", ylim=(0, 10.5))
ax1.legend()
ax2.legend()
plt.show()

# %% [markdown]
# ### The final comparison
#
# Both generators draw `n_final` samples from the same noise; the classifier measures them. The time
# per epoch is the training time without the measurements, scaled to one pass over the 60,000 images.

# %%
final_noise = lu.latent_noise(n_final, nz, seed=3)
final = {}
rows = []
for label, run, generator, discriminator in [("MLP GAN", mlp_run, mlp_g, mlp_d), ("DCGAN", dcgan_run, dcgan_g, dcgan_d)]:
    images = lu.generate(generator, final_noise)
    final[label] = {"images": images, "classes": lu.classify(images, dataset), **lu.evaluate_samples(images, dataset)}
    seconds = run.trained_seconds - sum(run.history["eval_seconds"])
    rows.append({"model": label, "G parameters": f"{n_params(generator):,}", "D parameters": f"{n_params(discriminator):,}",
                 "s / epoch": seconds / run.total_steps * (len(x_train) // batch_size),
                 "Fréchet distance": final[label]["frechet_distance"], "real vs real": floor,
                 "classes covered": final[label]["classes_covered"], "mean confidence": final[label]["mean_confidence"]})
lu.show_table(rows)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 6.2))
for ax, label in zip(axes, final):
    lu.show_images(final[label]["images"][:100], nrow=10, ax=ax,
                   title=f"{label}: FD {final[label]['frechet_distance']:.1f}, {final[label]['classes_covered']} classes")
plt.show()

# %%
for label in final:  # the exported samples: labels are the classes the classifier predicts
    lu.export_samples("mlp_gan" if label == "MLP GAN" else "dcgan", final[label]["images"], final[label]["classes"],
                      domain=dataset)
dcgan_fd, dcgan_covered = final["DCGAN"]["frechet_distance"], final["DCGAN"]["classes_covered"]
print(f"DCGAN: Fréchet distance {dcgan_fd:.1f} = {dcgan_fd / floor:.1f} x the real-vs-real floor ({floor:.2f}); "
      f"MLP GAN: {final['MLP GAN']['frechet_distance'] / floor:.1f} x. DCGAN covers {dcgan_covered} of 10 classes, "
      f"the smallest with {min(final['DCGAN']['class_histogram']):.1%} of the samples.")

# %% [markdown]
# **Where does the remaining distance come from?** Two explanations fit a large distance: a minority of
# malformed digits far from every class, or a difference that almost every sample shares. The classifier
# tells them apart. If malformed digits were the cause, the samples that it reads most confidently would be
# close to the real digits. Below, the distance of the DCGAN's most confident half and third (a diagnosis,
# not a better score: choosing samples with the judge would be cheating), and the **ink share**, the
# fraction of pixels brighter than mid-grey, a simple measure of stroke width. For scale, the same numbers
# for real digits whose strokes we thin with a gamma curve ($p \mapsto p^3$ on the $[0, 1]$ scale), a change
# that keeps every digit perfectly readable.

# %%
with torch.no_grad():
    dcgan_confidence = torch.cat([torch.softmax(classifier(batch), 1).max(1).values
                                  for batch in final["DCGAN"]["images"].split(1000)])
most_confident = dcgan_confidence.argsort(descending=True)
thinned = 2 * ((x_test + 1) / 2) ** 3 - 1
diagnosis = {"real training images": (ruler["real training images"], ruler_metrics["real training images"]),
             "real, strokes thinned (gamma 3)": (thinned, lu.evaluate_samples(thinned, dataset))}
for share in (1.0, 0.5, 0.3):
    images = final["DCGAN"]["images"][most_confident[:int(share * n_final)]]
    diagnosis[f"DCGAN, most confident {share:.0%}"] = (images, lu.evaluate_samples(images, dataset))
lu.show_table([{"images": name, "n": len(images), "Fréchet distance": m["frechet_distance"],
                "mean confidence": m["mean_confidence"], "ink share": (images > 0).float().mean().item()}
               for name, (images, m) in diagnosis.items()])

# %% [markdown]
# The distance did not fall for the most confident half, whose confidence equals that of real digits; the
# most confident third is even farther, probably because confidence is higher for some digits than for
# others, so that the class shares of that third move away from the real ones. So the gap is not a minority
# of malformed digits: samples that the classifier reads as surely as real digits share it. Stroke width is
# not it either: the ink shares are close to the real one, and real digits with visibly thinner strokes
# stay near the floor. The formula of 3.2 splits the distance
# into a **mean term** $\lVert \mu_g - \mu_r \rVert^2$ and a **covariance term**; the spread of the
# features, $\operatorname{tr} \Sigma$, split into the spread *within* each predicted class and the rest,
# says which way the covariances differ.

# %%
def spread(features: torch.Tensor, classes: torch.Tensor) -> tuple[float, float]:
    """(total spread tr(Sigma), mean within-class spread over the predicted classes)."""
    within = [torch.cov(features[classes == c].T).trace().item() for c in range(10) if (classes == c).sum() > 1]
    return torch.cov(features.T).trace().item(), float(np.mean(within))


features_real_test = lu.features(classifier, x_test).double()  # the space of the Fréchet distance
feature_sets, rows = {}, []
for label, images, classes in (("real training images", ruler["real training images"], lu.classify(ruler["real training images"], dataset)),
                               ("DCGAN", final["DCGAN"]["images"], final["DCGAN"]["classes"])):
    feats = feature_sets[label] = lu.features(classifier, images).double()
    total = lu.frechet_distance(feats.float(), features_real_test.float())
    mean_term = (feats.mean(0) - features_real_test.mean(0)).pow(2).sum().item()
    total_spread, within_spread = spread(feats, classes)
    rows.append({"images": label, "Fréchet distance": total, "mean term": mean_term, "covariance term": total - mean_term,
                 "tr(Sigma)": total_spread, "within-class tr(Sigma)": within_spread,
                 "feature norm": feats.norm(dim=1).mean().item()})
fd_terms = {row["images"]: row for row in rows}
lu.show_table(rows)

# %% [markdown]
# **Class shares or class shapes?** The features of a digit set form ten clusters, one per class, so their
# covariance depends on two things: how many samples each class gets (the class shares) and how the samples
# of each class vary (the class shapes). Two controlled sets separate them: *real* training digits drawn
# with the DCGAN's class shares (real shapes, the DCGAN's shares), and the DCGAN's samples cut to equal class
# shares (the DCGAN's shapes, even shares), beside real digits with the same equal shares and size.

# %%
picker = torch.Generator().manual_seed(6)
train_by_class = [torch.nonzero(y_train.cpu() == c).view(-1) for c in range(10)]
train_by_class = [idx[torch.randperm(len(idx), generator=picker)] for idx in train_by_class]  # shuffled once


def shares_and_shapes(images: torch.Tensor, classes: torch.Tensor) -> tuple[dict, list]:
    """Distances of real digits with the images' class shares, and of images and real digits at equal shares."""
    counts = torch.bincount(classes, minlength=10)
    present = [c for c in range(10) if counts[c] >= 2]  # classes drawn at all (all 10 in the full run)
    equal_n = int(counts[present].min())  # samples per class of the equal-shares sets
    sets = {"real, the generator's class shares": x_train[torch.cat([train_by_class[c][:int(counts[c])] for c in range(10)])],
            "real, equal shares": x_train[torch.cat([train_by_class[c][:equal_n] for c in present])],
            "generated, equal shares": images[torch.cat([torch.nonzero(classes == c).view(-1)[:equal_n] for c in present])]}
    distances = {name: (len(x), lu.frechet_distance(lu.features(classifier, x.cpu()), features_real_test.float()))
                 for name, x in sets.items()}
    return distances, present


dcgan_classes = final["DCGAN"]["classes"]  # the classes the classifier predicts
share_fd, present = shares_and_shapes(final["DCGAN"]["images"], dcgan_classes)
display(lu.show_table([{"images": name, "n": n, "Fréchet distance": fd, "x floor": fd / floor}
                       for name, (n, fd) in share_fd.items()]))
shares_only, real_equal_fd, shapes_only = (fd for _, fd in share_fd.values())
print(f"the DCGAN's class shares alone: {shares_only / floor:.1f} x the floor; its shapes at equal shares: "
      f"{shapes_only / floor:.1f} x (real digits at the same equal shares: {real_equal_fd / floor:.1f} x)")

# %% [markdown]
# And class by class: the distance between the DCGAN's samples of one digit (as the classifier reads them)
# and the real test digits of that class, beside the same distance for as many real training digits of the
# class, so that both bars carry the same finite-sample bias.

# %%
per_class = {"DCGAN": [], "real training digits": []}
for c in present:
    real_c = features_real_test[y_test == c].float()
    per_class["DCGAN"].append(lu.frechet_distance(feature_sets["DCGAN"][dcgan_classes == c].float(), real_c))
    train_c = lu.features(classifier, x_train[train_by_class[c][:int((dcgan_classes == c).sum())]].cpu())
    per_class["real training digits"].append(lu.frechet_distance(train_c, real_c))
fig, ax = plt.subplots(figsize=(8, 3.4))
for offset, (label, values) in zip((-0.2, 0.2), per_class.items()):
    ax.bar(np.array(present) + offset, values, width=0.4, label=label)
ax.set(yscale="log", xticks=present, xticklabels=[class_names[c] for c in present], xlabel="class (predicted for the DCGAN)",
       ylabel="Fréchet distance (log scale)", title="Distance to the real test digits of the same class")
ax.set_ylim(top=5 * max(per_class["DCGAN"]))
ax.legend(ncol=2, loc="upper left")
plt.show()
worst_class = present[int(np.argmax(per_class["DCGAN"]))]
print(f"per-class distance of the DCGAN: {min(per_class['DCGAN']):.0f} to {max(per_class['DCGAN']):.0f} "
      f"(worst: {class_names[worst_class]}); of real training digits: {min(per_class['real training digits']):.1f} "
      f"to {max(per_class['real training digits']):.1f}")

# %% [markdown]
# The DCGAN's best and worst class beside real test digits of the same class:

# %%
best_class = present[int(np.argmin(per_class["DCGAN"]))]
fig, axes = plt.subplots(2, 2, figsize=(11, 2.6))
for row, c in enumerate((best_class, worst_class)):
    fd_c = per_class["DCGAN"][present.index(c)]
    lu.show_images(final["DCGAN"]["images"][dcgan_classes == c][:24], nrow=12, ax=axes[row, 0],
                   title=f"DCGAN samples read as {class_names[c]} (class FD {fd_c:.0f})")
    lu.show_images(x_test[y_test == c][:24], nrow=12, ax=axes[row, 1], title=f"real test digits: {class_names[c]}")
plt.show()

# %% [markdown]
# **Reading the diagnosis.** Most of the distance is the covariance term. The generated features spread
# less in total than the real ones, but more *within* each predicted class, and they are weaker (a smaller
# mean norm): the ten generated classes are wider clusters whose centres lie closer together. The two
# controlled sets say where that comes from.
#
# * **Class shares** matter more than one would guess: real digits, drawn with the DCGAN's shares, are
#   already about ten times the floor away. The clusters of different classes lie far apart in feature
#   space, so moving a few percent of the samples from one class to another changes the mean and the
#   covariance of the whole set. An unconditional generator decides the shares only through the way it
#   divides the noise space between the classes, and nothing in its loss asks for exact shares.
# * **Class shapes** cost most of the rest: cut to equal shares, the DCGAN's samples stay dozens of times
#   the floor away, while real digits with the same shares and size stay near it. Every class contributes,
#   the worst several times more than the best; the grids show that the classifier names these samples
#   confidently although many are deformed versions of their digit (bent strokes, open loops, blobs).
#
# A generator must therefore get both right to come near the floor: the share of each class *and* the
# shape of each. This is what two epochs of a small unconditional DCGAN leave to learn. Section 3.10 tries
# deeper networks trained longer; chapter 4 gives the same networks the class: the shares are then chosen by
# us, and each class gets its own generator input, and the chapter measures how much closer that brings them.
#
# **What the convolutions buy.** With fewer generator parameters and the same number of steps, the DCGAN
# is closer to the real digits by the Fréchet distance, covers more classes and its samples are
# recognised with more confidence (the table above, measured in this run). The price is computation: every
# parameter of a convolution is used at every position, so an epoch costs several times more than for the
# MLP. The grids show why the numbers differ: the MLP's digits are speckled, with isolated bright pixels
# around the strokes, because nothing ties a pixel to its neighbours; the DCGAN's strokes are
# continuous from the first snapshots on. The remaining distance to the floor is large, dozens of times
# the floor, and the diagnosis above places it: not in a few malformed digits but in the class shares and,
# above all, in the shape of every class. Two epochs of CPU training are far from the 25 epochs of the paper,
# and our networks are shallower than the paper's; section 3.10 measures what depth and longer training buy.
#
# ## 3.6 A hyperparameter study
#
# Each run changes one setting of the DCGAN and trains `study_steps` steps from the same seed. The
# baseline is the main DCGAN run measured at the same step with the same samples (its first
# `study_steps` steps are exactly what a separate baseline run would do).

# %%
assert study_steps % eval_every == 0 and study_steps <= n_steps, "the baseline is measured at study_steps"
study_runs, study_models = {}, {}
for label, change in study.items():
    torch.manual_seed(settings.seed)
    g, d = DCGANGenerator(change.get("nz", nz)).to(device), DCGANDiscriminator().to(device)
    g.apply(weights_init)
    d.apply(weights_init)
    run_name = "study " + label.replace(" = ", " ")
    study_runs[label] = train_gan(run_name, g, d, steps=study_steps,
                                  **{k: v for k, v in change.items() if k in ("lr", "betas")})
    study_models[label] = g

# %%
def at_step(run, key, step):
    """The value recorded under `key` at a measurement step."""
    return run.history[key][run.history["eval_step"].index(step)]


baseline_label = f"baseline (lr {lr:g}, beta1 {betas[0]}, nz {nz})"
study_table = {baseline_label: {k: at_step(dcgan_run, k, study_steps) for k in ("fd", "covered", "confidence")}}
for label, run in study_runs.items():
    study_table[label] = {k: at_step(run, k, study_steps) for k in ("fd", "covered", "confidence")}
lu.show_table([{"run": label, f"Fréchet distance at step {study_steps}": r["fd"], "classes covered": r["covered"],
                "mean confidence": r["confidence"]} for label, r in study_table.items()])

# %%
baseline_snapshot = dcgan_run.history["snapshot"][dcgan_run.history["snapshot_step"].index(study_steps)]
fig, axes = plt.subplots(1, 5, figsize=(16, 3.7))
for ax, (label, images) in zip(axes, [(baseline_label.split(" (")[0], baseline_snapshot)]
                               + [(k, r.history["snapshot"][-1]) for k, r in study_runs.items()]):
    key = baseline_label if label == "baseline" else label
    lu.show_images(images[:36].float(), nrow=6, ax=ax, title=f"{label}\nFD {study_table[key]['fd']:.0f}")
fig.suptitle(f"The same fixed noise after {study_steps} steps")
plt.show()

# %% [markdown]
# **What the study says** (about the first 300 steps; the numbers are in the table above):
# * **Learning rate.** With the paper's $2 \cdot 10^{-4}$ the generator is still drawing one kind of blob
#   after 300 steps, while $10^{-3}$ already draws several digits: over a short budget the larger step
#   wins, which is why this chapter uses it. Radford et al. chose the smaller one for stability over
#   25 epochs; with our narrow networks $10^{-3}$ stayed stable for the 2,000 steps of 3.5 (the curves
#   above), but nothing guarantees it for much longer runs.
# * **Momentum $\beta_1$.** With Adam's default $\beta_1 = 0.9$ the run collapses onto essentially one
#   digit (section 3.7 shows its histogram). Momentum keeps pushing the generator in the direction that
#   fooled an *earlier* discriminator; in a game whose target moves at every step, that overshoots, which
#   is the reason the DCGAN paper lowered $\beta_1$ to 0.5.
# * **Latent size.** $nz = 10$ learns faster at the start than $nz = 100$, and $nz = 1000$ slower, with
#   many more parameters in the first layer (see the training times in the run record). Ten dimensions
#   can be enough to describe MNIST's digits and styles; whether they limit the variety of the samples
#   in a long run is exercise material, because 300 steps measure the speed of early learning, not the
#   final quality.
#
# ## 3.7 Mode collapse in a class histogram
#
# A generator that collapses draws some digits far more often than others, or never. In two dimensions
# (chapter 2) we saw it on a scatter plot; in 784 dimensions the classifier shows it: the histogram of
# predicted classes should be flat at 10%, like the real test set's.

# %%
histograms = {"real test set": (torch.bincount(y_test, minlength=10).float() / len(y_test)).tolist()}
histograms.update({label: final[label]["class_histogram"] for label in final})
worst_study = min(study_runs, key=lambda k: (at_step(study_runs[k], "covered", study_steps), -at_step(study_runs[k], "fd", study_steps)))
worst_images = lu.generate(study_models[worst_study], lu.latent_noise(n_final, study_models[worst_study].nz, seed=3))
worst = lu.evaluate_samples(worst_images, dataset)
histograms[f"study: {worst_study}"] = worst["class_histogram"]
lu.plot_class_histograms(histograms, class_names, title="Which digits do the generators draw?")
plt.show()
for label, shares in histograms.items():
    print(f"{label:22s} covers {sum(s >= 0.05 for s in shares):2d} classes; largest share {max(shares):.1%}, "
          f"smallest {min(shares):.1%}")

# %% [markdown]
# The DCGAN's histogram is the flattest: every digit gets a share, though not the fair 10% (some
# digits are easier to draw convincingly than others). The MLP GAN under-produces some digits, and the
# study's $\beta_1 = 0.9$ run is the textbook case of mode collapse: nearly all of its samples are one
# digit, whatever the noise. The number of covered classes printed above summarises each histogram.
#
# The histogram has a blind spot: a generator that draws ten perfect but *identical* 7s per class
# would look perfect in it. That form of collapse, within a class, shows in the Fréchet distance (the
# spread $\Sigma_g$ of the features would be too small) and in the samples themselves.
#
# ## 3.8 The latent space
#
# The generator is a continuous map from $\mathbb{R}^{nz}$ to images. Walking along a line between two
# noise vectors $z_0$ and $z_1$ shows what lies between two samples. In high dimension, however, almost
# every Gaussian vector has a norm close to $\sqrt{nz}$, and the midpoint $\frac12(z_0 + z_1)$ has a
# norm close to $\sqrt{nz/2}$: it is an atypical input the generator never saw in training. Spherical
# interpolation (slerp) keeps the norm: with $\cos\omega = \frac{z_0 \cdot z_1}{\lVert z_0 \rVert \lVert z_1 \rVert}$,
#
# $$ \operatorname{slerp}(z_0, z_1; t) = \frac{\sin((1 - t)\,\omega)}{\sin \omega}\, z_0 + \frac{\sin(t\,\omega)}{\sin \omega}\, z_1. $$
#
# (Exercise 3 asks you to write it.) Each row below goes from one random sample to another:

# %%
def slerp_path(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between two latent vectors at the times t: (T, nz)."""
    omega = torch.arccos(torch.clamp(F.cosine_similarity(z0, z1, dim=0), -1, 1))
    return (torch.sin((1 - t) * omega)[:, None] * z0 + torch.sin(t * omega)[:, None] * z1) / torch.sin(omega)


pairs = lu.latent_noise(12, nz, seed=4).view(6, 2, nz)
t = torch.linspace(0, 1, 10)
path = torch.cat([slerp_path(z0, z1, t) for z0, z1 in pairs])
images = lu.generate(dcgan_g, path)
predicted = lu.classify(images, dataset).view(6, 10)
lu.show_images(images, nrow=10, size=7, title="DCGAN: slerp between two noise vectors (one pair per row)")
plt.show()
print("classifier's reading of each row:\n" + "\n".join(" ".join(class_names[c] for c in row) for row in predicted.tolist()))

# %% [markdown]
# The digits change smoothly: strokes thicken, bend and reconnect, and the classifier's reading switches
# from one class to the other somewhere along each row, sometimes through a third digit. The generator
# has not memorised isolated training images; it has learned a continuous family of digit-like shapes.
#
# An interactive explorer: pick two noise seeds and a position between them. Without a live kernel (the
# rendered book, the tests) the figure for the default values is shown below the controls.

# %%
def explore(seed_a=10, seed_b=11, t=0.5, steps=9):
    """Draw slerp(z_a, z_b; t) between two seeded noise vectors, with the classifier's reading."""
    z0, z1 = lu.latent_noise(1, nz, seed=seed_a)[0], lu.latent_noise(1, nz, seed=seed_b)[0]
    times = torch.cat([torch.linspace(0, 1, steps), torch.tensor([t])])
    images = lu.generate(dcgan_g, slerp_path(z0, z1, times))
    probabilities = torch.softmax(classifier(images), dim=1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 2.6), gridspec_kw={"width_ratios": [4, 1]})
    lu.show_images(images[:-1], nrow=steps, ax=axes[0], title=f"seed {seed_a} -> seed {seed_b}")
    lu.show_images(images[-1:], nrow=1, ax=axes[1], title=f"t = {t:.2f}: '{class_names[probabilities[-1].argmax()]}' "
                   f"({probabilities[-1].max():.0%})")
    plt.show()


seed_a = widgets.IntSlider(value=10, min=0, max=999, description="seed A")
seed_b = widgets.IntSlider(value=11, min=0, max=999, description="seed B")
position = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t")
panel = widgets.interactive_output(lambda a, b, t: explore(a, b, t), {"a": seed_a, "b": seed_b, "t": position})
display(widgets.VBox([widgets.HBox([seed_a, seed_b, position]), panel]))
explore()

# %% [markdown]
# ## 3.9 Fashion-MNIST: one setting changes
#
# Fashion-MNIST (Xiao et al., 2017, *Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
# Learning Algorithms*) has the same format as MNIST, 10 classes of $28 \times 28$ grey clothing images,
# so setting `dataset = "fashion"` at the top runs this whole chapter on it: the data, the classifier
# that measures the samples (trained on Fashion-MNIST) and the real-vs-real floor change, the models and
# the training loop do not. Here we train the DCGAN on it once, with the same code and settings.

# %%
x_other, y_other = lu.load_dataset(other_dataset, train=True, device=device)
torch.manual_seed(settings.seed)
other_g, other_d = DCGANGenerator(nz).to(device), DCGANDiscriminator().to(device)
other_g.apply(weights_init)
other_d.apply(weights_init)
other_run = train_gan(f"dcgan {other_dataset}", other_g, other_d, steps=other_steps, data=x_other, domain=other_dataset)
other_images = lu.generate(other_g, final_noise)
other = lu.evaluate_samples(other_images, other_dataset)
other_floor = lu.real_vs_real_distance(other_dataset, n=n_final)
lu.export_samples(f"dcgan_{other_dataset}", other_images, lu.classify(other_images, other_dataset), domain=other_dataset)

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1, 1.6]})
lu.show_images(other_images[:64], ax=axes[0], title=f"DCGAN on {other_dataset}, {other_steps} steps")
other_test_labels = lu.load_dataset(other_dataset, train=False)[1]
lu.plot_class_histograms({"real test set": (torch.bincount(other_test_labels, minlength=10) / len(other_test_labels)).tolist(),
                          "DCGAN": other["class_histogram"]},
                         lu.CLASS_NAMES[other_dataset], ax=axes[1], title="Predicted classes")
plt.tight_layout()
plt.show()
print(f"{other_dataset}: Fréchet distance {other['frechet_distance']:.1f} (real vs real {other_floor:.2f}), "
      f"{other['classes_covered']} classes covered, mean confidence {other['mean_confidence']:.3f}")
rare = [name for name, share in zip(lu.CLASS_NAMES[other_dataset], other["class_histogram"]) if share < 0.05]
print("classes with fewer than 5% of the samples:", ", ".join(rare) or "none")

# %% [markdown]
# What changed: only the data, and with it the judge. The Fashion-MNIST classifier is less sure of itself
# (its test accuracy is about 90%, against 99% for digits: shirts, T-shirts, pullovers and coats look
# alike at $28 \times 28$), so the mean confidence is lower, for generated and real images alike. The
# real-vs-real floor is smaller than MNIST's, because this classifier's features are less spread;
# distances are comparable only within one dataset. After these few hundred steps the samples are rough
# silhouettes of garments (tops, trousers, dresses); textures and fine structures such as sandal straps
# are still missing. The classes that get fewer than 5% of the samples are printed above.
#
# ## 3.10 Closing the gap: a deeper DCGAN
#
# The diagnosis of 3.5 found the gap in the shapes of every class and in the class shares; the study of 3.6
# changed the optimiser and the latent size, not the networks. Ours are shallow: they change the resolution
# at every layer ($1 \to 7 \to 14 \to 28$ and back), so every layer must both resize and draw. The paper's
# networks have four layers for $64 \times 64$ images, and DCGANs for MNIST often add a layer that keeps the
# resolution. We add `extra_layers` = 2 such layers at each place: $3 \times 3$ convolutions with stride 1
# and padding 1 (the size stays, $n \mapsto n + 2 - 3 + 1$), with batch normalisation and ReLU, after each of
# the generator's first two layers, and the same with LeakyReLU in the discriminator at $14 \times 14$. The
# widths stay those of the DCGAN. Nothing else changes: same loss, same optimiser, same batch size, same
# seed.

# %%
# NBVAL_CHECK_OUTPUT
def same_size_layers(channels: int, make_activation, n: int = extra_layers) -> list[nn.Module]:
    """n blocks of a 3x3 convolution with stride 1 and padding 1 (the size stays), batch norm and an activation."""
    return [layer for _ in range(n) for layer in
            (nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), make_activation())]


class DeeperDCGANGenerator(DCGANGenerator):
    """The DCGAN generator with same-size 3x3 convolutions after its 7x7 and its 14x14 layers."""

    def __init__(self, nz: int, ngf: int = ngf):
        super().__init__(nz, ngf)
        to_7, to_14, to_28 = self.net[:3], self.net[3:6], self.net[6:]  # the DCGAN's three layers (with BN, ReLU)
        self.net = nn.Sequential(*to_7, *same_size_layers(4 * ngf, nn.ReLU),  # new: 7x7 -> 7x7
                                 *to_14, *same_size_layers(2 * ngf, nn.ReLU),  # new: 14x14 -> 14x14
                                 *to_28)


class DeeperDCGANDiscriminator(DCGANDiscriminator):
    """The DCGAN discriminator with same-size 3x3 convolutions after its first (14x14) layer."""

    def __init__(self, ndf: int = ndf):
        super().__init__(ndf)
        to_14, rest = self.net[:2], self.net[2:]  # the DCGAN's first layer (with LeakyReLU), then the others
        self.net = nn.Sequential(*to_14, *same_size_layers(ndf, lambda: nn.LeakyReLU(leak)),  # new: 14x14 -> 14x14
                                 *rest)


print(f"deeper DCGAN: generator {n_params(DeeperDCGANGenerator(nz)):,} parameters, discriminator "
      f"{n_params(DeeperDCGANDiscriminator()):,} (DCGAN: {n_params(DCGANGenerator(nz)):,} and {n_params(DCGANDiscriminator()):,})")
print("output:", tuple(DeeperDCGANGenerator(nz)(torch.zeros(2, nz)).shape), "->",
      tuple(DeeperDCGANDiscriminator()(torch.zeros(2, 1, 28, 28)).shape))

# %% [markdown]
# We train it for `deeper_steps` steps, twice the DCGAN's 2,000. For the first 2,000 the learning rate is the
# DCGAN's, so the two curves below compare the networks alone up to that point; over the second half both
# rates then decay linearly to zero, as in chapters 4 and 6, so that the players settle instead of
# oscillating around the end point.

# %%
torch.manual_seed(settings.seed)
deeper_g, deeper_d = DeeperDCGANGenerator(nz).to(device), DeeperDCGANDiscriminator().to(device)
deeper_g.apply(weights_init)
deeper_d.apply(weights_init)
deeper_run = train_gan("dcgan deeper", deeper_g, deeper_d, steps=deeper_steps, decay=True)

# %%
fig, ax = plt.subplots(figsize=(7.5, 3.6))
for label, run in (("DCGAN", dcgan_run), ("deeper DCGAN", deeper_run)):
    ax.plot(run.history["eval_step"], run.history["fd"], marker=".", label=label)
ax.axvline(n_steps, color="grey", ls=":", label="the deeper run's rates start to decay")
ax.set(yscale="log", xlabel="training step", ylabel=f"Fréchet distance ({n_eval_during} samples)",
       title="Distance to the real test digits during training")
ax.set_yticks([10, 20, 50, 100, 200, 500], labels=["10", "20", "50", "100", "200", "500"])
ax.yaxis.set_minor_formatter(plt.NullFormatter())
ax.legend()
plt.show()

# %%
deeper_images = lu.generate(deeper_g, final_noise)
final["deeper DCGAN"] = {"images": deeper_images, "classes": lu.classify(deeper_images, dataset),
                         **lu.evaluate_samples(deeper_images, dataset)}
deeper_shares, _ = shares_and_shapes(deeper_images, final["deeper DCGAN"]["classes"])
rows = []
for label, run, generator in (("DCGAN", dcgan_run, dcgan_g), ("deeper DCGAN", deeper_run, deeper_g)):
    m = final[label]
    splits = share_fd if label == "DCGAN" else deeper_shares
    rows.append({"model": label, "steps": run.total_steps, "G parameters": f"{n_params(generator):,}",
                 "s / epoch": (run.trained_seconds - sum(run.history["eval_seconds"])) / run.total_steps * (len(x_train) // batch_size),
                 "Fréchet distance": m["frechet_distance"], "x floor": m["frechet_distance"] / floor,
                 "shares alone": splits["real, the generator's class shares"][1], "at equal shares": splits["generated, equal shares"][1],
                 "smallest class": min(m["class_histogram"]), "mean confidence": m["mean_confidence"]})
lu.export_samples("dcgan_deeper", deeper_images, final["deeper DCGAN"]["classes"], domain=dataset)
lu.show_table(rows)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 6.2))
for ax, label in zip(axes, ("DCGAN", "deeper DCGAN")):
    lu.show_images(final[label]["images"][:100], nrow=10, ax=ax,
                   title=f"{label}: FD {final[label]['frechet_distance']:.1f}, {final[label]['classes_covered']} classes")
plt.show()
deeper_fd = final["deeper DCGAN"]["frechet_distance"]
print(f"deeper DCGAN: Fréchet distance {deeper_fd:.1f} = {deeper_fd / floor:.1f} x the floor (DCGAN: {dcgan_fd / floor:.1f} x); "
      f"{final['deeper DCGAN']['classes_covered']} classes covered, the smallest with "
      f"{min(final['deeper DCGAN']['class_histogram']):.1%}; trained in {deeper_run.trained_seconds:.0f} s")

# %% [markdown]
# **Reading the comparison.** Up to step 2,000, where both runs have had the same learning rate, the curves
# part after about a thousand steps, and at the last common measurement the deeper DCGAN is at less than half
# the DCGAN's distance: that part of the gain is depth alone. The second half, with the rates decaying, more
# than halves it again. At the end the deeper DCGAN is within a single-digit multiple of the real-vs-real
# floor, with every class covered, where the DCGAN stayed dozens of times away (the printed line above). Both
# causes found in 3.5 shrank: real digits drawn with its class shares are now only about twice the floor
# away, so the shares are nearly right, and its samples at equal shares are several times closer than the
# DCGAN's. The
# grids show the same: closed loops, straight strokes, far fewer blobs. The price is in the table: about two
# and a half times the time per epoch, for twice the steps.
#
# Why depth, and in both players? The DCGAN's discriminator gives its verdict as a linear function of
# features only two layers deep, which can hardly represent combinations such as "a loop that does not quite
# close", the kind of detail that separates a deformed digit from a real one. The generator learns only
# through the discriminator's gradients, so it cannot correct what the discriminator cannot see; and to draw
# what it is asked for, it needs layers that shape strokes at a fixed resolution rather than resizing at every
# step. Exercise 6 puts this argument to the test. What remains, several times the floor, is of the same kind:
# the shapes within each class. Longer training and wider layers are the next steps on a bigger machine;
# chapter 4 gives the networks the class instead.

# %% [markdown]
# ## 3.11 Questions
#
# **Q1.** Why do both generators end with $\tanh$, and what would go wrong with a sigmoid, or with no
# output activation, given how `lu.load_dataset` scales the images?

# %% [markdown] tags=["solution"]
# **Answer.** The real images lie in $[-1, 1]$, and $\tanh$ maps onto exactly that interval. A sigmoid
# maps onto $[0, 1]$: the generator could never produce the value $-1$ of the background, and the
# discriminator would separate real from generated images by the background alone. Without an output
# activation the generator can produce values outside $[-1, 1]$, which the discriminator also detects
# trivially; it would have to learn the range instead of the digits.

# %% [markdown]
# **Q2.** The DCGAN discriminator has no batch normalisation in its first layer, and the generator none
# in its last. Why?

# %% [markdown] tags=["solution"]
# **Answer.** Radford et al. (2016) report that batch normalisation in every layer made samples
# oscillate and training unstable. In the generator's output layer it would force every image of a batch
# to the same mean and variance of pixel values, while real images differ in how much ink they have; in
# the discriminator's input layer it would normalise away the very statistics of the pixels that separate
# real from generated images.

# %% [markdown]
# **Q3.** Batch normalisation computes statistics over a batch. In the discriminator step, real and
# generated images go through $D$ in two separate batches. What could $D$ learn if they were
# concatenated into one batch, and what happens to the generator at test time, in `eval` mode?

# %% [markdown] tags=["solution"]
# **Answer.** With batch normalisation, the discriminator's output for one image depends on the
# statistics of the batch it came in. In single-kind batches those statistics are either all real or all
# generated, so every real image is judged in the same kind of company, and the discriminator's verdict
# on a generated batch depends on the batch as a whole, a little like the minibatch features of
# chapter 2. In a mixed batch the normalisation of a real image would depend on how many generated
# images share its batch and what they look like: a signal that changes with the mixing proportion
# and has nothing to do with the image itself. At test time the *generator* uses the running averages
# of the batch statistics collected during training: `lu.generate` switches it to `eval` mode, so that
# a sample does not depend on the other samples drawn with it.

# %% [markdown]
# **Q4.** The Fréchet distance of the DCGAN is far above the real-vs-real floor, yet its samples look
# like digits. Is the distance wrong?

# %% [markdown] tags=["solution"]
# **Answer.** No: it measures something stricter than "looks like a digit". The ruler in 3.2 shows that
# faint noise or a slight blur, which a person hardly notices, already moves the distance far above the
# floor, because the classifier's features react to stroke width, texture and pixel noise. The distance
# is useful to *compare* generators measured with the same classifier and the same number of samples,
# and it moves the right way over training; its absolute value has no meaning across feature
# extractors, which is why every number in this book is printed beside its floor.

# %% [markdown]
# **Q5.** With $nz = 1000$, is the generator more expressive than with $nz = 100$? What does the
# study say?

# %% [markdown] tags=["solution"]
# **Answer.** The set of images a generator can produce is the image of a 7x7 transposed convolution
# whose input has $nz$ channels; more latent dimensions add parameters to the first layer, but the data
# lie near a manifold of much lower dimension than 100, so the extra directions are mostly redundant,
# and every one of them is noise that the generator must learn to ignore or use. A latent size that is
# too small (10) on the other hand can limit the variety of the samples. The measured table in 3.6 gives
# the numbers of this run; differences after a short run can also reflect speed of training rather than
# final quality.

# %% [markdown]
# ## 3.12 Exercises
#
# **Exercise 1.** Write a different DCGAN generator: start with a fully connected layer from $z$ to
# $64 \times 7 \times 7$ values (then batch norm and ReLU), reshape them into 64 feature maps of
# $7 \times 7$, and upsample to $28 \times 28$ with two transposed convolutions. `make_generator(nz)`
# returns the module; the checker feeds it noise of shape `(N, nz)`.

# %%
def make_generator(nz: int) -> nn.Module:
    """A generator z (N, nz) -> (N, 1, 28, 28) that starts with a linear layer to 64 x 7 x 7."""
    ### BEGIN SOLUTION
    return nn.Sequential(
        nn.Linear(nz, 64 * 7 * 7, bias=False), nn.BatchNorm1d(64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, 2, 1, bias=False), nn.Tanh())
    ### END SOLUTION


exercise_1 = lu.check_image_generator(make_generator)

# %% [markdown]
# **Exercise 2.** Write the DCGAN initialisation as a function for `model.apply`: weights of
# convolutions and transposed convolutions from $\mathcal{N}(0, 0.02)$, batch-norm scales from
# $\mathcal{N}(1, 0.02)$ and batch-norm shifts set to 0, for `BatchNorm1d` and `BatchNorm2d`.

# %%
def dcgan_init(m: nn.Module) -> None:
    """Initialise one module in place, DCGAN style."""
    ### BEGIN SOLUTION
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
    ### END SOLUTION


exercise_2 = lu.check_weights_init(dcgan_init)

# %% [markdown]
# **Exercise 3.** Write spherical interpolation: given $z_0, z_1$ of shape `(nz,)` and times `t` of
# shape `(T,)`, return the `(T, nz)` points $\operatorname{slerp}(z_0, z_1; t)$ of section 3.8.

# %%
def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Points on the great circle from z0 to z1 (norms interpolated), one row per time in t."""
    ### BEGIN SOLUTION
    omega = torch.arccos(torch.clamp((z0 / z0.norm()) @ (z1 / z1.norm()), -1.0, 1.0))
    return (torch.sin((1 - t) * omega)[:, None] * z0 + torch.sin(t * omega)[:, None] * z1) / torch.sin(omega)
    ### END SOLUTION


exercise_3 = lu.check_slerp(slerp)

# %% [markdown]
# **Exercise 4 (open).** Train the DCGAN with your generator of exercise 1 (it has more parameters in
# its first layer) and compare its Fréchet distance and speed with `DCGANGenerator` at the same number of
# steps. **Exercise 5 (open).** Label smoothing (Salimans et al., 2016): use 0.9 instead of 1 as the
# discriminator's target for real images. Predict, then measure, the effect on $D(x)$ and on the
# Fréchet distance. **Exercise 6 (open).** Which player needs the extra depth of 3.10? Train the deeper
# generator against the DCGAN's discriminator, and the DCGAN's generator against the deeper discriminator,
# with the settings of 3.10, and place both distances beside those of the table in 3.10. Explain the result
# with the game of chapter 1: what can a generator learn from a discriminator that cannot tell its mistakes
# apart, and what can a discriminator teach a generator that cannot draw what it is told?
#
# ## Summary
#
# * Images are measured with a classifier trained on real data: class coverage, confidence, and a
#   Fréchet distance on its features, always read against the real-vs-real floor and a ruler of
#   spoiled real images.
# * The DCGAN's convolutions (weight sharing, locality, batch norm, the paper's Adam settings) give
#   better digits than an MLP with more parameters, at a higher cost per step.
# * GAN losses and $D(x)$, $D(G(z))$ diagnose training (a discriminator that wins, oscillations) but do
#   not rank generators; the measurements do.
# * The class histogram reveals mode collapse between classes, not within a class; the latent space is
#   smooth, and slerp walks it along typical vectors.
# * The distance splits into the class shares and the shapes of each class; depth (a layer that keeps the
#   resolution, in both players) and longer training close much of the gap the DCGAN leaves.

# %%
metrics = {
    "real_vs_real_fd": floor,
    **{f"ruler_fd_{k}": r["frechet_distance"] for k, r in zip(("real", "noise", "blur", "one_class"), ruler_metrics.values())},
    "mlp_fd": final["MLP GAN"]["frechet_distance"],
    "mlp_classes_covered": final["MLP GAN"]["classes_covered"],
    "mlp_mean_confidence": final["MLP GAN"]["mean_confidence"],
    "dcgan_fd": dcgan_fd,
    "dcgan_fd_over_floor": dcgan_fd / floor,
    "dcgan_classes_covered": dcgan_covered,
    "dcgan_min_class_share": min(final["DCGAN"]["class_histogram"]),
    "dcgan_mean_confidence": final["DCGAN"]["mean_confidence"],
    "dcgan_fd_most_confident_30": diagnosis["DCGAN, most confident 30%"][1]["frechet_distance"],
    "dcgan_ink_share": (final["DCGAN"]["images"] > 0).float().mean().item(),
    "real_ink_share": (ruler["real training images"] > 0).float().mean().item(),
    "thinned_real_fd": diagnosis["real, strokes thinned (gamma 3)"][1]["frechet_distance"],
    "real_fd_dcgan_class_shares": shares_only,
    "dcgan_fd_equal_shares": shapes_only,
    "dcgan_class_fd_best": min(per_class["DCGAN"]),
    "dcgan_class_fd_worst": max(per_class["DCGAN"]),
    "mlp_train_seconds": mlp_run.trained_seconds,
    "dcgan_train_seconds": dcgan_run.trained_seconds,
    "deeper_fd": deeper_fd,
    "deeper_fd_over_floor": deeper_fd / floor,
    "deeper_classes_covered": final["deeper DCGAN"]["classes_covered"],
    "deeper_min_class_share": min(final["deeper DCGAN"]["class_histogram"]),
    "deeper_mean_confidence": final["deeper DCGAN"]["mean_confidence"],
    "deeper_real_fd_class_shares": deeper_shares["real, the generator's class shares"][1],
    "deeper_fd_equal_shares": deeper_shares["generated, equal shares"][1],
    "deeper_train_seconds": deeper_run.trained_seconds,
    **{"study_fd_" + label.replace(" = ", "_").replace(".", "_"): r["fd"] for label, r in study_table.items() if label in study},
    f"{other_dataset}_fd": other["frechet_distance"],
    f"{other_dataset}_real_vs_real_fd": other_floor,
    f"{other_dataset}_classes_covered": other["classes_covered"],
    "exercises_passed": int(exercise_1) + int(exercise_2) + int(exercise_3),
}

# %% [markdown]
# ## Results summary
#
# This run's numbers beside their full-profile ranges (kept in `labutils/expected.toml`), every claim
# the prose makes about them, and the exercises' checkers, in one table (the grading report reads it
# too); then the metrics are saved and the run is recorded.

# %%
summary = lu.finish(metrics, exercises={
    "Exercise 1: image generator": exercise_1,
    "Exercise 2: weight initialisation": exercise_2,
    "Exercise 3: spherical interpolation": exercise_3,
})
