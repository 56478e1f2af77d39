"""The evaluation kit: the shipped reference classifiers and the metrics of generated samples, on real and bad data."""

from __future__ import annotations

import pytest
import torch

from conftest import REAL_DATA
from labutils import evaluation
from labutils.data import load_dataset

DOMAINS = ("mnist", "fashion", "usps")


@pytest.fixture(scope="module")
def real_data_dir() -> str:
    """The real data folder (the classifiers themselves come with the book, not from there)."""
    return str(REAL_DATA)


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_weights_in_use_are_the_shipped_reference(domain, real_data_dir, monkeypatch):
    """The files' checksums are the recorded ones, and get_classifier returns exactly those weights."""
    monkeypatch.delenv(evaluation.RETRAIN_VARIABLE, raising=False)
    path = evaluation.reference_path(domain)
    assert evaluation.file_sha256(path) == evaluation.REFERENCE_SHA256[domain]
    saved = torch.load(path, weights_only=True)["state"]
    evaluation.get_classifier.cache_clear()
    model = evaluation.get_classifier(domain, "cpu", real_data_dir)
    assert not model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, saved[name]), name


@pytest.mark.parametrize("domain", DOMAINS)
def test_classifier_reaches_its_accuracy(domain, real_data_dir):
    model = evaluation.get_classifier(domain, "cpu", real_data_dir)
    x_test, y_test = load_dataset(domain, train=False, data_dir=real_data_dir)
    accuracy = (evaluation.predict(model, x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy >= evaluation.MIN_ACCURACY[domain], f"{domain}: {accuracy:.4f}"
    saved = torch.load(evaluation.reference_path(domain), weights_only=True)
    assert saved["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)


@pytest.mark.parametrize("damage", ["missing", "changed"])
def test_a_missing_or_changed_reference_is_refused_with_the_fix(damage, tmp_path, monkeypatch):
    copy = tmp_path / "classifiers"
    copy.mkdir()
    if damage == "changed":
        data = bytearray(evaluation.reference_path("usps").read_bytes())
        data[-100] ^= 1
        (copy / "usps_cnn_v1.pt").write_bytes(bytes(data))
    monkeypatch.setattr(evaluation, "REFERENCE_DIR", copy)
    monkeypatch.delenv(evaluation.RETRAIN_VARIABLE, raising=False)
    evaluation.get_classifier.cache_clear()
    error = FileNotFoundError if damage == "missing" else RuntimeError
    with pytest.raises(error, match="git checkout -- .*LABBOOK_RETRAIN_CLASSIFIERS=1"):
        evaluation.get_classifier("usps", "cpu", str(REAL_DATA))
    evaluation.get_classifier.cache_clear()


@pytest.mark.parametrize("domain", DOMAINS)
def test_metrics_on_real_data_are_good(domain, real_data_dir):
    x_test, y_test = load_dataset(domain, train=False, data_dir=real_data_dir)
    result = evaluation.evaluate_samples(x_test, domain, labels=y_test, data_dir=real_data_dir)
    assert result["label_accuracy"] >= evaluation.MIN_ACCURACY[domain]
    assert result["classes_covered"] == 10
    assert result["frechet_distance"] == pytest.approx(0.0, abs=1e-3)  # the test set against itself
    assert result["mean_confidence"] > 0.85
    assert sum(result["class_histogram"]) == pytest.approx(1.0, abs=1e-3)
    floor = evaluation.real_vs_real_distance(domain, n=2000, data_dir=real_data_dir)
    assert 0 < floor < 5.0, f"real train vs real test should be close, got {floor}"


@pytest.mark.parametrize("domain", ("mnist", "usps"))
def test_metrics_on_degenerate_samples_are_bad(domain, real_data_dir):
    x_test, y_test = load_dataset(domain, train=False, data_dir=real_data_dir)
    floor = evaluation.real_vs_real_distance(domain, n=2000, data_dir=real_data_dir)
    noise = torch.rand(2000, *x_test.shape[1:], generator=torch.Generator().manual_seed(0)) * 2 - 1
    on_noise = evaluation.evaluate_samples(
        noise, domain, labels=y_test[:2000], data_dir=real_data_dir
    )
    assert on_noise["frechet_distance"] > 20 * floor
    assert on_noise["label_accuracy"] < 0.3
    collapsed = x_test[:1].repeat(2000, 1, 1, 1)  # mode collapse: one image, repeated
    on_collapse = evaluation.evaluate_samples(collapsed, domain, data_dir=real_data_dir)
    assert on_collapse["classes_covered"] == 1
    assert max(on_collapse["class_histogram"]) == 1.0
    assert on_collapse["frechet_distance"] > 20 * floor


def test_frechet_distance_formula():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(5000, 3, generator=generator)
    shifted = a + torch.tensor([3.0, 0.0, 0.0])
    assert evaluation.frechet_distance(a, shifted) == pytest.approx(
        9.0, rel=1e-3
    )  # |mu_a - mu_b|^2
    scaled = torch.randn(5000, 3, generator=generator) * 2
    # identity covariances scaled by 4: trace(I + 4I - 2 * 2I) = 3 (up to sampling noise)
    assert evaluation.frechet_distance(a, scaled) == pytest.approx(3.0, abs=0.3)
    with pytest.raises(ValueError, match="same d"):
        evaluation.frechet_distance(a, torch.randn(10, 4))


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.zeros(4, 28, 28), "add the channel axis"),
        (torch.zeros(4, 1, 32, 32), r"shape \(N, 1, 28, 28\)"),
        (torch.zeros(4, 1, 28, 28, dtype=torch.uint8), "uint8"),
        (torch.full((4, 1, 28, 28), float("nan")), "NaN"),
        (torch.full((4, 1, 28, 28), 255.0), r"\[-1, 1\]"),
    ],
)
def test_bad_input_gets_a_clear_message(bad, message, real_data_dir):
    with pytest.raises(ValueError, match=message):
        evaluation.evaluate_samples(bad, "mnist", data_dir=real_data_dir)


def test_unknown_domain_and_wrong_labels(real_data_dir):
    with pytest.raises(ValueError, match="unknown domain 'cifar'"):
        evaluation.evaluate_samples(torch.zeros(2, 1, 28, 28), "cifar")
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        evaluation.evaluate_samples(
            torch.zeros(2, 1, 28, 28), "mnist", labels=torch.zeros(3), data_dir=real_data_dir
        )


def test_retraining_on_request_trains_once_then_loads(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "data"
    (folder / "classifiers").mkdir(parents=True)
    (folder / "classifiers" / "usps_cnn_v1.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv(evaluation.RETRAIN_VARIABLE, "1")
    monkeypatch.setitem(evaluation.EPOCHS, "usps", 1)  # one quick epoch is enough to test the path
    monkeypatch.setitem(evaluation.MIN_ACCURACY, "usps", 0.5)
    for name in ("usps.bz2", "usps.t.bz2"):
        (folder / name).symlink_to(REAL_DATA / name)
    evaluation.get_classifier.cache_clear()
    model = evaluation.get_classifier("usps", "cpu", str(folder))
    out = capsys.readouterr().out
    assert "unreadable" in out and "instead of using the book's reference weights" in out
    assert isinstance(model, evaluation.DomainClassifier) and not model.training
    own = folder / "classifiers" / "usps_cnn_v1.pt"
    torch.load(own, weights_only=True)  # rewritten, readable
    evaluation.get_classifier.cache_clear()
    evaluation.get_classifier("usps", "cpu", str(folder))
    assert "training" not in capsys.readouterr().out  # loaded, not trained again
    evaluation.get_classifier.cache_clear()
