"""The real outbox relay, made to crash once mid-batch: while the flag file exists, the first batch
of two or more records has its first half published, then the worker dies before answering (the
flag is removed first, so the retried batch goes through). Kafka then holds copies of that half."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from common.outbox.handlers import relay


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    flag = Path(os.environ["RELAY_CRASH_FLAG"])
    records = event.get("Records") or []
    if flag.exists() and len(records) >= 2:
        flag.unlink()
        relay.get_relay().process(records[: len(records) // 2])
        os._exit(17)
    return relay.lambda_handler(event, context)
