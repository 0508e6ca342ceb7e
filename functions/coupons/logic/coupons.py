"""API-side use cases. Issuing only publishes: the DynamoDB work happens in the issuer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from common import correlation
from common.ports import Publisher
from common.types import utc_now
from coupons.logic.ports import CouponStore
from coupons.models.api import CreateCouponRequest
from coupons.models.events import IssueRequested
from coupons.models.items import CouponItem, IssuedCouponItem, RequestOutcomeItem

JSON_HEADERS = (("content-type", b"application/json"),)


class CouponService:
    def __init__(
        self,
        store: CouponStore,
        publisher: Publisher,
        issue_topic: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], UUID] = uuid.uuid4,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._issue_topic = issue_topic
        self._clock = clock
        self._new_id = new_id

    def create_coupon(self, request: CreateCouponRequest) -> CouponItem:
        coupon = CouponItem(
            coupon_id=request.couponId or str(self._new_id()),
            name=request.name,
            total_quantity=request.totalQuantity,
            issued_quantity=0,
            starts_at=request.startsAt,
            ends_at=request.endsAt,
            created_at=self._clock(),
        )
        self._store.create_coupon(coupon)
        return coupon

    def get_coupon(self, coupon_id: str) -> CouponItem | None:
        return self._store.get_coupon(coupon_id)

    def request_issue(
        self, coupon_id: str, user_id: str, correlation_id: str | None = None
    ) -> IssueRequested:
        """Publish the request (key = couponId, so one coupon's requests stay ordered on one partition).

        Returns only after the broker acknowledged; the publisher's error propagates otherwise.
        """
        event = IssueRequested(
            requestId=self._new_id(), couponId=coupon_id, userId=user_id, requestedAt=self._clock()
        )
        headers = JSON_HEADERS + correlation.kafka_header(correlation_id)
        self._publisher.publish(
            self._issue_topic, coupon_id.encode(), event.model_dump_json().encode(), headers
        )
        return event

    def get_outcome(self, request_id: UUID) -> RequestOutcomeItem | None:
        return self._store.get_outcome(request_id)

    def list_user_coupons(self, user_id: str) -> list[IssuedCouponItem]:
        return self._store.list_user_coupons(user_id)
