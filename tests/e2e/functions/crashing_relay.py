"""The real outbox relay, made to crash once mid-batch: while the flag file exists, the first batch
holding two or more records that occurred at or after the time written in the flag (the test's own
events) is published up to and including the first of them, then the worker dies before answering
(the flag is removed first, so the retried batch goes through). Kafka then holds two copies of that
event: one from before the crash, one from the retry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from common.outbox.handlers import relay


def _occurred_at(record: dict[str, Any]) -> str:
    image = (record.get("dynamodb") or {}).get("NewImage") or {}
    return str((image.get("occurredAt") or {}).get("S", ""))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    flag = Path(os.environ["RELAY_CRASH_FLAG"])
    records = event.get("Records") or []
    since = flag.read_text().strip() if flag.exists() else None
    ours = [i for i, record in enumerate(records) if since and _occurred_at(record) >= since]
    if len(ours) >= 2:
        flag.unlink()
        relay.get_relay().process(records[: ours[0] + 1])
        os._exit(17)
    return relay.lambda_handler(event, context)
