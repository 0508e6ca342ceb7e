"""The entry consumer and admission against a moto table: positions stay gapless and unique under
redelivery, a crash between transactions and a racing consumer; admission never admits someone who
left; two first token calls return one token; a poll costs one BatchGetItem."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from common.kafka_records import KafkaEvent
from tests.unit.coupons.conftest import create_table
from tests.unit.coupons.support import ClientProxy, FakePublisher, b64, kafka_event, kafka_record
from waiting_room.dal.concerts_repo import ConcertRepository
from waiting_room.dal.entries_repo import EntryRepository
from waiting_room.logic import admitter as admitter_module
from waiting_room.logic.admitter import Admitter
from waiting_room.logic.entry_service import EntryService
from waiting_room.logic.queue_service import QueueService, WrongStatus
from waiting_room.logic.status import EntryView
from waiting_room.models.api import PutConcertRequest
from waiting_room.models.events import EntryRequested
from waiting_room.models.items import ConcertItem, QueueSettings
from waiting_room.models.types import EntryState, EntryStatus

TABLE = "test-concerts"
TOPIC = "queue.entry-requested"
DLT = "queue.entry-requested.dlt"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class NoSeats:
    def create_seats(self, concert_id: str, seat_ids: Sequence[str]) -> int:
        return 0


class CountingClient(ClientProxy):
    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if callable(attr):
            self.calls.append(name)
        return attr


class CrashAfter(ClientProxy):
    """Raises after `n` successful transactions: the function dies mid-batch."""

    def __init__(self, client: Any, n: int) -> None:
        super().__init__(client)
        self.left = n

    def transact_write_items(self, **request: Any) -> Any:
        if self.left == 0:
            raise RuntimeError("crash")
        self.left -= 1
        return self._client.transact_write_items(**request)


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        yield client


def concert_of(ddb: Any) -> ConcertItem:
    concert = ConcertRepository(ddb, TABLE).get("c1")
    assert concert is not None
    return concert


def poll(queue: QueueService, entry_id: str) -> tuple[str, EntryView]:
    found = queue.poll(entry_id)
    assert found is not None, "not positioned"
    return found


def make_concert(ddb: Any, concert_id: str = "c1", **settings: Any) -> None:
    values = {
        "admit_per_interval": 2,
        "interval_seconds": 10,
        "max_active": 3,
        "session_seconds": 60,
        "heartbeat_seconds": 30,
        "opens_at": None,
    }
    ConcertRepository(ddb, TABLE).put(concert_id, "Concert", QueueSettings(**{**values, **settings}), 10, T0)


def entries_event(requests: list[EntryRequested], first_offset: int = 0) -> KafkaEvent:
    records = [
        kafka_record(r.model_dump_json().encode(), r.concertId.encode(), 0, first_offset + i, topic=TOPIC)
        for i, r in enumerate(requests)
    ]
    return KafkaEvent.model_validate(kafka_event(records))


def ask(user: str, concert: str = "c1") -> EntryRequested:
    return EntryRequested(
        entryId=f"{concert}.{uuid.uuid4().hex}", concertId=concert, userId=user, requestedAt=T0
    )


def service(client: Any, publisher: FakePublisher | None = None) -> EntryService:
    return EntryService(
        EntryRepository(client, TABLE),
        publisher or FakePublisher(),
        DLT,
        clock=lambda: T0,
        sleep=lambda _: None,
    )


def positions(ddb: Any, concert: str = "c1") -> dict[str, int]:
    items = ddb.query(
        TableName=TABLE,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"QUEUE#{concert}"}},
    )["Items"]
    return {item["userId"]["S"]: int(item["position"]["N"]) for item in items}


def test_a_batch_is_positioned_in_record_order_and_redelivery_changes_nothing(ddb):
    make_concert(ddb)
    requests = [ask(f"u{i}") for i in range(120)]  # more than one transaction's worth
    first = service(ddb).process(entries_event(requests))
    assert first.positioned == 120 and first.transactions > 1 and not first.failures
    assert positions(ddb) == {f"u{i}": i + 1 for i in range(120)}
    again = service(ddb).process(entries_event(requests))
    assert again.positioned == 0 and again.already_done == 120
    assert concert_of(ddb).last_position == 120


def test_a_crash_between_transactions_then_redelivery_leaves_no_gap_and_no_duplicate(ddb):
    make_concert(ddb)
    requests = [ask(f"u{i}") for i in range(200)]
    crashed = service(CrashAfter(ddb, 2)).process(entries_event(requests))
    assert crashed.failures  # the group is reported failed: the ESM redelivers it
    assert 0 < len(positions(ddb)) < 200
    service(ddb).process(entries_event(requests))
    assert positions(ddb) == {f"u{i}": i + 1 for i in range(200)}


class RacingClient(ClientProxy):
    """Before this consumer's first transaction, another consumer positions an overlapping batch."""

    def __init__(self, client: Any, racer: Any) -> None:
        super().__init__(client)
        self.racer = racer

    def transact_write_items(self, **request: Any) -> Any:
        if self.racer is not None:
            racer, self.racer = self.racer, None
            racer()
        return self._client.transact_write_items(**request)


