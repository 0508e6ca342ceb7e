"""Item layout of the concerts table (one table, pk/sk strings, gsi1 for the admission walk).

pk=CONCERT#<c>  sk=META            the concert: settings, position counter, admission record
pk=CONCERT#<c>  sk=USER#<u>        the user's latest entry id (the one-live-entry condition)
pk=ENTRY#<id>   sk=ENTRY           an entry (gsi1pk=QUEUE#<c>, gsi1sk=position, 12 digits) or an alias
pk=QUEUES       sk=CONCERT#<c>     the list of concerts admission runs for
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from common.ddb.attrs import Attrs, ReadAttrs
from common.types import iso
from waiting_room.models.items import Admission, AliasItem, ConcertItem, EntryItem, QueueSettings, UserPointer
from waiting_room.models.types import EntryState

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_attrs(values: dict[str, Any]) -> Attrs:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def from_attrs(item: ReadAttrs) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def key(pk: str, sk: str) -> Attrs:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def concert_key(concert_id: str) -> Attrs:
    return key(f"CONCERT#{concert_id}", "META")


def pointer_key(concert_id: str, user_id: str) -> Attrs:
    return key(f"CONCERT#{concert_id}", f"USER#{user_id}")


def entry_key(entry_id: str) -> Attrs:
    return key(f"ENTRY#{entry_id}", "ENTRY")


def registry_key(concert_id: str) -> Attrs:
    return key("QUEUES", f"CONCERT#{concert_id}")


def queue_index_pk(concert_id: str) -> str:
    return f"QUEUE#{concert_id}"


def position_sk(position: int) -> str:
    return f"{position:012d}"


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC) if value else None


def settings_values(settings: QueueSettings) -> dict[str, Any]:
    return {
        "admitPerInterval": settings.admit_per_interval,
        "intervalSeconds": settings.interval_seconds,
        "maxActive": settings.max_active,
        "sessionSeconds": settings.session_seconds,
        "heartbeatSeconds": settings.heartbeat_seconds,
        "opensAt": iso(settings.opens_at) if settings.opens_at else None,
    }


def admission_values(admission: Admission) -> dict[str, int]:
    return {
        "f": admission.first,
        "t": admission.last,
        "n": admission.admitted,
        "u": admission.until_ms,
        "e": admission.ended,
    }


def concert_from_item(item: ReadAttrs) -> ConcertItem:
    v = from_attrs(item)
    admissions = {
        int(seq): Admission(int(seq), int(a["f"]), int(a["t"]), int(a["n"]), int(a["u"]), int(a.get("e", 0)))
        for seq, a in (v.get("admissions") or {}).items()
    }
    created = _time(v["createdAt"])
    assert created is not None
    return ConcertItem(
        concert_id=v["concertId"],
        name=v["name"],
        settings=QueueSettings(
            admit_per_interval=int(v["admitPerInterval"]),
            interval_seconds=int(v["intervalSeconds"]),
            max_active=int(v["maxActive"]),
            session_seconds=int(v["sessionSeconds"]),
            heartbeat_seconds=int(v["heartbeatSeconds"]),
            opens_at=_time(v.get("opensAt")),
        ),
        seat_count=int(v.get("seatCount", 0)),
        created_at=created,
        paused=bool(v.get("paused", False)),
        last_position=int(v.get("lastPosition", 0)),
        next_position=int(v.get("nextPosition", 1)),
        last_admission_ms=int(v.get("lastAdmissionMs", 0)),
        admission_seq=int(v.get("admissionSeq", 0)),
        admissions=admissions,
        admitted_count=int(v.get("admittedCount", 0)),
        abandoned_count=int(v.get("abandonedCount", 0)),
        left_waiting=int(v.get("leftWaiting", 0)),
        left_count=int(v.get("leftCount", 0)),
        left_active_count=int(v.get("leftActiveCount", 0)),
        completed_count=int(v.get("completedCount", 0)),
        version=int(v.get("version", 0)),
    )


def entry_to_item(entry: EntryItem) -> Attrs:
    return {
        **entry_key(entry.entry_id),
        **to_attrs(
            {
                "entryId": entry.entry_id,
                "concertId": entry.concert_id,
                "userId": entry.user_id,
                "position": entry.position,
                "state": entry.state.value,
                "requestedAt": iso(entry.requested_at),
                "positionedAt": iso(entry.positioned_at),
                "lastSeenMs": entry.last_seen_ms,
                "correlationId": entry.correlation_id,
                "gsi1pk": queue_index_pk(entry.concert_id),
                "gsi1sk": position_sk(entry.position),
            }
        ),
    }


def alias_to_item(alias: AliasItem) -> Attrs:
    return {
        **entry_key(alias.entry_id),
        **to_attrs(
            {
                "entryId": alias.entry_id,
                "aliasOf": alias.alias_of,
                "concertId": alias.concert_id,
                "userId": alias.user_id,
            }
        ),
    }


def pointer_to_item(pointer: UserPointer) -> Attrs:
    return {
        **pointer_key(pointer.concert_id, pointer.user_id),
        **to_attrs({"entryId": pointer.entry_id, "userId": pointer.user_id}),
    }


def entry_or_alias_from_item(item: ReadAttrs) -> EntryItem | AliasItem:
    v = from_attrs(item)
    if "aliasOf" in v:
        return AliasItem(v["entryId"], v["aliasOf"], v["concertId"], v["userId"])
    requested, positioned = _time(v["requestedAt"]), _time(v["positionedAt"])
    assert requested is not None and positioned is not None
    return EntryItem(
        entry_id=v["entryId"],
        concert_id=v["concertId"],
        user_id=v["userId"],
        position=int(v["position"]),
        state=EntryState(v["state"]),
        requested_at=requested,
        positioned_at=positioned,
        last_seen_ms=int(v["lastSeenMs"]),
        correlation_id=v.get("correlationId"),
        token=v.get("token"),
        token_expires_ms=int(v["tokenExpiresMs"]) if "tokenExpiresMs" in v else None,
    )


def pointer_from_item(item: ReadAttrs) -> UserPointer:
    v = from_attrs(item)
    return UserPointer(v["pk"].removeprefix("CONCERT#"), v["userId"], v["entryId"])
