"""Length-prefixed frames between the runtime and its worker processes.

Requests to a worker are marshal frames: marshal encodes the rows of a Kafka batch (ints, bytes,
tuples) at C speed, and both sides are the same interpreter, so its format always matches. Replies are
JSON, as a Lambda response must be: what `json.dumps` refuses is Lambda's Runtime.MarshalError.

The worker reads and writes with blocking calls (`send_frame`, `recv_frame`); the runtime writes
`encode_frame`'s bytes and decodes what arrives on its event loop with a `FrameDecoder`.
"""

from __future__ import annotations

import json
import marshal
import socket
import struct
from typing import Any, Literal

_HEADER = struct.Struct(">IB")  # body length, codec
_CODECS = {0: "json", 1: "marshal"}
_FIRST_READ = 64 * 1024
Codec = Literal["json", "marshal"]


def encode_frame(message: Any, codec: Codec = "json") -> bytes:
    """Raises TypeError/ValueError for a message the codec cannot encode."""
    if codec == "marshal":
        body, code = marshal.dumps(message), 1
    else:
        body, code = json.dumps(message, separators=(",", ":")).encode(), 0
    return _HEADER.pack(len(body), code) + body


def _decode(code: int, body: bytes | memoryview) -> Any:
    if _CODECS.get(code) == "marshal":
        return marshal.loads(body)
    return json.loads(bytes(body))


def send_frame(sock: socket.socket, message: Any, codec: Codec = "json") -> None:
    """Raises TypeError/ValueError for a message the codec cannot encode (nothing is sent then)."""
    sock.sendall(encode_frame(message, codec))


def recv_frame(sock: socket.socket) -> Any:
    """The next message, or None when the other side closed the connection.

    Frames strictly alternate (a request, then its reply), so a read never takes bytes of the next
    frame, and a small frame arrives in one `recv`."""
    data = bytearray()
    while len(data) < _HEADER.size:
        chunk = sock.recv(_FIRST_READ)
        if not chunk:
            return None
        data += chunk
    length, code = _HEADER.unpack_from(data)
    end = _HEADER.size + length
    while len(data) < end:
        chunk = sock.recv(min(end - len(data), 1 << 20))
        if not chunk:
            return None
        data += chunk
    return _decode(code, memoryview(data)[_HEADER.size : end])


class FrameDecoder:
    """Frames out of a byte stream that arrives in pieces of any size (an asyncio protocol's
    `data_received`): `feed` returns the messages completed so far, in order."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        buffer = self._buffer
        buffer += data
        messages = []
        start = 0
        while len(buffer) - start >= _HEADER.size:
            length, code = _HEADER.unpack_from(buffer, start)
            end = start + _HEADER.size + length
            if len(buffer) < end:
                break
            with memoryview(buffer) as view:  # released before the buffer is trimmed below
                messages.append(_decode(code, view[start + _HEADER.size : end]))
            start = end
        if start:
            del buffer[:start]
        return messages