def test_two_consumers_on_one_partition_never_share_or_skip_a_position(ddb):
    make_concert(ddb)
    requests = [ask(f"u{i}") for i in range(60)]
    # The racer has the first 40 records, this consumer the first 60 (a rebalance mid-batch): the
    # overlap is caught by the entries' own conditions.
    racing = RacingClient(ddb, lambda: service(ddb).process(entries_event(requests[:40])))
    result = service(racing).process(entries_event(requests))
    assert result.conflicts >= 1
    assert positions(ddb) == {f"u{i}": i + 1 for i in range(60)}


def test_racing_consumers_with_disjoint_records_never_share_a_position(ddb):
    make_concert(ddb)
    ours, theirs = [ask(f"a{i}") for i in range(30)], [ask(f"b{i}") for i in range(20)]
    # No entry overlaps, so only the counter's condition stops both from taking positions 1..n.
    racing = RacingClient(ddb, lambda: service(ddb).process(entries_event(theirs, first_offset=100)))
    result = service(racing).process(entries_event(ours))
    assert result.conflicts >= 1
    taken = positions(ddb)
    assert sorted(taken.values()) == list(range(1, 51))
    assert [taken[f"a{i}"] for i in range(30)] == list(range(21, 51))


def test_a_user_entering_twice_keeps_one_position_and_both_ids_resolve(ddb):
    make_concert(ddb)
    first, second = ask("alice"), ask("alice")
    result = service(ddb).process(entries_event([first, ask("bob"), second]))
    assert (result.positioned, result.aliased) == (2, 1)
    queue = QueueService(
        ConcertRepository(ddb, TABLE),
        EntryRepository(ddb, TABLE),
        NoSeats(),
        FakePublisher(),
        TOPIC,
        clock=lambda: T0,
    )
    canonical, view = poll(queue, second.entryId)
    assert canonical == first.entryId and view.position == 1 and view.status is EntryStatus.WAITING


def test_poison_records_go_to_the_dead_letter_topic_and_the_rest_is_positioned(ddb):
    make_concert(ddb)
    good = ask("alice")
    records = [
        kafka_record(b"{not json", b"c1", 0, 0, topic=TOPIC),
        kafka_record(good.model_dump_json().encode(), b"c1", 0, 1, topic=TOPIC),
        kafka_record(ask("bob").model_dump_json().encode(), b"other", 0, 2, topic=TOPIC),
        kafka_record(ask("carol", "nope").model_dump_json().encode(), b"nope", 0, 3, topic=TOPIC),
    ]
    publisher = FakePublisher()
    result = service(ddb, publisher).process(KafkaEvent.model_validate(kafka_event(records)))
    assert result.positioned == 1 and result.dead_lettered == 3 and not result.failures
    reasons = sorted(m.json()["errorType"] for m in publisher.on(DLT))
    assert reasons == ["ConcertNotFound", "InvalidJson", "KeyMismatch"]
    assert publisher.on(DLT)[0].json()["payload"]["records"]["queue.entry-requested-0"][0]["value"] == b64(
        b"{not json"
    )


def queue_service(ddb: Any, now: datetime) -> QueueService:
    return QueueService(
        ConcertRepository(ddb, TABLE),
        EntryRepository(ddb, TABLE),
        NoSeats(),
        FakePublisher(),
        TOPIC,
        clock=lambda: now,
    )


def admitter(ddb: Any, now: datetime) -> Admitter:
    return Admitter(
        ConcertRepository(ddb, TABLE), EntryRepository(ddb, TABLE), now_ms=lambda: int(now.timestamp() * 1000)
    )


