"""A demo prints its function log's path; that log must still be there after the run, failed or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.demo.logs import logs_kept


def _run_dir(tmp_path: Path, text: str) -> Path:
    run_dir = tmp_path / "run"
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    (run_dir / "logs" / "functions-4000.log").write_text(text)
    return run_dir


def test_a_demo_keeps_its_logs_and_replaces_the_previous_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SURGE_STATE_DIR", str(tmp_path / "state"))
    kept = tmp_path / "state" / "logs" / "demo-queue"
    kept.mkdir(parents=True)
    (kept / "functions-3999.log").write_text("an earlier run")
    with logs_kept(_run_dir(tmp_path, "REPORT RequestId: 1"), "queue"):
        pass
    assert sorted(p.name for p in kept.iterdir()) == ["functions-4000.log"]
    assert (kept / "functions-4000.log").read_text() == "REPORT RequestId: 1"
    assert f"logs kept in {kept}" in capsys.readouterr().out


def test_a_failed_demo_keeps_its_logs_too(tmp_path, monkeypatch):
    monkeypatch.setenv("SURGE_STATE_DIR", str(tmp_path / "state"))
    with pytest.raises(SystemExit), logs_kept(_run_dir(tmp_path, "the reason it failed"), "orders"):
        raise SystemExit("surge demo orders: creating the products failed")
    kept = tmp_path / "state" / "logs" / "demo-orders" / "functions-4000.log"
    assert kept.read_text() == "the reason it failed"
