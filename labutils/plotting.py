"""Plotting helpers that chapters share: image grids, loss curves, 1D densities, 2D samples and animations."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation
from matplotlib.axes import Axes
from matplotlib.figure import Figure

FIGURE_DPI = 72  # keeps the committed notebooks small


def use_book_style() -> None:
    """Set a modest resolution and a readable default style for every figure of the book."""
    matplotlib.rcParams.update(
        {
            "figure.dpi": FIGURE_DPI,
            "savefig.dpi": FIGURE_DPI,
            "figure.figsize": (6.4, 4.0),
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "animation.embed_limit": 8.0,
        }
    )


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """Return (figure, axes), creating them if ax is None."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Arrange images in [-1, 1] of shape (N, C, H, W) into one (H', W') or (H', W', 3) array in [0, 1]."""
    from torchvision.utils import make_grid

    if images.ndim != 4:
        raise ValueError(
            f"image_grid expects a batch of shape (N, C, H, W), got {tuple(images.shape)}."
        )
    grid = make_grid(
        images.detach().float().cpu(),
        nrow=nrow,
        padding=padding,
        normalize=True,
        value_range=(-1, 1),
        pad_value=1.0,
    )
    grid = grid.permute(1, 2, 0).numpy()
    return grid[..., 0] if images.shape[1] == 1 else grid


def show_images(
    images: torch.Tensor,
    nrow: int = 8,
    title: str | None = None,
    ax: Axes | None = None,
    size: float = 4.0,
) -> Figure:
    """Show a grid of images in [-1, 1] and return the figure."""
    fig, ax = _new_axes(ax, (size, size * np.ceil(len(images) / nrow) / nrow))
    ax.imshow(image_grid(images, nrow), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def plot_losses(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str] | None = None,
    title: str = "Training curves",
    ax: Axes | None = None,
    smooth: int = 1,
    xlabel: str = "training step",
    ylabel: str = "loss",
) -> Figure:
    """Plot curves from a history dict (one per key), optionally smoothed by a moving average, and return the figure."""
    fig, ax = _new_axes(ax, (7, 3.5))
    for key in keys or [k for k, v in history.items() if len(v) and np.isscalar(v[0])]:
        values = np.asarray(history[key], dtype=float)
        if smooth > 1 and len(values) >= smooth:
            values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(len(values)) + (smooth - 1 if smooth > 1 else 0), values, label=key)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend()
    return fig


def plot_density_1d(
    x_grid: np.ndarray,
    p_data: np.ndarray,
    generated: torch.Tensor | np.ndarray | None = None,
    d_values: np.ndarray | None = None,
    title: str = "",
    ax: Axes | None = None,
    bins: int = 60,
) -> Figure:
    """Plot p_data, a histogram of generated samples (p_g) and the discriminator's D(x) on one axis."""
    fig, ax = _new_axes(ax, (6.4, 3.6))
    top = max(1.05, float(np.max(p_data)) * 1.15)
    ax.plot(x_grid, p_data, color="tab:blue", lw=2, label=r"$p_\mathrm{data}$")
    if generated is not None:
        values = np.asarray(torch.as_tensor(generated).detach().cpu()).ravel()
        counts, edges = np.histogram(values, bins=bins, range=(x_grid[0], x_grid[-1]))
        density = (
            counts / max(len(values), 1) / (edges[1] - edges[0])
        )  # mass outside the plot is not rescaled in
        top = max(top, float(density.max()) * 1.05)
        ax.stairs(
            density, edges, fill=True, color="tab:orange", alpha=0.5, label=r"$p_g$ (generated)"
        )
        outside = 1 - counts.sum() / max(len(values), 1)
        if outside > 0.005:
            ax.text(
                0.98,
                0.95,
                f"{outside:.0%} of samples outside the plot",
                ha="right",
                va="top",
                transform=ax.transAxes,
                fontsize=8,
                color="tab:orange",
            )
    if d_values is not None:
        ax.plot(x_grid, d_values, color="tab:green", lw=2, ls="--", label=r"$D(x)$")
        ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    ax.set(title=title, xlabel="x", ylabel="density / probability", xlim=(x_grid[0], x_grid[-1]))
    ax.set_ylim(0, top)
    ax.legend(loc="upper left")
    return fig


