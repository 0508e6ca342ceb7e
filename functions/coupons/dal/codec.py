"""Items <-> DynamoDB attribute values (low-level client format). Attribute names are camelCase."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from common.ddb.attrs import Attrs, ReadAttrs
from coupons.models.items import (
    COUPON_SK,
    REQUEST_SK,
    CouponItem,
    IssuedCouponItem,
    RequestOutcomeItem,
    coupon_pk,
    request_pk,
    user_sk,
)
from coupons.models.types import RejectReason, RequestStatus, iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def key(pk: str, sk: str) -> Attrs:
    return {"pk": s(pk), "sk": s(sk)}


def coupon_key(coupon_id: str) -> Attrs:
    return key(coupon_pk(coupon_id), COUPON_SK)


def issued_key(coupon_id: str, user_id: str) -> Attrs:
    return key(coupon_pk(coupon_id), user_sk(user_id))


def outcome_key(request_id: UUID | str) -> Attrs:
    return key(request_pk(request_id), REQUEST_SK)


def _get_s(item: ReadAttrs, name: str) -> str:
    return str(item[name]["S"])


def _opt_time(item: ReadAttrs, name: str) -> datetime | None:
    return datetime.fromisoformat(item[name]["S"]) if name in item else None


def _time(item: ReadAttrs, name: str) -> datetime:
    return datetime.fromisoformat(item[name]["S"])


def coupon_to_item(coupon: CouponItem) -> Attrs:
    item: Attrs = {
        **coupon_key(coupon.coupon_id),
        "couponId": s(coupon.coupon_id),
        "name": s(coupon.name),
        "totalQuantity": n(coupon.total_quantity),
        "issuedQuantity": n(coupon.issued_quantity),
        "createdAt": s(iso(coupon.created_at)),
    }
    if coupon.starts_at is not None:
        item["startsAt"] = s(iso(coupon.starts_at))
    if coupon.ends_at is not None:
        item["endsAt"] = s(iso(coupon.ends_at))
    return item


def coupon_from_item(item: ReadAttrs) -> CouponItem:
    return CouponItem(
        coupon_id=_get_s(item, "couponId"),
        name=_get_s(item, "name"),
        total_quantity=int(item["totalQuantity"]["N"]),
        issued_quantity=int(item["issuedQuantity"]["N"]),
        starts_at=_opt_time(item, "startsAt"),
        ends_at=_opt_time(item, "endsAt"),
        created_at=_time(item, "createdAt"),
    )


def issued_to_item(issued: IssuedCouponItem) -> Attrs:
    return {
        **issued_key(issued.coupon_id, issued.user_id),
        "gsi1pk": s(f"USER#{issued.user_id}"),
        "gsi1sk": s(coupon_pk(issued.coupon_id)),
        "couponId": s(issued.coupon_id),
        "userId": s(issued.user_id),
        "requestId": s(str(issued.request_id)),
        "issuedAt": s(iso(issued.issued_at)),
    }


def issued_from_item(item: ReadAttrs) -> IssuedCouponItem:
    return IssuedCouponItem(
        coupon_id=_get_s(item, "couponId"),
        user_id=_get_s(item, "userId"),
        request_id=UUID(_get_s(item, "requestId")),
        issued_at=_time(item, "issuedAt"),
    )


def outcome_to_item(outcome: RequestOutcomeItem) -> Attrs:
    item: Attrs = {
        **outcome_key(outcome.request_id),
        "requestId": s(str(outcome.request_id)),
        "couponId": s(outcome.coupon_id),
        "userId": s(outcome.user_id),
        "status": s(outcome.status.value),
        "requestedAt": s(iso(outcome.requested_at)),
        "processedAt": s(iso(outcome.processed_at)),
    }
    if outcome.reason is not None:
        item["reason"] = s(outcome.reason.value)
    return item


def outcome_from_item(item: ReadAttrs) -> RequestOutcomeItem:
    return RequestOutcomeItem(
        request_id=UUID(_get_s(item, "requestId")),
        coupon_id=_get_s(item, "couponId"),
        user_id=_get_s(item, "userId"),
        status=RequestStatus(_get_s(item, "status")),
        reason=RejectReason(_get_s(item, "reason")) if "reason" in item else None,
        requested_at=_time(item, "requestedAt"),
        processed_at=_time(item, "processedAt"),
    )
