"""Exported results: samples files (uint8 images, int64 labels, meta) and metrics.json."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import labutils as lu
from labutils.results import to_uint8


@pytest.fixture
def settings(monkeypatch):
    monkeypatch.setenv("LABBOOK_PROFILE", "smoke")
    return lu.setup("05_results", seed=3)


def _images(n: int = 12, size: int = 28) -> torch.Tensor:
    return torch.linspace(-1.5, 1.5, n * size * size).reshape(n, 1, size, size)


def test_export_samples_writes_the_documented_format(settings, tmp_path, capsys):
    images, labels = _images(), torch.arange(12, dtype=torch.int32) % 10
    path = lu.export_samples("dcgan", images, labels, domain="mnist")
    assert path == tmp_path / "results" / "05_results" / "dcgan.pt"
    assert "[results] dcgan: 12 samples of mnist (28x28)" in capsys.readouterr().out

    payload = torch.load(path, weights_only=True)
    assert payload["images"].dtype == torch.uint8 and payload["images"].shape == (12, 1, 28, 28)
    assert (
        payload["images"].min() == 0 and payload["images"].max() == 255
    )  # clipped from [-1.5, 1.5]
    assert (
        payload["labels"].dtype == torch.int64
        and payload["labels"].tolist() == (torch.arange(12) % 10).tolist()
    )
    assert payload["meta"] == {
        "domain": "mnist",
        "model": "dcgan",
        "profile": "smoke",
        "seed": 3,
        "chapter": "05_results",
    }
    assert sorted(p.name for p in path.parent.iterdir()) == ["dcgan.pt"]  # no temporary file left


def test_to_uint8_maps_the_range_exactly():
    values = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, -3.0]).reshape(1, 1, 1, 7)
    assert to_uint8(values).flatten().tolist() == [0, 64, 128, 191, 255, 255, 0]


def test_export_then_load_samples_round_trip(settings):
    images = torch.rand(5, 1, 16, 16) * 2 - 1
    labels = torch.tensor([0, 1, 2, 3, 9])
    path = lu.export_samples("wgan_gp", images, labels, domain="usps")
    payload = lu.load_samples(path)
    restored = payload["images"].float() / 127.5 - 1
    assert (restored - images).abs().max() <= 1 / 127.5 + 1e-6
    assert torch.equal(payload["labels"], labels)
    assert payload["meta"]["domain"] == "usps"


def test_export_overwrites_a_previous_file(settings):
    lu.export_samples("gan", _images(4), torch.zeros(4, dtype=torch.long), domain="fashion")
    path = lu.export_samples("gan", _images(6), torch.ones(6, dtype=torch.long), domain="fashion")
    assert lu.load_samples(path)["labels"].tolist() == [1] * 6


@pytest.mark.parametrize("name", ["DCGAN", "dc-gan", "dc gan", "../escape", "", "gan.pt", "gän"])
def test_export_rejects_bad_model_names(settings, name, tmp_path):
    with pytest.raises(
        ValueError, match="model name .* must be lower case letters, digits and underscores"
    ):
        lu.export_samples(name, _images(2), torch.zeros(2, dtype=torch.long), domain="mnist")
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("shape", [(4, 28, 28), (4, 3, 28, 28), (28, 28), (1, 4, 1, 28, 28)])
def test_export_rejects_bad_image_shapes(settings, shape):
    with pytest.raises(ValueError, match=r"images must have shape \(N, 1, H, W\)"):
        lu.export_samples(
            "gan", torch.zeros(shape), torch.zeros(shape[0], dtype=torch.long), domain="mnist"
        )


def test_export_rejects_labels_of_the_wrong_length(settings):
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\), got \(3,\)"):
        lu.export_samples("gan", _images(4), torch.zeros(3, dtype=torch.long), domain="mnist")
    with pytest.raises(ValueError, match="labels must have shape"):
        lu.export_samples("gan", _images(4), torch.zeros(4, 1, dtype=torch.long), domain="mnist")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_export_rejects_nan_images(settings, bad, tmp_path):
    images = _images(3)
    images[1, 0, 5, 5] = bad
    with pytest.raises(ValueError, match="NaN or infinity; training diverged"):
        lu.export_samples("gan", images, torch.zeros(3, dtype=torch.long), domain="mnist")
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("domain", ["cifar", "MNIST", ""])
def test_export_rejects_unknown_domains(settings, domain):
    with pytest.raises(
        ValueError, match=r"domain .* must be one of \('mnist', 'fashion', 'usps'\)"
    ):
        lu.export_samples("gan", _images(2), torch.zeros(2, dtype=torch.long), domain=domain)


def test_export_needs_setup():
    with pytest.raises(RuntimeError, match="setup"):
        lu.export_samples("gan", _images(2), torch.zeros(2, dtype=torch.long), domain="mnist")


def _write(path, payload) -> None:
    torch.save(payload, path)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (
            {
                "images": torch.zeros(2, 1, 4, 4),
                "labels": torch.zeros(2, dtype=torch.long),
                "meta": {"domain": "mnist"},
            },
            "images must be uint8",
        ),
        (
            {
                "images": torch.zeros(2, 3, 4, 4, dtype=torch.uint8),
                "labels": torch.zeros(2, dtype=torch.long),
                "meta": {"domain": "mnist"},
            },
            "images must be uint8 (N, 1, H, W)",
        ),
        (
            {
                "images": torch.zeros(2, 1, 4, 4, dtype=torch.uint8),
                "labels": torch.zeros(2, dtype=torch.int32),
                "meta": {"domain": "mnist"},
            },
            "labels must be int64",
        ),
        (
            {
                "images": torch.zeros(2, 1, 4, 4, dtype=torch.uint8),
                "labels": torch.zeros(3, dtype=torch.long),
                "meta": {"domain": "mnist"},
            },
            "labels must be int64 (2,)",
        ),
        (
            {
                "images": torch.zeros(2, 1, 4, 4, dtype=torch.uint8),
                "labels": torch.zeros(2, dtype=torch.long),
                "meta": {"domain": "svhn"},
            },
            "meta['domain'] must be one of",
        ),
        (
            {"images": torch.zeros(2, 1, 4, 4, dtype=torch.uint8)},
            "expected a dict with keys images, labels, meta",
        ),
        ([1, 2, 3], "expected a dict with keys images, labels, meta"),
    ],
)
def test_load_samples_validates(tmp_path, payload, problem):
    path = tmp_path / "bad.pt"
    _write(path, payload)
    with pytest.raises(ValueError) as info:
        lu.load_samples(path)
    assert problem in str(info.value) and str(path) in str(info.value)


def test_save_metrics_writes_plain_json(settings, tmp_path, capsys):
    metrics = {
        "fid": torch.tensor(12.5),
        "per_class": torch.tensor([0.5, 0.25]),
        "np_float": np.float32(0.125),
        "np_int": np.int64(7),
        "np_array": np.array([[1, 2], [3, 4]]),
        "modes": (8, 8),
        "diverged": float("nan"),
        "nested": {
            "w1": np.float64(0.5),
            "curve": [np.float32(1.0), torch.tensor(2.0), float("inf")],
        },
        "name": "dcgan",
        "ok": np.bool_(True),
    }
    path = lu.save_metrics(metrics)
    assert path == tmp_path / "results" / "05_results" / "metrics.json"
    assert "[results] 10 metrics" in capsys.readouterr().out
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    document = json.loads(text)
    assert (
        document["chapter"] == "05_results"
        and document["profile"] == "smoke"
        and document["seed"] == 3
    )
    assert document["device"].startswith("cpu")
    assert isinstance(document["wall_time_s"], float) and 0 <= document["wall_time_s"] < 60
    assert document["metrics"] == {
        "fid": 12.5,
        "per_class": [0.5, 0.25],
        "np_float": 0.125,
        "np_int": 7,
        "np_array": [[1, 2], [3, 4]],
        "modes": [8, 8],
        "diverged": None,
        "nested": {"w1": 0.5, "curve": [1.0, 2.0, None]},
        "name": "dcgan",
        "ok": True,
    }
    assert type(document["metrics"]["np_int"]) is int


def test_save_metrics_replaces_the_previous_file(settings):
    lu.save_metrics({"a": 1})
    path = lu.save_metrics({"b": 2})
    assert json.loads(path.read_text())["metrics"] == {"b": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]
