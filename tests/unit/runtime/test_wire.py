"""Frames between the runtime and its worker processes (infra/runtime/wire.py)."""

from __future__ import annotations

import socket
import threading

import pytest

from infra.runtime.kafka.events import KafkaBatch
from infra.runtime.wire import FrameDecoder, encode_frame, recv_frame, send_frame


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


def test_the_decoder_gives_whole_frames_whatever_the_pieces_they_arrive_in():
    """The runtime's side reads on its event loop: frames arrive split anywhere, or several at once."""
    frames = [{"ok": True, "n": n, "pad": "x" * n * 300} for n in range(6)]
    stream = b"".join(encode_frame(frame) for frame in frames)
    for piece_size in (1, 3, 7, 64, 1000, len(stream)):
        decoder = FrameDecoder()
        received = []
        for start in range(0, len(stream), piece_size):
            received.extend(decoder.feed(stream[start : start + piece_size]))
        assert received == frames, piece_size


def test_the_decoder_reads_what_the_worker_sends(pair):
    a, b = pair
    send_frame(a, {"ready": True})
    send_frame(a, {"ok": True, "payload": [1, 2]}, codec="marshal")
    decoder = FrameDecoder()
    received: list[object] = []
    while len(received) < 2:
        received.extend(decoder.feed(b.recv(3)))
    assert received == [{"ready": True}, {"ok": True, "payload": [1, 2]}]
