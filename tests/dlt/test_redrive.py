"""`surge dlt redrive` against the session's real Kafka: dead letters written by the runtime's own code
(AWS's on-failure message) and the issuer's envelope, re-driven and read back."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from common.dead_letters import DeadLetter
from tests.conftest import REPO
from tests.dlt.support import (
    aws_failure_messages,
    dead_letter_originals,
    encoded,
    end_offsets,
    origins,
    produce,
    read_all,
    surge,
    write_template,
)
from tests.runtime.esm_helpers import wait_until


@pytest.fixture
def servers(endpoints) -> str:
    return endpoints.require_kafka()


@pytest.fixture
def topics(make_topic, tmp_path):
    """A fresh source topic, its DLT and a template naming them."""
    source = make_topic(partitions=2, prefix="dlt-src")
    dlt = make_topic(partitions=1, prefix="dlt-src.dlt")
    return source, dlt, write_template(tmp_path, source, dlt)


def _redrive(servers: str, template: Path, dlt: str, *options: str) -> tuple[int, str]:
    return surge("dlt", "redrive", dlt, "--template", str(template), "--bootstrap-servers", servers, *options)


def test_redriven_records_equal_the_originals_byte_for_byte(servers, topics, make_topic):
    source, dlt, template = topics
    originals = [
        (None, b'{"null": "key"}', [("content-type", b"application/json")]),
        (b"\x00\xff binary key", b"\x80\x81\xfe not utf-8", [("bin", b"\x00\x01\xff\xc3"), ("empty", b"")]),
        (b"k", b"same name twice", [("dup", b"1"), ("dup", b"2"), ("text", "ë".encode())]),
        (b"tombstone", None, []),
    ]
    dead_letter_originals(servers, source, dlt, originals)
    target = make_topic(partitions=1, prefix="dlt-target")

    code, out = _redrive(servers, template, dlt, "--to", target)

    assert code == 0, out
    redriven = read_all(servers, target)
    assert len(redriven) == len(originals), out
    by_value = {record.value: record for record in redriven}  # the values are distinct
    for key, value, headers in originals:
        record = by_value[value]
        assert record.key == key
        assert record.value == value
        assert record.headers[:-2] == headers, "original headers changed"
        assert record.headers[-2][0] == "surge-redrive-count"
        assert record.headers[-2][1] == b"1"
        assert record.headers[-1][0] == "surge-redrive-origin"
    assert sorted(origins(redriven)) == [f"{dlt}/0/{offset}" for offset in range(len(originals))]


def test_redrive_goes_back_to_each_records_source_topic(servers, topics):
    source, dlt, template = topics
    records = dead_letter_originals(servers, source, dlt, [(b"a", b"1", []), (b"b", b"2", [])])
    before = end_offsets(servers, source)

    code, out = _redrive(servers, template, dlt)

    assert code == 0, out
    back = read_all(servers, source, before)
    assert sorted((r.key, r.value) for r in back) == sorted((r.key, r.value) for r in records)
    assert "sent" in out and "2" in out


def test_dry_run_sends_and_commits_nothing(servers, topics, make_topic):
    source, dlt, template = topics
    dead_letter_originals(servers, source, dlt, [(b"k%d" % i, b"v%d" % i, []) for i in range(6)])
    target = make_topic(partitions=1, prefix="dlt-target")

    code, out = _redrive(servers, template, dlt, "--to", target, "--dry-run")

    assert code == 0, out
    assert end_offsets(servers, target) == {0: 0}, "a dry run sent records"
    assert "would send" in out and "RetriesExhausted: Unhandled 6" in out, out
    assert f"{dlt}/0/0 -> {target}" in out, "the first ones are shown"
    # Nothing was committed either: the real run afterwards still sends all six.
    code, out = _redrive(servers, template, dlt, "--to", target)
    assert code == 0, out
    assert len(read_all(servers, target)) == 6


def test_rate_spaces_the_records_out(servers, topics, make_topic):
    source, dlt, template = topics
    dead_letter_originals(servers, source, dlt, [(b"k", b"%d" % i, []) for i in range(500)])
    target = make_topic(partitions=1, prefix="dlt-target")

    code, out = _redrive(servers, template, dlt, "--to", target, "--rate", "50")

    assert code == 0, out
    stamps = [r.timestamp for r in read_all(servers, target)]
    assert len(stamps) == 500
    # 500 records at 50/s: the last one goes out 499/50 = 9.98 s after the first.
    span_s = (max(stamps) - min(stamps)) / 1000
    assert 9.0 <= span_s <= 12.0, span_s
    # No second is much busier than the rate allows (a burst then a long pause would also fit the span).
    per_second = Counter((s - min(stamps)) // 1000 for s in stamps)
    assert max(per_second.values()) <= 60, per_second


def test_since_until_and_reason_select_exactly(servers, topics, make_topic, tmp_path):
    source, dlt, template = topics
    produce(servers, source, [(b"k%d" % i, b"v%d" % i, []) for i in range(9)])
    records = read_all(servers, source)
    base = int(time.time() * 1000) - 3_600_000
    letters = []
    for i, record in enumerate(records):
        if i % 3 == 0:
            letters.extend(encoded(aws_failure_messages(servers, [record], "retries_exhausted")))
        elif i % 3 == 1:
            letters.extend(encoded(aws_failure_messages(servers, [record], "record_age_exceeded")))
        else:
            doc = aws_failure_messages(servers, [record])[0][1]
            issuer = DeadLetter(
                reason="record value is not valid JSON",
                errorType="InvalidJson",
                timestamp="x",
                payload=doc["payload"],
            )
            letters.append((record.key, issuer.model_dump_json().encode(), []))
    letters.append((None, b'{"some": "other json"}', []))  # not a dead letter: skipped, never a crash
    stamps = [base + i * 60_000 for i in range(len(letters))]  # one a minute
    produce(servers, dlt, letters, stamps)

    def iso(ms: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"

    cases = [
        # (options, DLT offsets expected)
        (["--reason", "RetriesExhausted"], [0, 3, 6]),
        (["--reason", "recordageexceeded"], [1, 4, 7]),
        (["--reason", "InvalidJson"], [2, 5, 8]),
        (["--reason", "not valid JSON"], [2, 5, 8]),
        (["--since", iso(stamps[2]), "--until", iso(stamps[6])], [2, 3, 4, 5]),
        (["--since", iso(stamps[4]), "--reason", "RetriesExhausted"], [6]),
        (["--until", iso(stamps[3])], [0, 1, 2]),
    ]
    for options, expected in cases:
        target = make_topic(partitions=1, prefix="dlt-target")
        code, out = _redrive(servers, template, dlt, "--to", target, *options)
        assert code == 0, out
        assert sorted(origins(read_all(servers, target))) == [f"{dlt}/0/{o}" for o in expected], (
            options,
            out,
        )
        code, out = surge(
            "dlt",
            "show",
            dlt,
            "--template",
            str(template),
            "--bootstrap-servers",
            servers,
            "--json",
            *options,
        )
        assert code == 0, out
        shown = [json.loads(line) for line in out.splitlines()]
        assert [entry["dlt"] for entry in shown] == [f"{dlt}/0/{o}" for o in expected], (options, out)
    code, out = _redrive(servers, template, dlt, "--to", make_topic(prefix="dlt-target"), "--dry-run")
    assert re.search(r"skipped\s+1 not a surge/AWS dead letter", out), out


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["crash", "ctrl-c"])
def test_a_redrive_killed_half_way_sends_every_dead_letter_exactly_once(
    servers, topics, make_topic, tmp_path, stop
):
    source, dlt, template = topics
    count = 800  # 8 s at --rate 100: the kill at ~150 lands well before the end, also on a loaded machine
    dead_letter_originals(
        servers, source, dlt, [(b"k%d" % (i % 7), b"%d" % i, [("n", b"%d" % i)]) for i in range(count)]
    )
    target = make_topic(partitions=2, prefix="dlt-target")
    command = [sys.executable, "-m", "infra.cli", "dlt", "redrive", dlt, "--template", str(template)]
    command += ["--bootstrap-servers", servers, "--to", target, "--rate", "100"]
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'functions'}:{REPO}",
        "SURGE_STATE_DIR": str(tmp_path / "state"),
    }
    watcher = KafkaConsumer(bootstrap_servers=servers)
    parts = [TopicPartition(target, p) for p in (0, 1)]
    # A Ctrl-C must reach it also when this suite runs in the background (where SIGINT is ignored and
    # the child would inherit that).
    first = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # Batches of 100 at 100/s: killed at ~150, the second batch is half sent and not committed.
        # Killed mid-batch for sure: a count inside a batch, not at its end (its commit may be next).
        def mid_batch() -> bool:
            sent = sum(watcher.end_offsets(parts).values())
            return sent >= 150 and 10 < sent % 100 < 90

        wait_until(mid_batch, timeout=90, interval=0.01)
    finally:
        first.send_signal(stop)
        first.wait(timeout=30)
        watcher.close()
    sent_before = sum(end_offsets(servers, target).values())
    assert sent_before < count, "the first run finished before it was killed: the test proved nothing"
    if stop == signal.SIGINT:
        output = first.stdout.read().decode() if first.stdout else ""
        assert first.returncode == 130 and "run the same command again to resume" in output, output

    code, out = surge(*command[3:-2])  # the same command, without --rate

    assert code == 0, out
    sent = Counter(origins(read_all(servers, target)))
    assert len(sent) == count, f"{count - len(sent)} dead letters never re-driven"
    assert max(sent.values()) == 1, f"sent twice: {[o for o, n in sent.items() if n > 1][:5]}"
    assert "sent already by the interrupted run" in out, out  # the recovery path was taken
    # And a third run finds nothing left to do.
    code, out = surge(*command[3:-2])
    assert code == 0 and sum(end_offsets(servers, target).values()) == count, out


def test_max_stops_and_the_same_command_continues(servers, topics, make_topic):
    source, dlt, template = topics
    dead_letter_originals(servers, source, dlt, [(b"k", b"%d" % i, []) for i in range(5)])
    target = make_topic(partitions=1, prefix="dlt-target")

    code, out = _redrive(servers, template, dlt, "--to", target, "--max", "2")
    assert code == 0 and "stopped at --max 2: 3 left" in out, out
    assert origins(read_all(servers, target)) == [f"{dlt}/0/0", f"{dlt}/0/1"]
    code, out = _redrive(servers, template, dlt, "--to", target, "--max", "2")
    assert code == 0 and "2 handled by earlier runs" in out, out
    code, out = _redrive(servers, template, dlt, "--to", target)
    assert code == 0, out
    assert origins(read_all(servers, target)) == [f"{dlt}/0/{i}" for i in range(5)]


def test_not_a_dlt_of_the_template_is_a_clear_error(servers, topics, capsys):
    _, _, template = topics
    code, _ = _redrive(servers, template, "no-such.dlt")
    assert code == 1
    err = capsys.readouterr().err
    assert "no-such.dlt is not a dead-letter topic of" in err and ".dlt" in err
