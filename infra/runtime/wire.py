"""Length-prefixed frames between the runtime and its worker processes.

Requests to a worker are marshal frames: the runtime's process builds them on the interpreter lock
its Kafka poll thread needs, and marshal encodes the rows of a Kafka batch (ints, bytes, tuples) at C
speed. Both sides are the same interpreter, so marshal's format always matches. Replies are JSON, as a
Lambda response must be: what `json.dumps` refuses is Lambda's Runtime.MarshalError.
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


def send_frame(sock: socket.socket, message: Any, codec: Codec = "json") -> None:
    """Raises TypeError/ValueError for a message the codec cannot encode (nothing is sent then)."""
    if codec == "marshal":
        body, code = marshal.dumps(message), 1
    else:
        body, code = json.dumps(message, separators=(",", ":")).encode(), 0
    sock.sendall(_HEADER.pack(len(body), code) + body)


def recv_frame(sock: socket.socket) -> Any:
    """The next message, or None when the other side closed the connection.

    Frames strictly alternate (a request, then its reply), so a read never takes bytes of the next
    frame, and a small frame arrives in one `recv`: each call releases and re-takes the interpreter
    lock, which the runtime's Kafka poll thread is waiting for."""
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
    body = memoryview(data)[_HEADER.size : end]
    if _CODECS.get(code) == "marshal":
        return marshal.loads(body)
    return json.loads(bytes(body))
