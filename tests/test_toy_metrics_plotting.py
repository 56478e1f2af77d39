"""Toy distributions, mode statistics, 1D distances, and the plotting helpers (Agg backend)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from IPython.display import HTML
from matplotlib.figure import Figure

import labutils as lu


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- samplers -----------------------------------------------------------------------------------------------------


def test_sample_gaussian_1d_shape_and_moments():
    x = lu.sample_gaussian_1d(20000, mean=4.0, std=0.5, generator=gen())
    assert x.shape == (20000, 1) and x.dtype == torch.float32
    assert x.mean().item() == pytest.approx(4.0, abs=0.02)
    assert x.std().item() == pytest.approx(0.5, abs=0.01)
    assert torch.equal(x, lu.sample_gaussian_1d(20000, mean=4.0, std=0.5, generator=gen()))


def test_sample_mixture_1d_shape_and_moments():
    x = lu.sample_mixture_1d(20000, means=(-2.0, 2.0), std=0.3, generator=gen(1))
    assert x.shape == (20000, 1)
    assert x.mean().item() == pytest.approx(0.0, abs=0.05)
    assert x.var().item() == pytest.approx(
        4 + 0.09, abs=0.1
    )  # variance of the mixture: mean^2 + std^2
    assert (x > 0).float().mean().item() == pytest.approx(0.5, abs=0.02)
    near = ((x + 2).abs() < 1.2) | ((x - 2).abs() < 1.2)
    assert near.all()  # every sample within 4 std of a component
    three = lu.sample_mixture_1d(30000, means=(-4.0, 0.0, 4.0), std=0.1, generator=gen(2))
    shares = torch.stack([((three - m).abs() < 1).float().mean() for m in (-4.0, 0.0, 4.0)])
    assert torch.allclose(shares, torch.full((3,), 1 / 3), atol=0.02)


def test_pdfs_integrate_to_one_and_peak_at_the_means():
    x = np.linspace(-10, 10, 20001)
    dx = x[1] - x[0]
    assert np.sum(lu.gaussian_pdf(x, 1.0, 0.5)) * dx == pytest.approx(1.0, abs=1e-6)
    assert lu.gaussian_pdf(np.array([1.0]), 1.0, 0.5)[0] == pytest.approx(
        1 / (0.5 * math.sqrt(2 * math.pi))
    )
    mixture = lu.mixture_pdf(x, (-2.0, 2.0), 0.3)
    assert np.sum(mixture) * dx == pytest.approx(1.0, abs=1e-6)
    assert mixture[np.argmin(np.abs(x - 2))] > 10 * mixture[np.argmin(np.abs(x))]
    assert isinstance(lu.gaussian_pdf(torch.tensor([0.0, 1.0]), 0.0, 1.0), np.ndarray)


def test_ring_centres_geometry():
    centres = lu.ring_centres(8, radius=2.0)
    assert centres.shape == (8, 2)
    assert torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0))
    assert torch.allclose(centres[0], torch.tensor([2.0, 0.0]))
    assert torch.allclose(centres[2], torch.tensor([0.0, 2.0]), atol=1e-6)
    neighbours = (centres - centres.roll(1, dims=0)).norm(dim=1)
    assert torch.allclose(neighbours, torch.full((8,), 2 * 2.0 * math.sin(math.pi / 8)), atol=1e-5)
    assert torch.allclose(centres.sum(dim=0), torch.zeros(2), atol=1e-5)
    assert lu.ring_centres(5, radius=1.5).norm(dim=1).allclose(torch.full((5,), 1.5))


def test_sample_ring_shape_and_spread():
    x = lu.sample_ring(8000, n_modes=8, radius=2.0, std=0.02, generator=gen())
    assert x.shape == (8000, 2)
    assert torch.allclose(x.norm(dim=1), torch.full((8000,), 2.0), atol=0.1)
    nearest = torch.cdist(x, lu.ring_centres(8, 2.0)).min(dim=1)
    assert nearest.values.max() < 0.02 * 5
    assert torch.allclose(
        nearest.indices.bincount(minlength=8).float() / 8000, torch.full((8,), 1 / 8), atol=0.02
    )


# --- mode statistics ----------------------------------------------------------------------------------------------


def test_mode_statistics_on_real_ring_samples():
    centres = lu.ring_centres(8, 2.0)
    stats = lu.mode_statistics(lu.sample_ring(4000, std=0.02, generator=gen()), centres, std=0.02)
    assert stats["modes_covered"] == 8 and stats["n_modes"] == 8
    assert stats["high_quality_share"] > 0.99
    assert len(stats["share_per_mode"]) == 8 and sum(stats["share_per_mode"]) == pytest.approx(
        1.0, abs=0.01
    )


def test_mode_statistics_on_a_collapsed_generator():
    centres = lu.ring_centres(8, 2.0)
    collapsed = centres[3] + 0.02 * torch.randn(1000, 2, generator=gen())
    stats = lu.mode_statistics(collapsed, centres, std=0.02)
    assert stats["modes_covered"] == 1
    assert (
        stats["share_per_mode"][3] > 0.98
        and sum(stats["share_per_mode"]) - stats["share_per_mode"][3] == 0
    )


def test_mode_statistics_far_away_points_are_low_quality():
    centres = lu.ring_centres(8, 2.0)
    far = torch.full((500, 2), 10.0) + torch.randn(500, 2, generator=gen())
    stats = lu.mode_statistics(far, centres, std=0.02)
    assert stats["high_quality_share"] == 0.0 and stats["modes_covered"] == 0


def test_mode_statistics_min_share_and_1d_inputs():
    samples = torch.cat([torch.zeros(995), torch.full((5,), 4.0)])  # 1D samples, 1D centres
    stats = lu.mode_statistics(samples, torch.tensor([0.0, 4.0]), std=0.1)
    assert stats["modes_covered"] == 1  # 0.5 % on the second mode is below min_share = 1 %
    assert (
        lu.mode_statistics(samples, torch.tensor([0.0, 4.0]), std=0.1, min_share=0.001)[
            "modes_covered"
        ]
        == 2
    )


def test_mode_statistics_dimension_mismatch():
    with pytest.raises(ValueError, match="samples have dimension 3 but centres 2"):
        lu.mode_statistics(torch.zeros(10, 3), lu.ring_centres(8), std=0.02)


# --- distances ----------------------------------------------------------------------------------------------------


def test_wasserstein_1d_of_a_shift_is_the_shift():
    x = torch.randn(5000, 1, generator=gen())
    assert lu.wasserstein_1d(x, x + 1.5) == pytest.approx(1.5, abs=1e-6)
    assert lu.wasserstein_1d(x, x) == 0.0
    assert lu.wasserstein_1d(x.numpy(), (x - 0.25).numpy()) == pytest.approx(0.25, abs=1e-6)
    y = torch.randn(5000, 1, generator=gen(7))
    assert 0 < lu.wasserstein_1d(x, y) < 0.1  # two samples of the same law


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_wasserstein_1d_rejects_nan(bad):
    x = torch.randn(100)
    y = x.clone()
    y[10] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        lu.wasserstein_1d(x, y)


def test_wasserstein_1d_rejects_empty():
    with pytest.raises(ValueError, match="non-empty"):
        lu.wasserstein_1d(torch.zeros(0), torch.zeros(3))


def test_jensen_shannon_1d():
    def p(x):
        return lu.gaussian_pdf(x, -6.0, 0.5)

    def q(x):
        return lu.gaussian_pdf(x, 6.0, 0.5)

    assert lu.jensen_shannon_1d(p, p, -10, 10) == pytest.approx(0.0, abs=1e-9)
    assert lu.jensen_shannon_1d(p, q, -10, 10) == pytest.approx(math.log(2), abs=1e-3)
    middle = lu.jensen_shannon_1d(p, lambda x: lu.gaussian_pdf(x, -5.0, 0.5), -10, 10)
    assert 0.05 < middle < math.log(2) - 0.05
    assert middle == pytest.approx(
        lu.jensen_shannon_1d(lambda x: lu.gaussian_pdf(x, -5.0, 0.5), p, -10, 10), abs=1e-6
    )  # symmetric


# --- plotting -----------------------------------------------------------------------------------------------------


def test_image_grid_shape_and_range():
    images = torch.linspace(-1, 1, 16 * 28 * 28).reshape(16, 1, 28, 28)
    before = images.clone()
    grid = lu.image_grid(images, nrow=8, padding=2)
    assert grid.shape == (2 * 28 + 3 * 2, 8 * 28 + 9 * 2)
    assert grid.min() >= 0.0 and grid.max() <= 1.0
    assert grid[0, 0] == 1.0  # white padding
    assert grid[2, 2] == pytest.approx(0.0, abs=1e-6)  # the first pixel, -1, is black
    assert torch.equal(images, before)  # the caller's tensor is not normalised in place
    rgb = lu.image_grid(torch.zeros(3, 3, 8, 8), nrow=3, padding=0)
    assert rgb.shape == (8, 24, 3)


def test_image_grid_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        lu.image_grid(torch.zeros(4, 28, 28))


def test_show_images_returns_a_figure():
    fig = lu.show_images(torch.rand(12, 1, 16, 16) * 2 - 1, nrow=4, title="samples")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_title() == "samples" and len(ax.images) == 1
    assert ax.images[0].get_array().shape == (3 * 16 + 4 * 2, 4 * 16 + 5 * 2)
    plt.close(fig)


def test_show_images_on_given_axes():
    fig, axes = plt.subplots(1, 2)
    assert lu.show_images(torch.zeros(4, 1, 8, 8), ax=axes[1]) is fig
    assert len(axes[1].images) == 1 and len(axes[0].images) == 0
    plt.close(fig)


def test_plot_losses():
    history = {
        "loss_D": [1.0, 0.8, 0.7, 0.6, 0.5],
        "loss_G": [2.0, 1.5, 1.2, 1.1, 1.0],
        "samples": [],
        "snapshots": [torch.zeros(2, 1, 4, 4)],
    }
    fig = lu.plot_losses(history)
    assert isinstance(fig, Figure)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["loss_D", "loss_G"]
    assert list(lines[0].get_ydata()) == [1.0, 0.8, 0.7, 0.6, 0.5]
    smooth = lu.plot_losses(history, keys=["loss_D"], smooth=2)
    ydata = smooth.axes[0].get_lines()[0].get_ydata()
    assert np.allclose(ydata, [0.9, 0.75, 0.65, 0.55])
    assert list(smooth.axes[0].get_lines()[0].get_xdata()) == [1, 2, 3, 4]
    plt.close("all")


def test_plot_density_1d():
    x = np.linspace(-4, 4, 200)
    fig = lu.plot_density_1d(
        x,
        lu.gaussian_pdf(x, 0, 1),
        generated=torch.randn(500, 1, generator=gen()),
        d_values=np.full_like(x, 0.5),
        title="step 0",
    )
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 3 and "$D(x)$" in labels
    assert ax.get_title() == "step 0" and ax.get_xlim() == (-4.0, 4.0)
    assert (
        len(ax.patches) == 1
    )  # the histogram of the generated samples, drawn as one filled step patch
    assert not any(
        "outside" in t.get_text() for t in ax.texts
    )  # N(0, 1) samples all lie within [-4, 4]
    far = lu.plot_density_1d(x, lu.gaussian_pdf(x, 0, 1), generated=torch.full((100, 1), 10.0))
    assert any("100% of samples outside" in t.get_text() for t in far.axes[0].texts)
    narrow = lu.gaussian_pdf(x, 0, 0.1)
    only_data = lu.plot_density_1d(x, narrow)
    assert only_data.axes[0].get_ylim()[1] == pytest.approx(
        narrow.max() * 1.15
    )  # the peak stays in view
    plt.close("all")


def test_plot_samples_2d_with_a_discriminator():
    real = lu.sample_ring(200, generator=gen())
    fake = torch.randn(200, 2, generator=gen(1))
    calls = []

    def d_fn(points):
        calls.append(points.shape)
        return torch.sigmoid(points[:, 0])

    fig = lu.plot_samples_2d(real, fake, d_fn=d_fn, title="ring", resolution=20)
    assert isinstance(fig, Figure)
    assert calls == [(400, 2)]
    assert len(fig.axes) == 2  # the plot and the D(x) colour bar
    assert len(fig.axes[0].collections) >= 3
    plain = lu.plot_samples_2d(real, fake)
    assert len(plain.axes) == 1
    plt.close("all")


def test_animate_returns_html_within_the_size_limit():
    fig, ax = plt.subplots(figsize=(2, 2))
    (line,) = ax.plot([], [])
    ax.set_xlim(0, 1)
    ax.set_ylim(-1, 1)
    x = np.linspace(0, 1, 50)

    def draw(i):
        line.set_data(x, np.sin(2 * np.pi * (x + i / 12)))
        return (line,)

    result = lu.animate(fig, draw, n_frames=12, interval_ms=100)
    assert isinstance(result, HTML) and "<script" in result.data
    full_size = len(result.data)
    assert not plt.fignum_exists(fig.number)  # animate closes the figure

    fig, ax = plt.subplots(figsize=(2, 2))
    (line,) = ax.plot([], [])
    ax.set_xlim(0, 1)
    ax.set_ylim(-1, 1)
    limit = full_size * 2 // 3
    thinned = lu.animate(fig, draw, n_frames=12, interval_ms=100, max_bytes=limit)
    assert len(thinned.data) <= limit < full_size
    plt.close("all")


def test_animate_raises_when_two_frames_do_not_fit():
    fig, ax = plt.subplots(figsize=(2, 2))
    with pytest.raises(ValueError, match="use a smaller figure"):
        lu.animate(fig, lambda i: ax.set_title(str(i)), n_frames=4, max_bytes=1000)
    assert not plt.fignum_exists(fig.number)


def test_use_book_style_sets_a_small_dpi():
    plt.rcParams["figure.dpi"] = 150
    lu.use_book_style()
    assert plt.rcParams["figure.dpi"] == 72 and plt.rcParams["axes.grid"] is True


def test_animations_read_offline():
    """No request leaves the page: the CDN stylesheet is gone and every button keeps a visible icon."""
    import re

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    html = lu.animate(fig, lambda i: ax.plot([0, i]), n_frames=3).data
    assert "https://" not in html and "<link" not in html
    assert not re.search(r'<i class="fa', html)
    assert "\u25b6" in html and "\u23f8" in html
