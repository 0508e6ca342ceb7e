"""Decoding dead letters: both formats, the original record's bytes, and clear reasons for anything else."""

from __future__ import annotations

import base64
import json

import pytest

from infra.dlt.messages import (
    REDRIVE_COUNT_HEADER,
    REDRIVE_ORIGIN_HEADER,
    DeadLetter,
    NotADeadLetter,
    describe_bytes,
    parse_dead_letter,
)
from infra.runtime.kafka.events import signed_bytes


def _record(**fields):
    record = {
        "topic": "orders",
        "partition": 3,
        "offset": 41,
        "timestamp": 1_700_000_000_000,
        "timestampType": "CREATE_TIME",
    }
    record.update(fields)
    return record


def _aws(record=None, **request):
    return {
        "requestContext": {
            "requestId": "r",
            "functionArn": "arn:fn",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 4,
            **request,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": "2026-12-02T02:00:00.000Z",
        "payload": {"eventSource": "SelfManagedKafka", "records": {"orders-3": [record or _record()]}},
    }


def _parse(doc: object) -> DeadLetter:
    value = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return parse_dead_letter("orders.dlt", 0, 7, 1_700_000_001_000, value)


def test_aws_message_decodes_to_the_original_record_bytes():
    header = "ë\x00".encode()
    letter = _parse(
        _aws(
            _record(
                key=base64.b64encode(b"\xff\x00").decode(),
                value=base64.b64encode(b'{"a": 1}').decode(),
                headers=[{"h": signed_bytes(header)}, {"h": []}],
            )
        )
    )
    assert (letter.format, letter.condition, letter.error_type, letter.attempts) == (
        "aws",
        "RetriesExhausted",
        "Unhandled",
        4,
    )
    assert letter.record.key == b"\xff\x00"
    assert letter.record.value == b'{"a": 1}'
    assert letter.record.headers == [("h", header), ("h", b"")]
    assert (letter.record.topic, letter.record.partition, letter.record.offset) == ("orders", 3, 41)
    assert letter.origin == "orders.dlt/0/7"


def test_null_key_and_value_stay_null():
    letter = _parse(_aws(_record()))
    assert letter.record.key is None and letter.record.value is None


def test_issuer_envelope_decodes_with_reason_and_error_type():
    doc = {
        "condition": "NonRetryableError",
        "reason": "record value is not valid JSON",
        "errorType": "InvalidJson",
        "timestamp": "t",
        "payload": _aws()["payload"],
    }
    letter = _parse(doc)
    assert (letter.format, letter.condition, letter.error_type, letter.reason) == (
        "surge",
        "NonRetryableError",
        "InvalidJson",
        "record value is not valid JSON",
    )
    assert letter.matches_reason("invalidjson") and letter.matches_reason("not valid")
    assert letter.matches_reason("NonRetryableError") and not letter.matches_reason("RetriesExhausted")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"\x00garbage", "not JSON"),
        (b"[1, 2]", "JSON list, not an object"),
        (b'{"hello": "world"}', "neither AWS's on-failure message"),
        (json.dumps({"requestContext": {"condition": "RetriesExhausted"}}).encode(), "no `payload.records`"),
        (json.dumps(_aws(_record(key="***"))).encode(), "key is not valid base64"),
        (json.dumps(_aws(_record(headers=[{"h": [999]}]))).encode(), "header 'h' is not a list of bytes"),
        (
            json.dumps({**_aws(), "payload": {"records": {"a-0": [_record(), _record()]}}}).encode(),
            "holds 2 records",
        ),
    ],
)
def test_anything_else_is_not_a_dead_letter_with_the_reason(value, why):
    with pytest.raises(NotADeadLetter, match=None) as raised:
        _parse(value)
    assert why in str(raised.value)


def test_redrive_headers_keep_the_originals_and_count_up():
    first = _parse(_aws(_record(headers=[{"a": signed_bytes(b"1")}])))
    headers = first.record.redriven_headers(first.origin)
    assert headers == [("a", b"1"), (REDRIVE_COUNT_HEADER, b"1"), (REDRIVE_ORIGIN_HEADER, b"orders.dlt/0/7")]
    # Dead-lettered again after that re-drive: the count goes on, surge's headers are not duplicated.
    again = _parse(_aws(_record(headers=[{name: signed_bytes(value)} for name, value in headers])))
    assert again.record.redrive_count == 1
    assert again.record.redriven_headers("orders.dlt/0/9") == [
        ("a", b"1"),
        (REDRIVE_COUNT_HEADER, b"2"),
        (REDRIVE_ORIGIN_HEADER, b"orders.dlt/0/9"),
    ]


def test_describe_bytes_picks_json_text_or_base64():
    assert describe_bytes(None) == ("null", "")
    assert describe_bytes(b'{"a":1}') == ("json", '{\n  "a": 1\n}')
    assert describe_bytes(b"plain") == ("text", "plain")
    assert describe_bytes(b"\xff\x00") == ("base64", "/wA=")
