"""The concert item: settings (created or updated by PUT), pause, and the admission record."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from common.types import iso
from waiting_room.dal.codec import (
    admission_values,
    concert_from_item,
    concert_key,
    from_attrs,
    registry_key,
    settings_values,
    to_attrs,
)
from waiting_room.errors import ConcertNotFound, Conflict
from waiting_room.models.items import Admission, ConcertItem, QueueSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


# A new concert's queue state; settings updates never touch these.
_INITIAL_STATE: dict[str, Any] = {
    "paused": False,
    "lastPosition": 0,
    "nextPosition": 1,
    "lastAdmissionMs": 0,
    "admissionSeq": 0,
    "admissions": {},
    "admittedCount": 0,
    "abandonedCount": 0,
    "leftWaiting": 0,
    "leftCount": 0,
    "leftActiveCount": 0,
    "completedCount": 0,
    "version": 0,
}


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class ConcertRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, concert_id: str) -> ConcertItem | None:
        item = self._client.get_item(TableName=self._table, Key=concert_key(concert_id), ConsistentRead=True)
        return concert_from_item(item["Item"]) if "Item" in item else None

    def put(
        self, concert_id: str, name: str, settings: QueueSettings, seat_count: int, now: datetime
    ) -> bool:
        """Create the concert (True) or update its settings, keeping its queue state (False)."""
        values = {"concertId": concert_id, "name": name, "seatCount": seat_count, **settings_values(settings)}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                **concert_key(concert_id),
                                **to_attrs(
                                    {**values, **_INITIAL_STATE, "createdAt": iso(now), "updatedAt": iso(now)}
                                ),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {**registry_key(concert_id), **to_attrs({"concertId": concert_id})},
                        }
                    },
                ]
            )
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
        updates = {**values, "updatedAt": iso(now)}
        removed = [name for name, value in updates.items() if value is None]
        kept = {name: value for name, value in updates.items() if value is not None}
        expression = "SET " + ", ".join(f"#{name} = :{name}" for name in kept)
        if removed:
            expression += " REMOVE " + ", ".join(f"#{name}" for name in removed)
        self._client.update_item(
            TableName=self._table,
            Key=concert_key(concert_id),
            UpdateExpression=expression,
            ExpressionAttributeNames={f"#{name}": name for name in updates},
            ExpressionAttributeValues=to_attrs({f":{name}": value for name, value in kept.items()}),
        )
        return False

    def set_paused(self, concert_id: str, paused: bool) -> ConcertItem:
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=concert_key(concert_id),
                UpdateExpression="SET paused = :p",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":p": {"BOOL": paused}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _condition_failed(error):
                raise ConcertNotFound(concert_id) from error
            raise
        return concert_from_item(response["Attributes"])

    def list_ids(self) -> list[str]:
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "QUEUES"}},
        }
        while True:
            page = self._client.query(**kwargs)
            ids.extend(from_attrs(item)["concertId"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def commit_admission(
        self,
        concert: ConcertItem,
        admission: Admission | None,
        next_position: int,
        abandoned: int,
        skipped_left: int,
        now_ms: int,
    ) -> None:
        """Record one step; Conflict when the concert moved since `concert` was read (another
        admitter, or a user leaving while waiting), so the step must be walked again."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {
            ":next": next_position,
            ":seenNext": concert.next_position,
            ":version": concert.version,
            ":abandoned": abandoned,
            ":left": -skipped_left,
        }
        sets = ["nextPosition = :next"]
        adds = ["abandonedCount :abandoned", "leftWaiting :left"]
        if admission is not None:
            names["#seq"] = str(admission.seq)
            values.update(
                {
                    ":batch": admission_values(admission),
                    ":at": now_ms,
                    ":n": admission.admitted,
                    ":seq": admission.seq,
                }
            )
            sets += ["admissions.#seq = :batch", "lastAdmissionMs = :at", "admissionSeq = :seq"]
            adds.append("admittedCount :n")
        # Sessions that ended are dropped: their entries read EXPIRED (below nextPosition, no admission).
        expired = [a.seq for a in concert.admissions.values() if a.until_ms <= now_ms]
        removes = []
        for i, seq in enumerate(expired):
            names[f"#old{i}"] = str(seq)
            removes.append(f"admissions.#old{i}")
        expression = "SET " + ", ".join(sets) + " ADD " + ", ".join(adds)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": concert_key(concert.concert_id),
            "UpdateExpression": expression,
            "ConditionExpression": "nextPosition = :seenNext AND version = :version",
            "ExpressionAttributeValues": to_attrs(values),
        }
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            self._client.update_item(**request)
        except ClientError as error:
            if _condition_failed(error):
                raise Conflict(f"concert {concert.concert_id} moved during admission") from error
            raise
