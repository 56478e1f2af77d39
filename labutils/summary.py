"""The results summary that ends every chapter: measured metrics beside their expected ranges, and the exercises."""

from __future__ import annotations

import html
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import settings
from .results import save_metrics
from .settings import Settings, current, get_profile, run_record

EXPECTED_FILE = Path(__file__).resolve().parent / "expected.toml"
SUMMARY_KEY = "labbook_summary"  # the output metadata key under which the summary is attached (read by labbook)


def _number(value: Any) -> float | None:
    """Return value as a finite float, or None when it is missing, not a number, NaN or infinite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _format(value: float | None) -> str:
    """Format a metric compactly: 4 significant digits, or 'missing'."""
    return "missing" if value is None else f"{value:.4g}"


def expected_ranges(chapter: str) -> dict[str, tuple[float, float]]:
    """Return a chapter's full-profile ranges from labutils/expected.toml (metric -> (low, high))."""
    with EXPECTED_FILE.open("rb") as handle:
        table = tomllib.load(handle)
    if chapter not in table:
        raise KeyError(
            f"{EXPECTED_FILE} has no [{chapter}] table: add one with the chapter's expected ranges, "
            "one line per metric, for example `dcgan_fd = [20.0, 150.0]`."
        )
    ranges = {}
    for name, bounds in table[chapter].items():
        if not (isinstance(bounds, list) and len(bounds) == 2):
            raise ValueError(f"{EXPECTED_FILE} [{chapter}] {name}: write the range as [low, high].")
        ranges[name] = (float(bounds[0]), float(bounds[1]))
    return ranges


