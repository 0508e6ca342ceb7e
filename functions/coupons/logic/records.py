"""Turning a Kafka record into an IssueRequested, or into a reason why it never can be."""

from __future__ import annotations

from common.kafka_records import KafkaRecord, decode_json_value, require_key
from coupons.models.events import IssueRequested


def decode_issue_request(record: KafkaRecord) -> IssueRequested:
    """Raise NonRetryableRecord if the record can never be processed."""
    request = decode_json_value(record, IssueRequested)
    require_key(record, request.couponId, "couponId")
    return request
