"""Two sweepers at once against DynamoDB Local: within one lease no item is republished twice, and
every stale item is republished by one of them."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

from common.outbox.envelope import OutboxEvent
from common.outbox.items import key_of, outbox_put
from common.outbox.store import OutboxStore
from common.outbox.sweeper import Sweeper, SweepPolicy
from infra.template import load_template
from tests.conftest import TEMPLATE
from tests.unit.coupons.support import FakePublisher

ITEMS = 60


def test_two_sweepers_never_republish_one_item_within_a_lease(ddb):
    spec = load_template(TEMPLATE).tables["OutboxTable"]
    table = f"outbox-{uuid.uuid4().hex[:8]}"
    kwargs = {**spec.create_table_kwargs(), "TableName": table}
    kwargs.pop("StreamSpecification", None)
    ddb.create_table(**kwargs)
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    events = [
        OutboxEvent.new("order.created", "order", f"o-{n}", {"n": n}, now=long_ago, correlation_id=None)
        for n in range(ITEMS)
    ]
    for event in events:
        ddb.transact_write_items(TransactItems=[outbox_put(table, event)])
    policy = SweepPolicy(timedelta(seconds=1), timedelta(seconds=60), 5, "ops.alert")
    store = OutboxStore(ddb, table, timedelta(days=7))
    publishers = [FakePublisher(), FakePublisher()]
    barrier = threading.Barrier(2)

    def run(publisher: FakePublisher) -> None:
        barrier.wait()
        for _ in range(3):  # three runs each, all within the one lease
            Sweeper(store, publisher, policy).sweep(datetime.now(UTC))

    threads = [threading.Thread(target=run, args=(p,)) for p in publishers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    republished = [[p.json()["eventId"] for p in publisher.sent] for publisher in publishers]
    every = republished[0] + republished[1]
    assert sorted(every) == sorted(e.event_id for e in events), "an item was republished twice or never"
    for event in events:
        item = ddb.get_item(TableName=table, Key=key_of(event.envelope), ConsistentRead=True)["Item"]
        assert item["publishAttempts"] == {"N": "1"}
