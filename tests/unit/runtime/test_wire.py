"""Frames between the runtime and its worker processes (infra/runtime/wire.py)."""

from __future__ import annotations

import socket
import threading

import pytest

from infra.runtime.kafka.events import KafkaBatch
from infra.runtime.wire import recv_frame, send_frame


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_json_and_marshal_frames_round_trip(pair):
    a, b = pair
    send_frame(a, {"ok": True, "payload": {"ü": [1, None, "x"]}})
    assert recv_frame(b) == {"ok": True, "payload": {"ü": [1, None, "x"]}}
    batch = KafkaBatch(
        "SelfManagedKafka", "h:1", None, "t", 3, [(7, 1700, 0, None, b"\x00\xff", [("h", b"v")])]
    )
    send_frame(a, {"requestId": "r", "kafkaBatch": batch.wire()}, codec="marshal")
    received = recv_frame(b)
    assert KafkaBatch.from_wire(received["kafkaBatch"]) == batch


def test_a_frame_larger_than_one_read_arrives_whole(pair):
    a, b = pair
    big = {"event": "x" * (5 * 1024 * 1024)}  # a 6 MB Kafka batch is possible
    sender = threading.Thread(target=send_frame, args=(a, big), kwargs={"codec": "marshal"})
    sender.start()
    assert recv_frame(b) == big
    sender.join()


def test_a_closed_peer_reads_as_none(pair):
    a, b = pair
    a.close()
    assert recv_frame(b) is None


def test_a_message_json_cannot_encode_raises_before_sending(pair):
    a, b = pair
    with pytest.raises(TypeError):
        send_frame(a, {"when": object()})
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(1)  # nothing was sent
