"""lu.glue and lu.claim: numbers in the prose come from the run, and sentences about results are checked."""

from __future__ import annotations

import json

import IPython
import IPython.display
import numpy as np
import pytest
import torch

import labutils as lu
from labutils import prose
from labutils import summary as summary_module


@pytest.fixture
def full_run(monkeypatch):
    monkeypatch.setenv("LABBOOK_PROFILE", "full")
    return lu.setup("02_gan_1d", seed=0)


def test_glue_stores_the_value_in_myst_nb_format(full_run, monkeypatch):
    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(
        IPython.display, "display", lambda data, raw, metadata: shown.append((data, metadata))
    )
    assert lu.glue("w1_final", torch.tensor(0.0125)) == pytest.approx(0.0125)
    data, metadata = shown[0]
    assert metadata == {"scrapbook": {"name": "w1_final", "mime_prefix": prose.GLUE_PREFIX}}
    assert float(data[prose.GLUE_PREFIX + "text/plain"]) == pytest.approx(0.0125)
    assert full_run.glued == {"w1_final": pytest.approx(0.0125)}


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [("final w1", 1.0, "must be an identifier"), ("w1", float("nan"), "cannot show it")],
)
def test_glue_refuses_bad_names_and_non_finite_values(full_run, name, value, words):
    with pytest.raises(ValueError, match=words):
        lu.glue(name, value)


def test_claims_are_recorded_from_numpy_and_torch_booleans(full_run):
    assert (
        lu.claim("covers all 8 modes", np.int64(8) == 8) is None
    )  # a cell ending in it shows nothing
    lu.claim("collapses onto one class", torch.tensor(4) <= 1)
    assert full_run.claims == {"covers all 8 modes": True, "collapses onto one class": False}


def test_a_claim_needs_a_sentence_and_a_boolean(full_run):
    with pytest.raises(ValueError, match="write the sentence"):
        lu.claim("  ", True)
    with pytest.raises(TypeError, match="not a bool; write a comparison"):
        lu.claim("FD is low", 12.5)


def test_finish_judges_claims_in_the_full_profile_and_saves_everything(full_run, capsys):
    lu.claim("the generator matches the mean", True)
    lu.claim("the weak discriminator sees only the mean", False)
    lu.glue("generated_mean", 3.98)
    ranges = summary_module.expected_ranges("02_gan_1d")
    metrics = {name: low for name, (low, high) in ranges.items()}
    result = lu.finish(metrics, {"Exercise 1: loss": True})
    text = capsys.readouterr().out
    assert "DOES NOT HOLD" in text and "1 of 2 claims hold" in text
    assert result["claims"][1] == {
        "claim": "the weak discriminator sees only the mean",
        "holds": False,
    }
    assert all(row["ok"] for row in result["metrics"])
    assert "Run record:" in text and result["record"]["profile"] == "full"
    saved = json.loads((full_run.results_dir / "02_gan_1d" / "metrics.json").read_text())
    assert saved["claims"]["the generator matches the mean"] is True
    assert saved["glued"] == {"generated_mean": 3.98}


def test_in_the_smoke_profile_claims_are_shown_but_not_judged(monkeypatch, capsys):
    monkeypatch.setenv("LABBOOK_PROFILE", "smoke")
    lu.setup("02_gan_1d", seed=0)
    lu.claim("covers all 8 modes", False)
    ranges = summary_module.expected_ranges("02_gan_1d")
    lu.finish({name: 1e9 for name in ranges}, {})
    text = capsys.readouterr().out
    assert "not judged (smoke run)" in text and "DOES NOT HOLD" not in text
    assert "metrics and claims not judged" in text


def test_expected_ranges_come_from_one_file_and_bad_entries_are_explained(tmp_path, monkeypatch):
    assert summary_module.expected_ranges("03_mnist_dcgan")["dcgan_classes_covered"] == (10.0, 10.0)
    with pytest.raises(KeyError, match=r"has no \[99_new\] table"):
        summary_module.expected_ranges("99_new")
    bad = tmp_path / "expected.toml"
    bad.write_text("[99_new]\nfd = 3.0\n")
    monkeypatch.setattr(summary_module, "EXPECTED_FILE", bad)
    with pytest.raises(ValueError, match=r"write the range as \[low, high\]"):
        summary_module.expected_ranges("99_new")


def test_the_shared_model_plumbing():
    layer = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    assert lu.n_params(layer) == 4 * 9 + 4 + 4 + 4
    torch.manual_seed(0)
    layer.apply(lu.dcgan_weights_init)
    weight, scale = layer[0].weight, layer[1].weight
    assert abs(weight.mean().item()) < 0.02 and 0.005 < weight.std().item() < 0.04
    assert abs(scale.mean().item() - 1) < 0.05 and torch.all(layer[1].bias == 0)


def test_in_a_notebook_long_messages_are_wrapped_to_the_books_column(monkeypatch, capsys):
    from labutils import text

    message = "[checkpoint] main: loaded 02_gan_1d/main-26c28e7a.pt instead of training: " * 2
    text.say(message)
    assert capsys.readouterr().out.strip() == message.strip()  # outside a notebook: whole
    monkeypatch.setattr(text, "_in_notebook", lambda: True)
    text.say("  " + message)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 1 and all(len(line) <= text.WIDTH for line in lines)
    assert all(line.startswith("      ") for line in lines[1:])  # continuations indented
    assert " ".join(line.strip() for line in lines) == message.strip()
