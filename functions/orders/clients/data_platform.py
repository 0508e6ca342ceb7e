"""The data platform's HTTP endpoint: one POST per event, JSON body, the eventId as Idempotency-Key.
The standard library's client is enough for one small POST and adds no dependency to the package."""

from __future__ import annotations

import urllib.error
import urllib.request

from common.outbox.envelope import EventEnvelope
from orders.logic.data_platform import DeliveryFailed, DeliveryRejected

RETRYABLE_STATUSES = {408, 429}


class HttpDataPlatform:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def send(self, envelope: EventEnvelope, correlation_id: str | None) -> None:
        headers = {"content-type": "application/json", "idempotency-key": envelope.eventId}
        if correlation_id:
            headers["x-correlation-id"] = correlation_id
        request = urllib.request.Request(
            self.url, data=envelope.model_dump_json().encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = f"{self.url} answered {exc.code}"
            if exc.code >= 500 or exc.code in RETRYABLE_STATUSES:
                raise DeliveryFailed(detail) from exc
            raise DeliveryRejected(detail) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise DeliveryFailed(f"{self.url} unreachable: {exc}") from exc