def summarise(
    metrics: Mapping[str, Any],
    expected: Mapping[str, tuple[float, float]],
    exercises: Mapping[str, bool],
    profile: str,
    claims: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    """Compare each metric with its range, list the claims and the exercises; return the summary as data."""
    unknown = [name for name in expected if name not in metrics]
    if unknown:
        raise KeyError(
            f"results_summary: expected ranges for {unknown}, but metrics has no such keys "
            f"(it has: {', '.join(metrics)})."
        )
    rows = []
    for name, bounds in expected.items():
        low, high = (float(b) for b in bounds)
        if low > high:
            raise ValueError(
                f"results_summary: the range of {name!r} is ({low}, {high}); write it as (low, high)."
            )
        value = _number(metrics[name])
        rows.append(
            {
                "name": name,
                "value": value,
                "expected": [low, high],
                "ok": None if value is None else low <= value <= high,
            }
        )
    return {
        "profile": profile,
        "metrics": rows,
        "exercises": [{"name": name, "passed": bool(passed)} for name, passed in exercises.items()],
        "claims": [{"claim": text, "holds": bool(holds)} for text, holds in (claims or {}).items()],
    }


def _status(row: dict[str, Any], profile: str) -> str:
    """Return the status word of a metric row: ok, out of range, missing, or n/a outside the full profile."""
    if row["value"] is None:
        return "missing"
    if profile != "full":
        return "n/a (smoke run)"
    return "ok" if row["ok"] else "OUT OF RANGE"


def claim_status(claim: dict[str, Any], profile: str) -> str:
    """Return the status word of a claim: holds or DOES NOT HOLD, or not judged outside the full profile."""
    if profile != "full":
        return "not judged (smoke run)"
    return "holds" if claim["holds"] else "DOES NOT HOLD"


def _claim_rows(summary: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Return one table row per claim: the sentence, what the numbers say, and the status."""
    return [
        (
            c["claim"],
            "true" if c["holds"] else "false",
            "true (a claim of the prose)",
            claim_status(c, summary["profile"]),
        )
        for c in summary.get("claims", [])
    ]


def as_text(summary: dict[str, Any]) -> str:
    """Render the summary as one plain-text table."""
    profile = summary["profile"]
    lines = [f"Results summary (profile {profile}; expected ranges are those of the full profile)"]
    if profile != "full":
        lines.append(
            "  This is not a full-profile run: the ranges apply to the full profile only, so they are not checked."
        )
    rows = [
        (
            r["name"],
            _format(r["value"]),
            f"[{r['expected'][0]:.4g}, {r['expected'][1]:.4g}]",
            _status(r, profile),
        )
        for r in summary["metrics"]
    ]
    rows += [
        (
            e["name"],
            "passed" if e["passed"] else "not passed",
            "passes its checker",
            "ok" if e["passed"] else "TO DO",
        )
        for e in summary["exercises"]
    ]
    rows += _claim_rows(summary)
    header = ("item", "measured", "expected (full profile)", "status")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        lines.append(
            "  " + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
        )
    passed = sum(e["passed"] for e in summary["exercises"])
    in_range = sum(bool(r["ok"]) for r in summary["metrics"])
    claims = summary.get("claims", [])
    holding = sum(c["holds"] for c in claims)
    lines.append(
        f"  {passed} of {len(summary['exercises'])} exercises pass; "
        + (
            f"{in_range} of {len(summary['metrics'])} metrics in range; "
            f"{holding} of {len(claims)} claims hold."
            if profile == "full"
            else "metrics and claims not judged (not a full-profile run)."
        )
    )
    return "\n".join(lines)


def as_html(summary: dict[str, Any]) -> str:
    """Render the summary as one HTML table (what the book shows)."""
    profile = summary["profile"]
    colour = {
        "ok": "#1a7f37",
        "holds": "#1a7f37",
        "OUT OF RANGE": "#cf222e",
        "DOES NOT HOLD": "#cf222e",
        "TO DO": "#cf222e",
        "missing": "#cf222e",
    }
    rows = []
    for r in summary["metrics"]:
        status = _status(r, profile)
        rows.append(
            (
                f"<code>{html.escape(r['name'])}</code>",
                _format(r["value"]),
                f"[{r['expected'][0]:.4g}, {r['expected'][1]:.4g}]",
                status,
            )
        )
    for e in summary["exercises"]:
        status = "ok" if e["passed"] else "TO DO"
        rows.append(
            (
                html.escape(e["name"]),
                "passed" if e["passed"] else "not passed",
                "passes its checker",
                status,
            )
        )
    rows += [(html.escape(a), b, c, d) for a, b, c, d in _claim_rows(summary)]
    body = "".join(
        f"<tr><td>{a}</td><td>{b}</td><td>{c}</td>"
        f'<td style="color:{colour.get(d, "inherit")};font-weight:600">{html.escape(d)}</td></tr>'
        for a, b, c, d in rows
    )
    note = (
        ""
        if profile == "full"
        else f"<p><em>Profile {html.escape(profile)}: the expected ranges and the prose's claims apply to "
        "the full profile only, so they are shown here but not judged.</em></p>"
    )
    return (
        f'<div class="labbook-summary"><p><strong>Results summary</strong> (profile {html.escape(profile)})</p>'
        f"{note}<table><thead><tr><th>item</th><th>measured</th><th>expected (full profile)</th><th>status</th>"
        f"</tr></thead><tbody>{body}</tbody></table></div>"
    )


def results_summary(
    metrics: Mapping[str, Any],
    expected: Mapping[str, tuple[float, float]],
    exercises: Mapping[str, bool],
    profile: str | None = None,
    claims: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    """Show one table of the chapter's metrics against their full-profile ranges and of its exercises; return it."""
    # expected: metric name -> (low, high) in the full profile; exercises: "Exercise 1: discriminator loss" -> what
    # its checker returned. The table is displayed with its data attached (output metadata "labbook_summary"),
    # which the grading command and the instructor page read.
    summary = summarise(metrics, expected, exercises, profile or get_profile(), claims)
    summary["chapter"] = settings._current.chapter if settings._current is not None else None
    text = as_text(summary)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython is a dependency
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(
            {"text/plain": text, "text/html": as_html(summary)},
            raw=True,
            metadata={SUMMARY_KEY: summary},
        )
    else:
        print(text)
    return summary


def print_metrics(metrics: Mapping[str, Any]) -> None:
    """Print every metric on its own line, name then value, within 79 characters."""
    width = min(max((len(name) for name in metrics), default=0), 60)
    for name, value in metrics.items():
        number = _number(value)
        shown = f"{number: .4g}" if number is not None else repr(value)
        print(f"{name:{width}s} {shown}")


def finish(
    metrics: Mapping[str, Any], exercises: Mapping[str, bool], settings: Settings | None = None
) -> dict[str, Any]:
    """End a chapter: print its metrics, show the results summary (ranges, claims, exercises), save, record."""
    settings = settings or current()
    print_metrics(metrics)
    summary = results_summary(
        metrics,
        expected_ranges(settings.chapter),
        exercises,
        settings.profile,
        claims=settings.claims,
    )
    save_metrics(dict(metrics), settings)
    summary["record"] = run_record(settings)
    return summary