def test_admission_admits_n_per_interval_up_to_max_active_then_sessions_expire(ddb):
    make_concert(ddb)  # N=2 per 10 s, maxActive 3, sessions 60 s
    requests = [ask(f"u{i}") for i in range(6)]
    service(ddb).process(entries_event(requests))
    status = lambda r, t: poll(queue_service(ddb, t), r.entryId)[1].status  # noqa: E731
    assert admitter(ddb, T0).step("c1").admitted == 2
    assert admitter(ddb, T0 + timedelta(seconds=5)).step("c1").reason == "interval"
    assert admitter(ddb, T0 + timedelta(seconds=10)).step("c1").admitted == 1  # maxActive 3
    assert admitter(ddb, T0 + timedelta(seconds=20)).step("c1").reason == "full"
    now = T0 + timedelta(seconds=20)
    assert [status(r, now) for r in requests[:4]] == [EntryStatus.ACTIVE] * 3 + [EntryStatus.WAITING]
    # Completing frees a slot at once (no need to wait for the session to end).
    queue_service(ddb, now).end(requests[0].entryId, EntryState.COMPLETED)
    assert admitter(ddb, now).step("c1").admitted == 1
    later = T0 + timedelta(seconds=61)
    assert status(requests[1], later) is EntryStatus.EXPIRED


def test_the_interval_runs_from_the_commit_of_a_slow_step_not_from_its_start(ddb):
    make_concert(ddb, max_active=10)  # N=2 per 10 s
    service(ddb).process(entries_event([ask(f"u{i}") for i in range(4)]))
    start_ms = int(T0.timestamp() * 1000)
    clock = iter([start_ms, start_ms + 8_000])  # the walk took 8 s (a cold start, abandonments to mark)
    slow = Admitter(ConcertRepository(ddb, TABLE), EntryRepository(ddb, TABLE), now_ms=lambda: next(clock))
    assert slow.step("c1").admitted == 2
    # 10 s after the step began but only 2 s after its users became active: not due yet.
    assert admitter(ddb, T0 + timedelta(seconds=10)).step("c1").reason == "interval"
    assert admitter(ddb, T0 + timedelta(seconds=18)).step("c1").admitted == 2
    assert concert_of(ddb).admissions[1].until_ms == start_ms + 8_000 + 60_000  # sessions from the commit too


def test_a_user_who_leaves_while_admission_walks_is_not_admitted(ddb):
    make_concert(ddb)
    requests = [ask(f"u{i}") for i in range(3)]
    service(ddb).process(entries_event(requests))
    leaver = requests[0]
    entries = EntryRepository(ddb, TABLE)
    walk = entries.walk

    def walk_then_leave(*args: Any, **kwargs: Any) -> Any:
        found = walk(*args, **kwargs)
        if not getattr(walk_then_leave, "done", False):
            walk_then_leave.done = True  # type: ignore[attr-defined]
            queue_service(ddb, T0).end(leaver.entryId, EntryState.LEFT)  # between the walk and the commit
        return found

    entries.walk = walk_then_leave  # type: ignore[method-assign]
    result = Admitter(ConcertRepository(ddb, TABLE), entries, now_ms=lambda: int(T0.timestamp() * 1000)).step(
        "c1"
    )
    assert result.admitted == 2
    views = [poll(queue_service(ddb, T0), r.entryId)[1].status for r in requests]
    assert views == [EntryStatus.LEFT, EntryStatus.ACTIVE, EntryStatus.ACTIVE]
    concert = concert_of(ddb)
    assert concert.active_count(int(T0.timestamp() * 1000)) == 2 and concert.left_waiting == 0


def test_silent_users_are_abandoned_when_admission_reaches_them(ddb):
    make_concert(ddb, heartbeat_seconds=30)
    requests = [ask(f"u{i}") for i in range(3)]
    service(ddb).process(entries_event(requests))
    later = T0 + timedelta(seconds=31)
    queue_service(ddb, later).poll(requests[1].entryId)  # the heartbeat of u1 only
    result = admitter(ddb, later).step("c1")
    assert (result.admitted, result.abandoned) == (1, 2)
    statuses = [poll(queue_service(ddb, later), r.entryId)[1].status for r in requests]
    assert statuses == [EntryStatus.ABANDONED, EntryStatus.ACTIVE, EntryStatus.ABANDONED]


def test_a_long_run_of_silent_users_is_walked_over_several_bounded_steps(ddb, monkeypatch):
    """One step walks at most MAX_WALK_PER_STEP entries, so other concerts' steps run in between."""
    monkeypatch.setattr(admitter_module, "MAX_WALK_PER_STEP", 4)
    make_concert(ddb, heartbeat_seconds=30)
    requests = [ask(f"u{i}") for i in range(11)]
    service(ddb).process(entries_event(requests))
    later = T0 + timedelta(seconds=31)
    for live in requests[9:]:  # u0..u8 have gone quiet; u9 and u10 still poll
        poll(queue_service(ddb, later), live.entryId)
    steps = [admitter(ddb, later).step("c1") for _ in range(3)]
    assert [(r.admitted, r.abandoned) for r in steps] == [(0, 4), (0, 4), (2, 1)]
    concert = concert_of(ddb)
    assert concert.next_position == 12 and concert.abandoned_count == 9
    statuses = [poll(queue_service(ddb, later), r.entryId)[1].status for r in requests]
    assert statuses == [EntryStatus.ABANDONED] * 9 + [EntryStatus.ACTIVE] * 2


