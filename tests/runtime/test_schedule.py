"""Schedule events: rate firing with the Scheduled Event payload, Input, no overlap, disabled."""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from infra.runtime.schedule import ScheduleEventSource
from infra.runtime.workers import FunctionRuntime, WorkerInvoker
from infra.template.models import ScheduleEventSpec

CODE = str(Path(__file__).parent / "functions")
# rate(1 minute) fires every 0.2 s.
SCALE = 300.0


@pytest.fixture
def record(tmp_path):
    return tmp_path / "runs.jsonl"


def _invoker(record: Path, sleep_s: float = 0) -> WorkerInvoker:
    env = {"SCHEDULE_RECORD_FILE": str(record), "SCHEDULE_SLEEP_S": str(sleep_s)}
    fn = FunctionRuntime("Tick", "surge-Tick", "schedule_probe.handler", CODE, 10, 128, env, 4)
    invoker = WorkerInvoker({"Tick": fn}, log=lambda f, line: None)
    invoker.warm("Tick")  # the first fire should not wait for a cold start
    return invoker


def _source(invoker, expression="rate(1 minute)", **spec_kwargs):
    spec = ScheduleEventSpec("Every", "Tick", expression, **spec_kwargs)
    return ScheduleEventSource(spec, invoker, region="eu-west-1", account_id="111122223333", time_scale=SCALE)


def _runs(record: Path) -> list[dict]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def test_rate_fires_repeatedly_with_the_scheduled_event(record):
    invoker = _invoker(record)
    source = _source(invoker)
    try:
        source.start()
        assert source.ready()
        _wait_for(lambda: len(_runs(record)) >= 4)
    finally:
        source.stop()
        invoker.close()
    runs = _runs(record)
    starts = [run["start"] for run in runs]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(0.1 < gap < 0.4 for gap in gaps), gaps
    event = runs[0]["event"]
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert event["version"] == "0"
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["account"] == "111122223333"
    assert event["region"] == "eu-west-1"
    assert event["resources"] == ["arn:aws:events:eu-west-1:111122223333:rule/TickEvery"]
    assert event["detail"] == {}
    assert datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    # The scheduled (virtual) times are one minute apart; every event has its own id.
    times = [datetime.strptime(run["event"]["time"], "%Y-%m-%dT%H:%M:%SZ") for run in runs[:3]]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [60, 60]
    assert len({run["event"]["id"] for run in runs}) == len(runs)
    status = source.status()
    assert status["type"] == "Schedule" and status["state"] == "stopped"
    assert status["succeeded"] >= 4 and status["failed"] == 0 and status["skipped_overlaps"] == 0


def test_input_replaces_the_payload(record):
    invoker = _invoker(record)
    source = _source(invoker, input='{"job": "cleanup", "dryRun": false}')
    try:
        source.start()
        _wait_for(lambda: len(_runs(record)) >= 1)
    finally:
        source.stop()
        invoker.close()
    assert _runs(record)[0]["event"] == {"job": "cleanup", "dryRun": False}


def test_a_slow_run_skips_fires_and_never_overlaps(record):
    invoker = _invoker(record, sleep_s=0.5)  # each run spans about 2.5 fires
    source = _source(invoker)
    try:
        source.start()
        _wait_for(lambda: len(_runs(record)) >= 3)
    finally:
        source.stop()
        invoker.close()
    runs = sorted(_runs(record), key=lambda run: run["start"])
    for earlier, later in itertools.pairwise(runs):
        assert later["start"] >= earlier["end"], "two runs overlapped"
    assert source.status()["skipped_overlaps"] >= 2


def test_disabled_never_fires(record):
    invoker = _invoker(record)
    source = _source(invoker, enabled=False)
    try:
        source.start()
        assert source.ready()
        time.sleep(0.7)
    finally:
        source.stop()
        invoker.close()
    assert _runs(record) == []
    status = source.status()
    assert status["state"] == "disabled" and status["fired"] == 0


def test_cron_fires_on_the_virtual_clock(record):
    invoker = _invoker(record)
    source = _source(invoker, expression="cron(* * * * ? *)")  # every minute
    try:
        source.start()
        _wait_for(lambda: len(_runs(record)) >= 2)
    finally:
        source.stop()
        invoker.close()
    times = [run["event"]["time"] for run in _runs(record)]
    assert all(t.endswith(":00Z") for t in times), times


def test_a_failing_run_is_counted_and_the_schedule_goes_on(record, tmp_path):
    invoker = _invoker(tmp_path / "missing-dir" / "runs.jsonl")  # the handler cannot write: it raises
    source = _source(invoker)
    try:
        source.start()
        _wait_for(lambda: source.status()["failed"] >= 2)
    finally:
        source.stop()
        invoker.close()
    assert "FileNotFoundError" in source.status()["last_error"]


def test_speedup_comes_from_the_environment(monkeypatch, record):
    monkeypatch.setenv("SURGE_SCHEDULE_SPEEDUP", "60")
    spec = ScheduleEventSpec("Every", "Tick", "rate(1 minute)")
    source = ScheduleEventSource(spec, invoker=None, region="us-east-1", account_id="1")  # type: ignore[arg-type]
    assert source.status()["time_scale"] == 60
    assert source.name == "Tick.Every"
