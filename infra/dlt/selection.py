"""Which dead letters a `show` or `redrive` is about: --reason, --since, --until.

Times are when the message was dead-lettered (its Kafka timestamp in the DLT). `--since`/`--until`
take ISO 8601 (`2026-12-02T02:00:00Z`, `2026-12-02`; no zone = UTC) or a duration back from now
(`90s`, `30m`, `2h`, `1d`). `--since` is inclusive, `--until` exclusive.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from infra.dlt.messages import DeadLetter

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, *, now: float | None = None) -> int:
    """Epoch milliseconds; raises argparse.ArgumentTypeError with the accepted forms."""
    text = text.strip()
    ago = _AGO.match(text)
    if ago:
        seconds = float(ago.group(1)) * _UNIT_SECONDS[ago.group(2)]
        return int(((time.time() if now is None else now) - seconds) * 1000)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use ISO 8601 (2026-12-02T02:00:00Z) or a duration ago (30m, 2h, 1d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Selection:
    reason: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    def __post_init__(self) -> None:
        if self.since_ms is not None and self.until_ms is not None and self.since_ms >= self.until_ms:
            raise ValueError("--since must be before --until")

    def matches(self, letter: DeadLetter) -> bool:
        return self.matches_time(letter.dlt_timestamp_ms) and (
            self.reason is None or letter.matches_reason(self.reason)
        )

    def matches_time(self, timestamp_ms: int) -> bool:
        if self.since_ms is not None and timestamp_ms < self.since_ms:
            return False
        return self.until_ms is None or timestamp_ms < self.until_ms


def fingerprint(*values: object) -> str:
    """Short, stable id of a re-drive's options, for naming its consumer group."""
    text = json.dumps(list(values), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]
