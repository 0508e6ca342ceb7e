"""The real coupon issuer behind a switch: while the flag file exists, a batch holding a record keyed
by a coupon id listed in it fails (an outage of a dependency, say); once the file is gone the same
records succeed. Poison records still reach the issuer, which dead-letters them itself."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from coupons.handlers import issuer


def _blocked_coupons() -> set[str]:
    flag = Path(os.environ["FLAKY_FLAG_FILE"])
    try:
        return set(flag.read_text().split())
    except FileNotFoundError:
        return set()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    blocked = _blocked_coupons()
    if blocked:
        for records in event.get("records", {}).values():
            for record in records:
                key = base64.b64decode(record["key"]).decode("utf-8", "replace") if "key" in record else ""
                if key in blocked:
                    raise RuntimeError(f"coupon {key}: dependency unavailable (flag file is set)")
    return issuer.lambda_handler(event, context)
