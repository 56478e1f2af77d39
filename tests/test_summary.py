"""lu.results_summary: one table of metrics against their full-profile ranges and of the exercises."""

from __future__ import annotations

import IPython
import IPython.display
import pytest

import labutils as lu
from labutils import summary as summary_module
from labutils.summary import SUMMARY_KEY

METRICS = {"w1": 0.01, "std": 0.7, "broken": float("nan"), "unused": 3}
EXPECTED = {"w1": (0.0, 0.03), "std": (0.45, 0.55), "broken": (0, 1)}
EXERCISES = {"Exercise 1: loss": True, "Exercise 2: step": False}


def test_full_profile_judges_each_metric_and_exercise(capsys):
    result = lu.results_summary(METRICS, EXPECTED, EXERCISES, profile="full")
    assert [(m["name"], m["ok"]) for m in result["metrics"]] == [
        ("w1", True),
        ("std", False),
        ("broken", None),
    ]
    assert result["metrics"][2]["value"] is None and result["metrics"][0]["expected"] == [0.0, 0.03]
    assert result["exercises"] == [
        {"name": "Exercise 1: loss", "passed": True},
        {"name": "Exercise 2: step", "passed": False},
    ]
    text = capsys.readouterr().out  # outside IPython the table is printed
    rows = {line.split()[0]: line for line in text.splitlines()[2:] if line.strip()}
    assert rows["w1"].rstrip().endswith("ok") and rows["std"].rstrip().endswith("OUT OF RANGE")
    assert rows["broken"].rstrip().endswith("missing") and "unused" not in text
    assert (
        "1 of 2 exercises pass; 1 of 3 metrics in range; 0 of 0 claims hold." in text
        and "TO DO" in text
    )


def test_smoke_profile_says_the_ranges_are_for_the_full_profile(capsys):
    lu.results_summary({"w1": 5.0}, {"w1": (0.0, 0.03)}, {}, profile="smoke")
    text = capsys.readouterr().out
    assert (
        "apply to the full profile only" in text
        and "n/a (smoke run)" in text
        and "OUT OF RANGE" not in text
    )


def test_profile_defaults_to_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("LABBOOK_PROFILE", "smoke")
    assert lu.results_summary({"a": 1}, {"a": (0, 2)}, {})["profile"] == "smoke"


@pytest.mark.parametrize(
    "expected, error, words",
    [
        ({"typo": (0, 1)}, KeyError, "no such keys"),
        ({"w1": (1, 0)}, ValueError, "write it as (low, high)"),
    ],
)
def test_mistakes_in_the_expected_ranges_are_explained(expected, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        lu.results_summary(METRICS, expected, {}, profile="full")


def test_in_a_notebook_the_table_is_displayed_with_its_data(monkeypatch):
    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(
        IPython.display,
        "display",
        lambda data, raw=False, metadata=None: shown.append((data, raw, metadata)),
    )
    result = lu.results_summary(METRICS, EXPECTED, EXERCISES, profile="full")
    ((data, raw, metadata),) = shown
    assert raw and metadata == {SUMMARY_KEY: result}
    assert "OUT OF RANGE" in data["text/plain"] and data["text/html"].count("<tr>") == 1 + 3 + 2
    assert "<code>w1</code>" in data["text/html"]


def test_html_escapes_names():
    summary = summary_module.summarise({"a": 1}, {"a": (0, 2)}, {"<b>x</b>": True}, "full")
    assert "&lt;b&gt;x&lt;/b&gt;" in summary_module.as_html(summary)
