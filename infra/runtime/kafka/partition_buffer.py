"""`Partition`: the Kafka event source's state of one assigned partition, chiefly its record buffer.

Records wait in the buffer until a batch closes: BatchSize records, ~6 MB of payload, or the batching
window elapsed since the oldest one arrived. The buffer's methods do not lock: the source holds its
buffers lock around them (the poll thread fills buffers, batch threads take their next batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import TopicPartition

from infra.runtime.kafka.events import Record, payload_size

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
BUFFER_BATCHES = 3  # per partition: the batch in flight's successors, at most


@dataclass
class Partition:
    tp: TopicPartition
    buffer: list[Record] = field(default_factory=list)
    buffered_bytes: int = 0
    first_at: float = 0.0  # monotonic time the oldest buffered record arrived
    committed: int | None = None  # acknowledged by the broker
    sent: int | None = None  # last offset handed to an asynchronous commit
    hold_until: float = 0.0
    paused: bool = False  # back-pressure: paused in the consumer (the source's _apply_backpressure)
    full_since: float | None = None  # monotonic time its buffer became full, while not paused
    cancelled: bool = False  # revoked: its in-flight batch must stop and never commit

    def add(self, records: list[Record], size: int, arrived: float) -> None:
        """Buffer fetched records; `size` is their payload size (computed outside the lock)."""
        if not self.buffer:
            self.first_at = arrived
        self.buffer.extend(records)
        self.buffered_bytes += size

    def clear(self) -> None:
        self.buffer.clear()
        self.buffered_bytes = 0

    def full(self, batch_size: int) -> bool:
        """Holds `BUFFER_BATCHES` batches (or as many times 6 MB): stop fetching until it drains."""
        return len(self.buffer) >= batch_size * BUFFER_BATCHES or (
            self.buffered_bytes >= BUFFER_BATCHES * MAX_PAYLOAD_BYTES
        )

    def closed_batch(self, now: float, batch_size: int, window_s: float) -> list[Record] | None:
        """Take the next batch if it has closed (BatchSize, 6 MB or the batching window)."""
        if not self.buffer or self.hold_until > now:
            return None
        full = len(self.buffer) >= batch_size or self.buffered_bytes >= MAX_PAYLOAD_BYTES
        if full or self.first_at + window_s <= now:
            return self._take_batch(batch_size)
        return None

    def window_left(self, now: float, window_s: float) -> float | None:
        """Time until the batching window of the waiting records closes; None when none wait."""
        if not self.buffer or self.hold_until > now:
            return None
        return self.first_at + window_s - now

    def _take_batch(self, batch_size: int) -> list[Record]:
        count = min(len(self.buffer), batch_size)
        batch = self.buffer[:count]
        size = payload_size(batch)
        while size > MAX_PAYLOAD_BYTES and len(batch) > 1:
            size -= payload_size([batch.pop()])
        del self.buffer[: len(batch)]
        self.buffered_bytes = max(0, self.buffered_bytes - size) if self.buffer else 0
        return batch
