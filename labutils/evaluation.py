"""The evaluation kit: a small CNN classifier per domain (reference weights shipped), and the metrics it gives.

Inception-based FID needs weights that cannot be downloaded here, so the book measures generated digits and clothes
with domain classifiers instead: label accuracy, class coverage, confidence, and a Fréchet distance between the
classifier's penultimate features of generated and real images (the FID recipe with another feature extractor).
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import nn

from .data import IMAGE_SIZE, load_dataset, minibatches
from .files import atomic_write
from .settings import get_data_dir
from .text import say

CLASSIFIER_VERSION = 1
# Training recipe per domain (epochs over the training set) and the test accuracy each classifier must reach.
EPOCHS = {"mnist": 3, "fashion": 4, "usps": 12}
MAX_SHIFT = {
    "mnist": 2,
    "fashion": 1,
    "usps": 1,
}  # random translations (pixels) during training, for robustness
MIN_ACCURACY = {"mnist": 0.99, "fashion": 0.90, "usps": 0.96}
COVERED_SHARE = 0.05  # a class counts as covered when it receives at least 5% of the samples (half its fair share)


class DomainClassifier(nn.Module):
    """A small CNN: two conv blocks (16 and 32 channels), a 128-unit penultimate layer (the features), 10 logits."""

    def __init__(self, size: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * (size // 4) ** 2, 128),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _check_images(images: torch.Tensor, domain: str) -> None:
    """Raise a ValueError that says what is wrong when images do not fit the domain's classifier."""
    if domain not in IMAGE_SIZE:
        raise ValueError(f"unknown domain {domain!r}: choose one of {', '.join(IMAGE_SIZE)}.")
    size = IMAGE_SIZE[domain]
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"expected a torch tensor of images, got {type(images).__name__}.")
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, size, size):
        raise ValueError(
            f"{domain} images must have shape (N, 1, {size}, {size}), got {tuple(images.shape)}"
            + (" (add the channel axis with images.unsqueeze(1))" if images.ndim == 3 else "")
            + "."
        )
    if len(images) == 0:
        raise ValueError("no images to evaluate.")
    if images.dtype == torch.uint8:
        raise ValueError(
            "images must be floats in [-1, 1], got uint8: convert with images.float() / 127.5 - 1."
        )
    if not torch.isfinite(images).all():
        raise ValueError("the images contain NaN or infinity: the generator diverged.")
    low, high = images.min().item(), images.max().item()
    if low < -1.01 or high > 1.01:
        raise ValueError(
            f"images must lie in [-1, 1] (a tanh output), got values in [{low:.2f}, {high:.2f}]."
        )


