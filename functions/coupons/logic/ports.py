"""What the logic needs from the outside world; the DAL and the Kafka publisher satisfy these."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from coupons.models.decisions import Allocation, GroupState
from coupons.models.items import CouponItem, IssuedCouponItem, RequestOutcomeItem


class CouponStore(Protocol):
    def create_coupon(self, coupon: CouponItem) -> None:
        """Raise CouponAlreadyExists if the id is taken."""
        ...

    def get_coupon(self, coupon_id: str) -> CouponItem | None: ...

    def get_outcome(self, request_id: UUID) -> RequestOutcomeItem | None: ...

    def list_user_coupons(self, user_id: str) -> list[IssuedCouponItem]: ...


class IssuerStore(Protocol):
    def read_group_state(
        self, coupon_id: str, request_ids: Sequence[UUID], user_ids: Sequence[str]
    ) -> GroupState:
        """The coupon, then the users among `user_ids` who hold it (with the request that issued
        it) and the requests among `request_ids` that have an outcome row."""
        ...

    def write_allocation(
        self, allocation: Allocation, coupon: CouponItem | None, processed_at: datetime
    ) -> int:
        """Persist the decision: issue in chunked transactions, then write the outcome rows; return
        the number of transactions.

        Raise WriteRejected when a transaction is cancelled (earlier ones stay committed).
        """
        ...
