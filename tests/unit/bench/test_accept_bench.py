"""The accept bench says which load generator it used, falls back to ab, and says so when neither is there."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import pytest

from common.config import Endpoints
from infra.bench import accept_bench
from infra.bench.report import Report


def _tool(folder: Path, name: str, output: str) -> None:
    script = folder / name
    echoes = "".join(f"echo '{line}'\n" for line in output.splitlines())  # builtins only: PATH may be bare
    script.write_text(f"#!/bin/sh\n{echoes}")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_without_wrk_or_ab_the_section_says_so_and_is_skipped(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    report = Report()
    accept_bench.section(Endpoints(), report, argparse.Namespace(scale=1.0))
    assert "no load generator: install wrk" in capsys.readouterr().out
    assert [f.name for f in report.figures] == ["skipped: no load generator (wrk or ab) on PATH"]


def test_wrk_result_line_is_read(tmp_path, monkeypatch):
    result = '{"requests":900,"seconds":3.0,"p50_ms":1.5,"p99_ms":9.0,"timeouts":0,"errors":0,"non_202":2}'
    _tool(tmp_path, "wrk", f"Running 3s test\nRESULT {result}")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert accept_bench.load_generator() == "wrk"
    load = accept_bench.run_load("wrk", "http://127.0.0.1:1/x", "POST", 3, tmp_path)
    assert (load.rate, load.p99_ms, load.non_202) == (300.0, 9.0, 2)
    assert (tmp_path / "post.lua").read_text().startswith('wrk.method = "POST"')


@pytest.mark.parametrize("non_2xx", [0, 7])
def test_ab_is_the_fallback_and_its_report_is_read(tmp_path, monkeypatch, non_2xx):
    lines = [
        "Complete requests:      1000",
        "Failed requests:        0",
        "Time taken for tests:   2.000 seconds",
        "  50%      4",
        "  99%     20",
    ]
    if non_2xx:
        lines.insert(2, f"Non-2xx responses:      {non_2xx}")
    _tool(tmp_path, "ab", "\n".join(lines))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert accept_bench.load_generator() == "ab"
    load = accept_bench.run_load("ab", "http://127.0.0.1:1/x", "GET", 2, tmp_path)
    assert (load.rate, load.p50_ms, load.p99_ms, load.non_202) == (500.0, 4.0, 20.0, non_2xx)


def test_the_issuer_paused_template_disables_only_the_issuers_source(tmp_path):
    from infra.template.yaml_loader import read_template_file

    template = read_template_file(accept_bench.issuer_paused_template(tmp_path))
    derived = template["Resources"]
    original = read_template_file(accept_bench.REPO / "template.yaml")["Resources"]
    issuer = derived["CouponIssuerFunction"]["Properties"]["Events"]["IssueRequests"]["Properties"]
    assert issuer["Enabled"] is False
    assert derived["CouponIssuerFunction"]["Properties"].get("CodeUri") is None
    assert template["Globals"]["Function"]["CodeUri"] == f"{accept_bench.REPO / 'functions'}/"
    # Everything else is the deployed template: same resources, the API's route untouched.
    assert derived.keys() == original.keys()
    assert derived["CouponApiFunction"] == original["CouponApiFunction"]


def test_two_half_rounds_count_as_one_with_the_worse_p99() -> None:
    first = accept_bench.Load(1000, 10.0, 20.0, 90.0, 1, 0, 2)
    second = accept_bench.Load(3000, 10.0, 40.0, 150.0, 0, 1, 0)
    both = first.and_then(second)
    assert (both.requests, both.seconds, both.rate) == (4000, 20.0, 200.0)
    assert both.p50_ms == 35.0  # weighted by requests
    assert both.p99_ms == 150.0
    assert (both.timeouts, both.errors, both.non_202) == (1, 1, 2)


def _status(p50: float, p99: float, window: int) -> dict:
    duration = {"p50": p50, "p99": p99, "over_last": window}
    return {"functions": {"CouponApiFunction": {"duration_ms": duration}}}


def test_durations_are_reported_per_route_with_their_verdicts() -> None:
    report = Report()
    accept_bench._function_durations(report, _status(1.3, 16.0, 10_000), "issuer paused", "issue", 27_000)
    p50, p99 = report.figures
    assert (p50.name, p50.value) == ("[issuer paused] CouponApiFunction warm Duration p50, issue", 1.3)
    assert "meets" in p50.note and "all from the issue rounds" in p50.note
    assert p99.value == 16.0 and "BELOW" in p99.note


def test_a_duration_window_reaching_into_the_other_route_says_so() -> None:
    report = Report()
    accept_bench._function_durations(report, _status(3.5, 9.0, 10_000), "issuer draining", "read", 6_000)
    assert all("only 6000 from the read rounds" in f.note for f in report.figures)


class _FakeRuntime:
    """status() answers the given batches_invoked totals in turn, then the last one for ever."""

    def __init__(self, totals: list[int]) -> None:
        self.totals = totals

    def status(self) -> dict:
        total = self.totals.pop(0) if len(self.totals) > 1 else self.totals[0]
        return {"sources": {"Kafka": {"batches_invoked": total}, "HttpApi": {"requests": 5}}}


def test_catch_up_waits_until_no_source_has_invoked_for_the_quiet_period(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(accept_bench.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(accept_bench.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    batches, seconds, settled = accept_bench.catch_up(_FakeRuntime([0, 3, 9, 9, 12]))  # type: ignore[arg-type]
    # the last new batch was seen at 2.0 s; it is done after CATCH_UP_QUIET_S more without one
    assert (batches, seconds, settled) == (12, 2.0, True)
    assert clock[0] == 2.0 + accept_bench.CATCH_UP_QUIET_S


def test_catch_up_gives_up_after_its_limit_and_says_so(monkeypatch, capsys):
    clock = [0.0]
    monkeypatch.setattr(accept_bench.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(accept_bench.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))

    class Busy:
        n = 0

        def status(self) -> dict:
            self.n += 1
            return {"sources": {"Kafka": {"batches_invoked": self.n}}}

    batches, seconds, settled = accept_bench.catch_up(Busy())  # type: ignore[arg-type]
    assert not settled and seconds >= accept_bench.CATCH_UP_MAX_S and batches > 0
    accept_bench._report_catch_up(batches, seconds, settled)
    assert "still catching up" in capsys.readouterr().out
