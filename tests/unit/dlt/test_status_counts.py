"""`surge local status` with DLT counts: sources without a kafka:// destination are left alone, and a
Kafka that cannot answer gives "?" instead of failing the status command."""

from __future__ import annotations

import socket
from typing import Any

from infra.dlt.status import add_dead_letter_counts


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_kafka_gives_a_question_mark():
    status: dict[str, Any] = {
        "endpoints": {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{_closed_port()}"},
        "sources": {
            "Fn.Kafka": {"type": "SelfManagedKafka", "on_failure": "kafka://orders.dlt"},
            "Fn.Sqs": {
                "type": "SelfManagedKafka",
                "on_failure": "arn:aws:sqs:us-east-1:000000000000:q (written locally)",
            },
            "Fn.Http": {"type": "HttpApi"},
        },
    }
    add_dead_letter_counts(status)
    assert status["sources"]["Fn.Kafka"]["dlt_messages"] == "?"
    assert "dlt_messages" not in status["sources"]["Fn.Sqs"]
    assert "dlt_messages" not in status["sources"]["Fn.Http"]