def test_a_user_polling_while_being_abandoned_is_admitted_and_counts_stay_exact(ddb):
    make_concert(ddb, heartbeat_seconds=30)
    requests = [ask(f"u{i}") for i in range(3)]
    service(ddb).process(entries_event(requests))
    later = T0 + timedelta(seconds=31)
    poll(queue_service(ddb, later), requests[2].entryId)  # u2 is alive; u0 and u1 have gone quiet
    entries = EntryRepository(ddb, TABLE)
    mark = entries.mark_abandoned
    marked: list[str] = []

    def mark_then_poll(entry: Any, cutoff: int) -> bool:
        marked.append(entry.user_id)
        if entry.user_id == "u0":  # u1 polls right after u0 was marked: its own mark must fail
            poll(queue_service(ddb, later), requests[1].entryId)
        return mark(entry, cutoff)

    entries.mark_abandoned = mark_then_poll  # type: ignore[method-assign,assignment]
    result = Admitter(
        ConcertRepository(ddb, TABLE), entries, now_ms=lambda: int(later.timestamp() * 1000)
    ).step("c1")
    assert marked == ["u0", "u1"]  # u1's mark failed, the step was walked again
    assert (result.admitted, result.abandoned) == (2, 1)
    assert concert_of(ddb).abandoned_count == 1
    statuses = [poll(queue_service(ddb, later), r.entryId)[1].status for r in requests]
    assert statuses == [EntryStatus.ABANDONED, EntryStatus.ACTIVE, EntryStatus.ACTIVE]


def test_two_first_token_calls_get_one_token(ddb):
    make_concert(ddb)
    request = ask("alice")
    service(ddb).process(entries_event([request]))
    admitter(ddb, T0).step("c1")
    minted: list[str] = []

    def mint(*args: object) -> str:
        minted.append(f"token-{len(minted)}")
        if len(minted) == 1:  # a racing first call stores its token between our read and our write
            queue_service(ddb, T0).token(request.entryId, lambda *a: "token-racer")
        return minted[0]

    token, _ = queue_service(ddb, T0).token(request.entryId, mint)
    again, _ = queue_service(ddb, T0).token(request.entryId, lambda *a: "never")
    assert token == again == "token-racer"


def test_token_is_refused_while_waiting_and_gone_after_leaving(ddb):
    make_concert(ddb)
    request = ask("alice")
    service(ddb).process(entries_event([request]))
    with pytest.raises(WrongStatus) as waiting:
        queue_service(ddb, T0).token(request.entryId, lambda *a: "t")
    assert waiting.value.status is EntryStatus.WAITING
    queue_service(ddb, T0).end(request.entryId, EntryState.LEFT)
    with pytest.raises(WrongStatus) as left:
        queue_service(ddb, T0).token(request.entryId, lambda *a: "t")
    assert left.value.status is EntryStatus.LEFT


def test_a_poll_reads_one_batch_of_two_items_and_writes_the_heartbeat_rarely(ddb):
    make_concert(ddb)
    request = ask("alice")
    service(ddb).process(entries_event([request]))
    counting: Any = CountingClient(ddb)

    def counted_queue(now: datetime) -> QueueService:
        repos = ConcertRepository(counting, TABLE), EntryRepository(counting, TABLE)
        return QueueService(*repos, NoSeats(), FakePublisher(), TOPIC, clock=lambda: now)

    counted_queue(T0).poll(request.entryId)
    assert counting.calls == ["batch_get_item"]
    counting.calls.clear()
    later = T0 + timedelta(seconds=10)  # a quarter of the 30 s allowance has passed: one heartbeat write
    counted_queue(later).poll(request.entryId)
    assert counting.calls == ["batch_get_item", "update_item"]


def test_a_concert_update_keeps_the_queue(ddb):
    make_concert(ddb)
    service(ddb).process(entries_event([ask("alice")]))
    body = PutConcertRequest(name="Renamed", admitPerInterval=5, intervalSeconds=1, maxActive=9, seatCount=3)
    concert, created = queue_service(ddb, T0).put_concert("c1", body)
    assert not created and concert.name == "Renamed" and concert.settings.admit_per_interval == 5
    assert concert.last_position == 1