def _train_classifier(
    domain: str, device: torch.device, data_dir: Path
) -> tuple[DomainClassifier, float, float]:
    """Train the domain's classifier with a fixed seed; return it, its test accuracy and the seconds it took."""
    x_train, y_train = load_dataset(domain, train=True, device=device, data_dir=data_dir)
    x_test, y_test = load_dataset(domain, train=False, device=device, data_dir=data_dir)
    started = time.perf_counter()
    with torch.random.fork_rng(
        devices=range(torch.cuda.device_count())
    ):  # leave the notebook's random state alone
        torch.manual_seed(1234)
        model = DomainClassifier(IMAGE_SIZE[domain]).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        batch_size = 128
        steps = EPOCHS[domain] * (len(x_train) // batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
        batches = minibatches(x_train, y_train, batch_size=batch_size, seed=1234)
        model.train()
        for _ in range(steps):
            x, y = next(batches)
            shift = torch.randint(-MAX_SHIFT[domain], MAX_SHIFT[domain] + 1, (2,)).tolist()
            loss = F.cross_entropy(model(torch.roll(x, shifts=shift, dims=(2, 3))), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    accuracy = (predict(model, x_test).argmax(1) == y_test.cpu()).float().mean().item()
    return model, accuracy, time.perf_counter() - started


@torch.no_grad()
def predict(model: DomainClassifier, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Return the class probabilities (N, 10) of images, computed in batches."""
    device = next(model.parameters()).device
    return torch.cat(
        [
            F.softmax(model(images[i : i + batch_size].to(device)), dim=1).cpu()
            for i in range(0, len(images), batch_size)
        ]
    )


@torch.no_grad()
def features(model: DomainClassifier, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Return the penultimate features (N, 128) of images, computed in batches."""
    device = next(model.parameters()).device
    return torch.cat(
        [
            model.features(images[i : i + batch_size].to(device)).cpu()
            for i in range(0, len(images), batch_size)
        ]
    )


REFERENCE_DIR = Path(__file__).resolve().parent / "classifiers"
# The reference weights shipped with the book (labutils/classifiers/): every distance in the book and every
# expected range is measured with these, on any machine. Their SHA-256 proves that the weights in use are they.
REFERENCE_SHA256 = {
    "mnist": "1edb77d12ddc14ab9aecd93333a74e4ed5631d166a4e01728d34ca47125defad",
    "fashion": "5b19fdbb9711de4c25502b93ab87bad16dd9aaccea9709fbac09f7bcd27145c5",
    "usps": "e979d6a1aa95881fe62bcbde4555a08dc6d052a08d177fc3097e9e25c772b5d1",
}
RETRAIN_VARIABLE = "LABBOOK_RETRAIN_CLASSIFIERS"


def reference_path(domain: str) -> Path:
    """Return the path of the domain's shipped reference weights."""
    return REFERENCE_DIR / f"{domain}_cnn_v{CLASSIFIER_VERSION}.pt"


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_weights(path: Path, domain: str) -> DomainClassifier:
    """Load a saved classifier safely (weights_only=True) into a fresh model."""
    model = DomainClassifier(IMAGE_SIZE[domain])
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(saved["state"])
    return model


def _reference_classifier(domain: str) -> DomainClassifier:
    """Return the shipped classifier after checking its checksum; explain how to restore it if it is not there."""
    path = reference_path(domain)
    restore = (
        f"Restore it with `git checkout -- {path.relative_to(REFERENCE_DIR.parent.parent)}` (or reinstall "
        f"the book), or set {RETRAIN_VARIABLE}=1 to train a classifier of your own (its numbers will then "
        "differ a little from the book's)."
    )
    if not path.exists():
        raise FileNotFoundError(f"the {domain} reference classifier {path} is missing. {restore}")
    digest = file_sha256(path)
    if digest != REFERENCE_SHA256[domain]:
        raise RuntimeError(
            f"the {domain} reference classifier {path} is not the book's (SHA-256 {digest[:12]}..., "
            f"expected {REFERENCE_SHA256[domain][:12]}...). {restore}"
        )
    return _load_weights(path, domain)


def _own_classifier(domain: str, device: str, folder: Path) -> DomainClassifier:
    """Train the domain's classifier once into the data directory (only on request), or load that copy."""
    path = folder / "classifiers" / f"{domain}_cnn_v{CLASSIFIER_VERSION}.pt"
    if path.exists():
        try:
            return _load_weights(path, domain)
        except Exception as err:
            say(f"[evaluation] {path} is unreadable ({type(err).__name__}); training it again.")
    say(
        f"[evaluation] {RETRAIN_VARIABLE}=1: training the {domain} classifier ({EPOCHS[domain]} "
        f"epochs) instead of using the book's reference weights; it is cached in {path.parent}"
    )
    model, accuracy, seconds = _train_classifier(domain, torch.device(device), folder)
    say(f"[evaluation] {domain} classifier: test accuracy {accuracy:.2%} in {seconds:.0f} s")
    if accuracy < MIN_ACCURACY[domain]:
        raise RuntimeError(
            f"the {domain} classifier reached only {accuracy:.2%} test accuracy (< "
            f"{MIN_ACCURACY[domain]:.0%}); the data in {folder} may be wrong or a stand-in."
        )
    state = {
        "state": model.cpu().state_dict(),
        "test_accuracy": accuracy,
        "torch": str(torch.__version__),
    }
    atomic_write(path, lambda handle: torch.save(state, handle))
    return model


@lru_cache(maxsize=6)
def get_classifier(
    domain: str, device: str = "cpu", data_dir: str | None = None
) -> DomainClassifier:
    """Return the domain's classifier in eval mode: the book's reference weights, checked by checksum."""
    if domain not in EPOCHS:
        raise ValueError(f"unknown domain {domain!r}: choose one of {', '.join(EPOCHS)}.")
    if os.environ.get(RETRAIN_VARIABLE, "0") not in ("", "0"):
        folder = Path(data_dir) if data_dir else get_data_dir()
        model = _own_classifier(domain, device, folder)
    else:
        model = _reference_classifier(domain)
    return model.to(device).eval()


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Return the Fréchet distance between Gaussians fitted to two feature sets (N, d): the FID formula."""
    a, b = np.asarray(features_a, dtype=np.float64), np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"feature sets must be (N, d) with the same d, got {a.shape} and {b.shape}."
        )
    if min(len(a), len(b)) < 2:
        raise ValueError("the Fréchet distance needs at least 2 samples in each set.")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with (
        warnings.catch_warnings()
    ):  # a collapsed sample set has a singular covariance: regularise instead
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(covmean).all() or np.abs(covmean.imag).max() > 1e-3:
            offset = np.eye(len(cov_a)) * 1e-6  # as the reference FID implementation does
            covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    covmean = covmean.real
    return float(
        ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean)
    )


@lru_cache(maxsize=6)
def _real_test_features(domain: str, data_dir: str | None) -> torch.Tensor:
    """Return the classifier features of the domain's real test set (cached)."""
    model = get_classifier(domain, "cpu", data_dir)
    return features(model, load_dataset(domain, train=False, data_dir=data_dir)[0])


def real_vs_real_distance(domain: str, n: int = 10_000, data_dir: str | None = None) -> float:
    """Return the Fréchet distance between n real training images and the real test set: the floor to compare with."""
    model = get_classifier(domain, "cpu", data_dir)
    x_train = load_dataset(domain, train=True, data_dir=data_dir)[0]
    subset = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))[:n]
    return frechet_distance(features(model, x_train[subset]), _real_test_features(domain, data_dir))


def evaluate_samples(
    images: torch.Tensor,
    domain: str,
    labels: torch.Tensor | None = None,
    data_dir: str | None = None,
) -> dict:
    """Measure generated images: class histogram and coverage, confidence, label accuracy, Fréchet distance."""
    _check_images(images, domain)
    if labels is not None and (labels.ndim != 1 or len(labels) != len(images)):
        raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}.")
    model = get_classifier(domain, "cpu", data_dir)
    images = images.detach().float().cpu()
    probabilities = predict(model, images)
    predicted = probabilities.argmax(1)
    histogram = torch.bincount(predicted, minlength=10).float() / len(images)
    result = {
        "n": len(images),
        "class_histogram": [round(float(h), 4) for h in histogram],
        "classes_covered": int((histogram >= COVERED_SHARE).sum()),
        "mean_confidence": float(probabilities.max(1).values.mean()),
        "frechet_distance": frechet_distance(
            features(model, images), _real_test_features(domain, data_dir)
        ),
    }
    if labels is not None:
        result["label_accuracy"] = float((predicted == labels.cpu()).float().mean())
    return result


def classify(images: torch.Tensor, domain: str, data_dir: str | None = None) -> torch.Tensor:
    """Return the classes (N,) that the domain's classifier predicts for images in [-1, 1]."""
    _check_images(images, domain)
    return predict(get_classifier(domain, "cpu", data_dir), images.detach().float().cpu()).argmax(1)
