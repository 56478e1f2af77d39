"""Sampling helpers, tables and class histograms used by the image chapters."""

from __future__ import annotations

import matplotlib
import pytest
import torch
from torch import nn

import labutils as lu

matplotlib.use("Agg")


def test_latent_noise_is_fixed_by_its_seed_and_leaves_the_global_state_alone():
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    a, b, c = (
        lu.latent_noise(5, 3, seed=1),
        lu.latent_noise(5, 3, seed=1),
        lu.latent_noise(5, 3, seed=2),
    )
    assert a.shape == (5, 3) and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(before, torch.random.get_rng_state())
    with pytest.raises(ValueError, match="n >= 1"):
        lu.latent_noise(0, 3, seed=1)


def test_generate_uses_eval_mode_batches_and_restores_training_mode():
    torch.manual_seed(0)
    generator = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    generator.train()
    z = torch.randn(10, 4)
    running_mean = generator[1].running_mean.clone()
    out = lu.generate(generator, z, batch_size=3)
    assert torch.equal(running_mean, generator[1].running_mean), (
        "generating must not update batch-norm statistics"
    )
    assert out.shape == (10, 2) and not out.requires_grad
    assert generator.training, "generate must give the generator back in training mode"
    generator.eval()
    with torch.no_grad():
        assert torch.allclose(out, generator(z), atol=1e-6), (
            "eval mode: samples do not depend on their batch"
        )


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 2)

    def forward(self, z, y):
        return z[:, :2] + self.embed(y)


def test_generate_passes_several_inputs_and_rejects_unequal_lengths():
    g = TwoInputs()
    out = lu.generate(g, torch.zeros(7, 3), torch.arange(7), batch_size=2)
    assert torch.allclose(out, g.embed(torch.arange(7)).detach())
    with pytest.raises(ValueError, match="equal length"):
        lu.generate(g, torch.zeros(7, 3), torch.arange(6))


def test_show_table_formats_rows_as_markdown():
    table = lu.show_table(
        [{"model": "DCGAN", "FD": 12.3456, "classes": 10}, {"model": "MLP", "FD": float("nan")}]
    )
    lines = table.data.splitlines()
    assert lines[0] == "| model | FD | classes |" and lines[1] == "|---|---|---|"
    assert lines[2] == "| DCGAN | 12.3 | 10 |" and lines[3] == "| MLP | n/a |  |"
    with pytest.raises(ValueError, match="at least one row"):
        lu.show_table([])


def test_plot_class_histograms_draws_one_bar_per_class_and_model():
    fig = lu.plot_class_histograms(
        {"real": [0.1] * 10, "G": [0.5] + [0.5 / 9] * 9}, lu.CLASS_NAMES["mnist"]
    )
    ax = fig.axes[0]
    assert len(ax.patches) == 20
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert {"real", "G", "5%: covered"} == {t.get_text() for t in ax.get_legend().get_texts()}
