"""The prepared GPU check (labbook gpu-check), tested on the CPU: every stage runs and the summary is always written,
the time limit stops it cleanly, and a device failure is reported with its output."""

from __future__ import annotations

import json

from labbook import cli, gpu_check

FIRST = "01_minimax"


def test_every_stage_runs_and_the_summary_is_written(tmp_path, real_data, monkeypatch):
    monkeypatch.setenv("LABBOOK_DATA", str(real_data))
    out = tmp_path / "out"
    report = gpu_check.check(out, time_limit=600, device="cpu", prefixes=["01"], profile="smoke")
    row = report["chapters"][FIRST]
    assert row["nbval"]["status"] == "pass", row["nbval"]["output"]
    assert row["full"]["status"] == "pass", row["full"]["output"]
    assert row["again"]["status"] == "pass" and set(row["again"]["checkpoints"]) == {"loaded"}
    assert report["cpu_load"]["status"] == "pass" and report["cpu_load"]["trained_on"] == "cpu"
    committed = gpu_check.committed_metrics(FIRST)
    assert set(row["metrics"]) == set(committed) and all(
        m["device"] is not None for m in row["metrics"].values()
    )
    summary = (out / "summary.md").read_text()
    assert (
        f"| {FIRST} | pass" in summary
        and "metrics on the device beside the committed CPU run" in summary
    )
    assert (
        json.loads((out / "summary.json").read_text())["chapters"][FIRST]["full"]["status"]
        == "pass"
    )


def test_the_time_limit_stops_the_check_cleanly(tmp_path, real_data, monkeypatch):
    monkeypatch.setenv("LABBOOK_DATA", str(real_data))
    report = gpu_check.check(tmp_path / "out", time_limit=4, device="cpu", prefixes=["03", "01"])
    statuses = [
        r[s]["status"] for r in report["chapters"].values() for s in ("nbval", "full") if s in r
    ]
    assert statuses[0] == "stopped at the time limit" and set(statuses[1:]) == {
        "skipped (no time left)"
    }
    assert list(report["chapters"]) == [
        "03_mnist_dcgan",
        FIRST,
    ]  # the most informative chapter first
    assert (
        report["seconds"] < 30 and "GPU check: cpu" in (tmp_path / "out" / "summary.md").read_text()
    )


def test_a_device_failure_is_reported_with_its_output(tmp_path, real_data, monkeypatch):
    monkeypatch.setenv("LABBOOK_DATA", str(real_data))
    out = tmp_path / "out"
    code = cli.main(
        [
            "gpu-check",
            "--out",
            str(out),
            "--device",
            "cuda:7",
            "--chapters",
            "01",
            "--smoke-only",
            "--time-limit",
            "300",
        ]
    )
    report = json.loads((out / "summary.json").read_text())
    assert code == 1 and report["chapters"][FIRST]["nbval"]["status"] == "fail"
    assert "SettingsError" in report["chapters"][FIRST]["nbval"]["first_error"]
    assert "cuda:7" in report["chapters"][FIRST]["nbval"]["first_error"]
    assert "Failures (end of the output)" in (out / "summary.md").read_text()


def test_the_device_scripts_are_valid_and_call_the_check():
    import subprocess

    from labutils.settings import REPO_ROOT

    for script in ("tools/gpu_check.sh", "tools/gpu_prepare.sh"):
        subprocess.run(["bash", "-n", str(REPO_ROOT / script)], check=True)
    device_side = (REPO_ROOT / "tools" / "gpu_check.sh").read_text()
    assert "python3 -m labbook gpu-check" in device_side and "--no-index" in device_side
    assert ".gpu-data" in device_side and ".whl" in device_side
