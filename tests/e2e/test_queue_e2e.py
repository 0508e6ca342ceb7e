"""The waiting room end to end: the HTTP API, Kafka, the local runtime's event source mapping, the entry
consumer, admission and DynamoDB Local, all real. Positions must be exactly 1..n per concert, one per
user, in the order the broker accepted the entries, also under crashes and a rebalance."""

from __future__ import annotations

import random
import threading
import uuid
from pathlib import Path

from infra.demo.queue_verify import check_positions, entry_offsets, read_positions, wait_positioned
from infra.loadgen.http_load import Request, run_load
from infra.template import load_template
from tests.conftest import TEMPLATE
from tests.e2e.conftest import TEMPLATES


def _table(template: Path = TEMPLATE) -> str:
    return load_template(template).tables["ConcertsTable"].table_name


def _topic(template: Path = TEMPLATE) -> str:
    return load_template(template).functions["QueueApiFunction"].environment["QUEUE_ENTRY_TOPIC"]


def create_concert(url: str, **settings: object) -> str:
    concert_id = f"con-{uuid.uuid4().hex[:10]}"
    body = {"name": "e2e", "admitPerInterval": 100, "intervalSeconds": 2, "maxActive": 300, "seatCount": 10}
    created = run_load(url, [Request("PUT", f"/concerts/{concert_id}", {**body, **settings})], 1)
    assert created.outcomes[0].status == 201, created.outcomes[0].body
    return concert_id


def enter_surge(
    url: str, concerts: list[str], entries: int, users: int, seed: int = 5
) -> dict[str, tuple[str, str]]:
    """Every user enters at least once; the rest are users entering again. Returns entryId -> (concert,
    user) for every answer (202 new, 200 the user's existing live entry)."""
    rng = random.Random(seed)
    user_ids = [f"fan-{i:05d}" for i in range(users)]
    homes = {u: rng.choice(concerts) for u in user_ids}
    asks = user_ids + [rng.choice(user_ids) for _ in range(entries - users)]
    rng.shuffle(asks)
    requests = [
        Request("POST", f"/concerts/{homes[u]}/queue", {"userId": u}, tag=(homes[u], u)) for u in asks
    ]
    load = run_load(url, requests, 24)
    assert set(load.by_status()) <= {200, 202}, load.by_status()
    return {o.body["entryId"]: o.request.tag for o in load.outcomes}


def assert_positions(
    ddb, stack, template: Path, concerts: list[str], answered: dict[str, tuple[str, str]]
) -> None:
    table = _table(template)
    found = wait_positioned(ddb, table, list(answered), timeout=240)
    assert len(found) == len(answered), f"{len(answered) - len(found)} entries never positioned"
    offsets = entry_offsets(stack.endpoints.require_kafka(), _topic(template), set(concerts))
    for concert in concerts:
        entries = read_positions(ddb, table, concert)
        check = check_positions(entries, offsets)
        users = {user for c, user in answered.values() if c == concert}
        assert check.gapless, f"{concert}: positions are not 1..{check.count}"
        assert check.users_twice == 0, f"{concert}: {check.users_twice} users hold two positions"
        assert check.out_of_offset_order == 0, (
            f"{concert}: {check.out_of_offset_order} positions against offset order"
        )
        assert {e.user_id for e in entries} == users and check.count == len(users)


def test_a_surge_of_entries_gets_gapless_unique_positions_in_offset_order(start_runtime, ddb, stack):
    runtime = start_runtime()
    concerts = [create_concert(runtime.url) for _ in range(2)]
    answered = enter_surge(runtime.url, concerts, entries=5_000, users=3_000)
    assert_positions(ddb, stack, TEMPLATE, concerts, answered)
    # Every answer, also a second entry of the same user, polls as a positioned entry with a position.
    sample = random.Random(1).sample(sorted(answered), 200)
    polled = run_load(runtime.url, [Request("GET", f"/queue-entries/{e}") for e in sample], 8)
    for outcome in polled.outcomes:
        assert outcome.status == 200, outcome.body
        assert outcome.body["status"] in ("WAITING", "ACTIVE") and outcome.body["position"] >= 1


def test_positions_stay_gapless_when_the_consumer_fails_at_random_mid_batch(start_runtime, ddb, stack):
    template = TEMPLATES / "queue_chaos.yaml"
    runtime = start_runtime(template)
    concerts = [create_concert(runtime.url) for _ in range(2)]
    answered = enter_surge(runtime.url, concerts, entries=2_000, users=1_200)
    assert_positions(ddb, stack, template, concerts, answered)
    source = runtime.status()["sources"]["QueueEntryFunction.EntryRequests"]
    # A failed whole batch is bisected first (its halves then succeed: positioning is idempotent), so a
    # failure shows as a bisection or as a retry.
    failures = source["bisections"] + source["retries"]
    assert failures > 0 and source["last_error"], (
        f"the chaos consumer never failed, the test proved nothing: {source}"
    )


def test_positions_stay_gapless_with_two_runtimes_in_one_consumer_group(start_runtime, ddb, stack):
    template = TEMPLATES / "queue_race.yaml"
    first = start_runtime(template)
    concerts = [create_concert(first.url) for _ in range(2)]
    runtimes = [first]
    joiner = threading.Timer(0.5, lambda: runtimes.append(start_runtime(template)))
    joiner.start()
    answered = enter_surge(first.url, concerts, entries=2_000, users=1_200)
    joiner.join()
    assert_positions(ddb, stack, template, concerts, answered)
