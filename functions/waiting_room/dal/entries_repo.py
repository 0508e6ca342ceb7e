"""Entries: positioning transactions, the poll's reads, heartbeats, leaving, completing, tokens.

Positions are written with the concert's counter in one TransactWriteItems: the counter moves from the
value the decision read to old + k only if it still has that value, and each entry and user pointer is
put only if absent (or, for the pointer, if it still names the user's previous, ended entry). So a
racing consumer, a redelivered batch or a crash between chunks can never give two entries one
position, skip a position, or give a user two live entries; a cancelled transaction means "re-read".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from common.ddb.attrs import Attrs
from common.ddb.batch_get import batch_get
from waiting_room.dal.codec import (
    alias_to_item,
    concert_from_item,
    concert_key,
    entry_key,
    entry_or_alias_from_item,
    entry_to_item,
    pointer_from_item,
    pointer_key,
    pointer_to_item,
    position_sk,
    queue_index_pk,
    to_attrs,
)
from waiting_room.errors import Conflict
from waiting_room.models.items import AliasItem, ConcertItem, EntryItem, UserPointer
from waiting_room.models.plans import GroupPlan
from waiting_room.models.types import EntryState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

MAX_ACTIONS = 100


def _is_cancelled(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in (
        "TransactionCanceledException",
        "ConditionalCheckFailedException",
    )


class EntryRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # --- the entry consumer -------------------------------------------------------------------

    def read_group(
        self, concert_id: str, entry_ids: Sequence[str], user_ids: Sequence[str]
    ) -> tuple[ConcertItem | None, dict[str, EntryItem | AliasItem], dict[str, UserPointer]]:
        """The concert first (its counter is what the decision's transaction is conditioned on), then
        the requests' own entries, the users' pointers, and the entries those point to."""
        found = self._client.get_item(TableName=self._table, Key=concert_key(concert_id), ConsistentRead=True)
        concert = concert_from_item(found["Item"]) if "Item" in found else None
        keys = [entry_key(e) for e in dict.fromkeys(entry_ids)] + [
            pointer_key(concert_id, u) for u in dict.fromkeys(user_ids)
        ]
        existing: dict[str, EntryItem | AliasItem] = {}
        pointers: dict[str, UserPointer] = {}
        for item in batch_get(self._client, self._table, keys):
            if item["pk"]["S"].startswith("ENTRY#"):
                entry = entry_or_alias_from_item(item)
                existing[entry.entry_id] = entry
            else:
                pointer = pointer_from_item(item)
                pointers[pointer.user_id] = pointer
        missing = [entry_key(p.entry_id) for p in pointers.values() if p.entry_id not in existing]
        for item in batch_get(self._client, self._table, missing):
            entry = entry_or_alias_from_item(item)
            existing[entry.entry_id] = entry
        return concert, existing, pointers

    def write_plan(self, concert: ConcertItem, plan: GroupPlan) -> int:
        """Commit the plan in transactions of at most 100 actions; returns how many. Raises Conflict
        when one is cancelled (earlier ones stay committed; they are found by the re-read)."""
        chunks: list[list[TransactWriteItemTypeDef]] = []
        current: list[TransactWriteItemTypeDef] = []
        position = concert.last_position
        counter_from = position
        for new in plan.new_entries:
            if len(current) + 2 > MAX_ACTIONS - 1:
                chunks.append([self._counter(concert.concert_id, counter_from, position), *current])
                current, counter_from = [], position
            current.append(self._put(entry_to_item(new.entry)))
            current.append(self._put_pointer(new.entry, new.replaces))
            position = new.entry.position
        for alias in plan.aliases:
            if len(current) + 1 > MAX_ACTIONS - 1:
                chunks.append([self._counter(concert.concert_id, counter_from, position), *current])
                current, counter_from = [], position
            current.append(self._put(alias_to_item(alias)))
        if current:
            chunks.append([self._counter(concert.concert_id, counter_from, position), *current])
        for chunk in chunks:
            try:
                self._client.transact_write_items(TransactItems=chunk)
            except ClientError as error:
                if _is_cancelled(error):
                    raise Conflict("positioning transaction cancelled") from error
                raise
        return len(chunks)

    def _counter(self, concert_id: str, old: int, new: int) -> TransactWriteItemTypeDef:
        return {
            "Update": {
                "TableName": self._table,
                "Key": concert_key(concert_id),
                "UpdateExpression": "SET lastPosition = :new",
                "ConditionExpression": "lastPosition = :old",
                "ExpressionAttributeValues": {":new": {"N": str(new)}, ":old": {"N": str(old)}},
            }
        }

    def _put(self, item: Attrs) -> TransactWriteItemTypeDef:
        return {
            "Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        }

    def _put_pointer(self, entry: EntryItem, replaces: str | None) -> TransactWriteItemTypeDef:
        item = pointer_to_item(UserPointer(entry.concert_id, entry.user_id, entry.entry_id))
        if replaces is None:
            return self._put(item)
        return {
            "Put": {
                "TableName": self._table,
                "Item": item,
                "ConditionExpression": "entryId = :previous",
                "ExpressionAttributeValues": {":previous": {"S": replaces}},
            }
        }

    # --- the API --------------------------------------------------------------------------------

    def read_for_poll(
        self, entry_id: str, concert_id: str
    ) -> tuple[EntryItem | AliasItem | None, ConcertItem | None]:
        """The entry and its concert in one BatchGetItem (two item reads)."""
        entry: EntryItem | AliasItem | None = None
        concert: ConcertItem | None = None
        for item in batch_get(self._client, self._table, [entry_key(entry_id), concert_key(concert_id)]):
            if item["sk"]["S"] == "META":
                concert = concert_from_item(item)
            else:
                entry = entry_or_alias_from_item(item)
        return entry, concert

    def get_entry(self, entry_id: str) -> EntryItem | AliasItem | None:
        found = self._client.get_item(TableName=self._table, Key=entry_key(entry_id), ConsistentRead=True)
        return entry_or_alias_from_item(found["Item"]) if "Item" in found else None

    def read_user_entry(self, concert_id: str, user_id: str) -> tuple[ConcertItem | None, EntryItem | None]:
        """For entering: the concert and the user's latest entry, if any."""
        concert: ConcertItem | None = None
        pointer: UserPointer | None = None
        for item in batch_get(
            self._client, self._table, [concert_key(concert_id), pointer_key(concert_id, user_id)]
        ):
            if item["sk"]["S"] == "META":
                concert = concert_from_item(item)
            else:
                pointer = pointer_from_item(item)
        if pointer is None:
            return concert, None
        entry = self.get_entry(pointer.entry_id)
        return concert, entry if isinstance(entry, EntryItem) else None

    def touch(self, entry_id: str, now_ms: int) -> None:
        """The heartbeat. Conditional on still waiting, so it can never undo an abandonment."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=entry_key(entry_id),
                UpdateExpression="SET lastSeenMs = :now",
                ConditionExpression="#state = :positioned AND lastSeenMs < :now",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=to_attrs(
                    {":now": now_ms, ":positioned": EntryState.POSITIONED.value}
                ),
            )
        except ClientError as error:
            if not _is_cancelled(error):
                raise

    def end_waiting(self, entry: EntryItem, state: EntryState) -> None:
        """A waiting entry leaves. Bumps the concert's version so an admission step that walked it
        before this commit is walked again (it must not admit someone who left)."""
        self._end(
            entry,
            state,
            {
                "Update": {
                    "TableName": self._table,
                    "Key": concert_key(entry.concert_id),
                    "UpdateExpression": "ADD version :one, leftWaiting :one, leftCount :one",
                    "ConditionExpression": "nextPosition <= :position",
                    "ExpressionAttributeValues": to_attrs({":one": 1, ":position": entry.position}),
                }
            },
        )

    def end_active(self, entry: EntryItem, state: EntryState, admission_seq: int) -> None:
        """An active entry leaves or completes: its admission's `ended` frees the slot."""
        counter = "completedCount" if state is EntryState.COMPLETED else "leftCount, leftActiveCount"
        adds = ", ".join(f"{name} :one" for name in counter.split(", "))
        self._end(
            entry,
            state,
            {
                "Update": {
                    "TableName": self._table,
                    "Key": concert_key(entry.concert_id),
                    "UpdateExpression": f"SET admissions.#seq.e = admissions.#seq.e + :one ADD {adds}",
                    "ConditionExpression": "attribute_exists(admissions.#seq)",
                    "ExpressionAttributeNames": {"#seq": str(admission_seq)},
                    "ExpressionAttributeValues": to_attrs({":one": 1}),
                }
            },
        )

    def _end(self, entry: EntryItem, state: EntryState, concert_update: TransactWriteItemTypeDef) -> None:
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": entry_key(entry.entry_id),
                            "UpdateExpression": "SET #state = :state",
                            "ConditionExpression": "#state = :positioned",
                            "ExpressionAttributeNames": {"#state": "state"},
                            "ExpressionAttributeValues": to_attrs(
                                {":state": state.value, ":positioned": EntryState.POSITIONED.value}
                            ),
                        }
                    },
                    concert_update,
                ]
            )
        except ClientError as error:
            if _is_cancelled(error):
                raise Conflict(f"entry {entry.entry_id} or its concert moved") from error
            raise

    def set_token(self, entry_id: str, token: str, expires_ms: int) -> str:
        """Store the entry's token unless one is stored already; returns the stored one (so two first
        calls racing both return the same token)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=entry_key(entry_id),
                UpdateExpression="SET #token = :token, tokenExpiresMs = :exp",
                ConditionExpression="attribute_not_exists(#token)",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues=to_attrs({":token": token, ":exp": expires_ms}),
            )
            return token
        except ClientError as error:
            if not _is_cancelled(error):
                raise
        stored = self.get_entry(entry_id)
        assert isinstance(stored, EntryItem) and stored.token is not None
        return stored.token

    def walk(self, concert_id: str, from_position: int, limit: int) -> list[EntryItem]:
        """Consecutive entries from `from_position` on (the GSI, in position order). Stops at the first
        gap: a position the index does not show yet (GSIs are eventually consistent on AWS)."""
        entries: list[EntryItem] = []
        expected = from_position
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk AND gsi1sk >= :from",
            "ExpressionAttributeValues": {
                ":pk": {"S": queue_index_pk(concert_id)},
                ":from": {"S": position_sk(from_position)},
            },
            "Limit": min(limit, 1000),
        }
        while len(entries) < limit:
            page = self._client.query(**kwargs)
            for item in page.get("Items", []):
                entry = entry_or_alias_from_item(item)
                if not isinstance(entry, EntryItem) or entry.position != expected:
                    return entries
                entries.append(entry)
                expected += 1
                if len(entries) >= limit:
                    return entries
            if "LastEvaluatedKey" not in page:
                return entries
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return entries

    def mark_abandoned(self, entry: EntryItem, cutoff_ms: int) -> bool:
        """True when the entry was still waiting and silent since before `cutoff_ms`."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=entry_key(entry.entry_id),
                UpdateExpression="SET #state = :abandoned",
                ConditionExpression="#state = :positioned AND lastSeenMs < :cutoff",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=to_attrs(
                    {
                        ":abandoned": EntryState.ABANDONED.value,
                        ":positioned": EntryState.POSITIONED.value,
                        ":cutoff": cutoff_ms,
                    }
                ),
            )
            return True
        except ClientError as error:
            if _is_cancelled(error):
                return False
            raise