def plot_samples_2d(
    real: torch.Tensor,
    fake: torch.Tensor,
    d_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    title: str = "",
    ax: Axes | None = None,
    limit: float = 3.0,
    resolution: int = 80,
) -> Figure:
    """Scatter real and generated 2D samples over a contour of D(x) (d_fn maps (M, 2) points to probabilities)."""
    fig, ax = _new_axes(ax, (4.5, 4.5))
    if d_fn is not None:
        axis = torch.linspace(-limit, limit, resolution)
        xx, yy = torch.meshgrid(axis, axis, indexing="xy")
        with torch.no_grad():
            zz = (
                d_fn(torch.stack([xx.ravel(), yy.ravel()], dim=1))
                .reshape(resolution, resolution)
                .cpu()
            )
        contour = ax.contourf(
            xx.numpy(),
            yy.numpy(),
            zz.numpy(),
            levels=np.linspace(0, 1, 11),
            cmap="RdBu",
            alpha=0.35,
        )
        fig.colorbar(contour, ax=ax, fraction=0.046, pad=0.04, label="D(x)")
    real, fake = torch.as_tensor(real).detach().cpu(), torch.as_tensor(fake).detach().cpu()
    ax.scatter(real[:, 0], real[:, 1], s=4, c="tab:blue", alpha=0.5, label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=4, c="tab:orange", alpha=0.5, label="generated")
    ax.set(
        title=title,
        xlabel="$x_1$",
        ylabel="$x_2$",
        xlim=(-limit, limit),
        ylim=(-limit, limit),
        aspect="equal",
    )
    ax.legend(loc="upper right", markerscale=3)
    return fig


# matplotlib's HTML animation links Font Awesome from a CDN for its buttons' icons: the book reads offline, so
# the link is dropped and each icon becomes a character that every browser can show.
_REMOTE_LINK = re.compile(r"<link[^>]*href=[\"']https?://[^>]*>", re.S)
_ICONS = {
    "fa fa-play fa-flip-horizontal": "\u25c0",
    "fa fa-play": "\u25b6",
    "fa fa-pause": "\u23f8",
    "fa fa-fast-backward": "\u23ee",
    "fa fa-fast-forward": "\u23ed",
    "fa fa-step-backward": "\u2190",
    "fa fa-step-forward": "\u2192",
    "fa fa-minus": "\u2212",
    "fa fa-plus": "+",
}


def offline_html(html: str) -> str:
    """Return an HTML animation without remote links, its Font Awesome icons replaced by characters."""
    html = _REMOTE_LINK.sub("", html)
    for css, char in _ICONS.items():
        html = html.replace(f'<i class="{css}"></i>', char)
    return html


def animate(
    fig: Figure,
    draw_frame: Callable[[int], object],
    n_frames: int,
    interval_ms: int = 200,
    max_bytes: int = 3_000_000,
):
    """Turn draw_frame(i) for i < n_frames into an HTML animation of at most max_bytes (frames are thinned to fit)."""
    from IPython.display import HTML

    frames = list(range(n_frames))
    while True:
        anim = animation.FuncAnimation(
            fig, draw_frame, frames=frames, interval=interval_ms, repeat=False
        )
        html = offline_html(anim.to_jshtml(default_mode="once"))
        if len(html) <= max_bytes or len(frames) <= 2:
            break
        frames = frames[::2] if frames[-1] == frames[::2][-1] else frames[::2] + [frames[-1]]
    plt.close(fig)
    if len(html) > max_bytes:
        raise ValueError(
            f"animate: even {len(frames)} frames take {len(html)} bytes > {max_bytes}; use a smaller figure."
        )
    return HTML(html)


def _format_cell(value: object, digits: int) -> str:
    """Format one table cell: floats to `digits` significant digits, everything else with str."""
    if isinstance(value, (float, np.floating)):
        return "n/a" if not np.isfinite(value) else f"{value:.{digits}g}"
    return str(value)


def show_table(rows: Sequence[Mapping[str, object]], digits: int = 3):
    """Return a Markdown table (one row per dict, the columns of the first row) for display in a notebook."""
    from IPython.display import Markdown

    if not rows:
        raise ValueError("show_table needs at least one row.")
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [
        "| " + " | ".join(_format_cell(row.get(c, ""), digits) for c in columns) + " |"
        for row in rows
    ]
    return Markdown("\n".join(lines))


def plot_class_histograms(
    histograms: Mapping[str, Sequence[float]],
    class_names: Sequence[str],
    title: str = "Predicted classes",
    ax: Axes | None = None,
    covered_share: float = 0.05,
) -> Figure:
    """Plot class shares (one group of bars per class, one bar per model) with the coverage threshold."""
    fig, ax = _new_axes(ax, (10, 3.2))
    width = 0.8 / len(histograms)
    positions = np.arange(len(class_names))
    for i, (label, shares) in enumerate(histograms.items()):
        ax.bar(positions + (i - (len(histograms) - 1) / 2) * width, shares, width, label=label)
    ax.axhline(
        covered_share,
        color="black",
        linestyle=":",
        linewidth=1,
        label=f"{covered_share:.0%}: covered",
    )
    ax.set_xticks(positions, class_names, rotation=20 if max(map(len, class_names)) > 2 else 0)
    ax.set(title=title, xlabel="class predicted by the classifier", ylabel="share of samples")
    ax.legend(fontsize=8, ncol=2)
    return fig
