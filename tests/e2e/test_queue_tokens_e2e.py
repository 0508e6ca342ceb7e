"""Tokens and seat holds through the HTTP API, with users admitted by the real admission: the token
verifies with the published JWKS as a third party would, bad tokens get 401/403, raced token calls get
one token, and 1,000 concurrent holds from 200 users for 100 seats never hold a seat twice."""

from __future__ import annotations

import http.client
import json
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from infra.demo.queue_verify import wait_positioned
from infra.loadgen.http_load import Request, run_load
from infra.template import load_template
from tests.e2e.test_queue_e2e import _table, create_concert
from waiting_room.logic.tokens import KeyStatus, Tokens, key_document, parse_key_set

USERS, SEATS, MAX_PER_USER = 200, 100, 4
ISSUER = "https://surge.local/queue"


def _admitted_entries(runtime, ddb, concert: str) -> dict[str, str]:
    load = run_load(
        runtime.url,
        [
            Request("POST", f"/concerts/{concert}/queue", {"userId": f"fan-{i:03d}"}, tag=f"fan-{i:03d}")
            for i in range(USERS)
        ],
        16,
    )
    assert load.by_status() == {202: USERS}
    entries = {o.request.tag: o.body["entryId"] for o in load.outcomes}
    assert len(wait_positioned(ddb, _table(), list(entries.values()), 120)) == USERS
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        polled = run_load(runtime.url, [Request("GET", f"/queue-entries/{e}") for e in entries.values()], 16)
        if all(o.body.get("status") == "ACTIVE" for o in polled.outcomes):
            return entries
        time.sleep(1)
    raise AssertionError("not every user was admitted in time")


def test_tokens_gate_seat_holds_and_no_seat_is_held_twice(start_runtime, ddb, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("SURGE_SCHEDULE_SPEEDUP", "60")  # the admitter starts within a second
    runtime = start_runtime()
    concert = create_concert(
        runtime.url,
        admitPerInterval=USERS,
        intervalSeconds=1,
        maxActive=USERS,
        sessionSeconds=300,
        seatCount=SEATS,
    )
    other = create_concert(runtime.url, seatCount=5)
    entries = _admitted_entries(runtime, ddb, concert)

    # Raced first calls: five at once per user, one token each.
    def token_calls(entry: str) -> set[str]:
        got = run_load(runtime.url, [Request("POST", f"/queue-entries/{entry}/token")] * 5, 5)
        assert {o.status for o in got.outcomes} == {200}
        return {o.body["token"] for o in got.outcomes}

    with ThreadPoolExecutor(8) as pool:
        minted = dict(zip(entries, pool.map(token_calls, entries.values()), strict=True))
    assert all(len(tokens) == 1 for tokens in minted.values())
    tokens = {user: next(iter(t)) for user, t in minted.items()}

    jwks = run_load(runtime.url, [Request("GET", "/.well-known/jwks.json")], 1).outcomes[0].body
    keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}
    sample = tokens["fan-000"]
    claims = jwt.decode(
        sample,
        keys[jwt.get_unverified_header(sample)["kid"]],
        algorithms=["ES256"],
        audience=concert,
        issuer=ISSUER,
    )
    assert claims["sub"] == "fan-000" and claims["jti"] == entries["fan-000"]

    # Bad tokens, refused with API Gateway-like codes before any seat is touched.
    key_file = next(tmp_path.glob("runtime-0/keys/*.json"))
    real = Tokens(parse_key_set(json.loads(key_file.read_text())))
    now = datetime.now(UTC)
    expired = real.mint(
        ISSUER,
        concert,
        "fan-000",
        entries["fan-000"],
        1,
        now - timedelta(seconds=1),
        now - timedelta(minutes=5),
    )
    stranger = Tokens(
        parse_key_set(key_document([("not-ours", KeyStatus.ACTIVE, ec.generate_private_key(ec.SECP256R1()))]))
    )
    forged = stranger.mint(ISSUER, concert, "fan-000", entries["fan-000"], 1, now + timedelta(minutes=5), now)
    tampered = sample[:-4] + ("AAAA" if not sample.endswith("AAAA") else "BBBB")
    hold = f"/concerts/{concert}/seats/1/hold"
    cases = [
        (None, hold, 401),
        ("not-a-jwt", hold, 401),
        (tampered, hold, 401),
        (expired, hold, 401),
        (forged, hold, 401),
        (sample, f"/concerts/{other}/seats/1/hold", 403),  # a token for another concert
    ]
    for token, path, status in cases:
        result = _hold(runtime.url, [(path, token)])[0]
        assert result[0] == status, (token and token[:20], path, result)

    # 1,000 concurrent holds: every seat is asked for ten times, each user five times.
    attempts = [
        (f"/concerts/{concert}/seats/{(5 * i + k) % SEATS + 1}/hold", tokens[f"fan-{i:03d}"])
        for i in range(USERS)
        for k in range(5)
    ]
    results = _hold(runtime.url, attempts, concurrency=32)
    statuses = Counter(status for status, _ in results)
    held = [body for status, body in results if status == 201]
    assert set(statuses) <= {201, 409, 429}, statuses
    assert len(held) == SEATS and len({h["seatId"] for h in held}) == SEATS, statuses
    seats = run_load(runtime.url, [Request("GET", f"/concerts/{concert}/seats")], 1).outcomes[0].body
    assert json.dumps(seats).count('"available": true') == 0 or seats.get("available") == 0, seats
    per_user = Counter(h["userId"] for h in held if "userId" in h)
    assert not per_user or max(per_user.values()) <= MAX_PER_USER

    # Paying holds with points, each payment raced twice: one charge, one reservation.confirmed each.
    holders = [
        (body["holdId"], token)
        for (_, token), (status, body) in zip(attempts, results, strict=True)
        if status == 201
    ]
    holder_of = {token: user for user, token in tokens.items()}
    paying = [(h, t) for h, t in holders if holder_of[t] != "fan-199"][:20]
    payers = sorted({holder_of[t] for _, t in paying})
    broke = payers[0]  # has no points: refused, nothing changes
    top_ups = [Request("POST", f"/users/{u}/points", {"amount": 1_000}) for u in payers if u != broke]
    assert run_load(runtime.url, top_ups, 8).by_status() == {200: len(top_ups)}
    paid = _hold(
        runtime.url, [(f"/holds/{h}/payment", t) for h, t in paying for _ in range(2)], concurrency=8
    )
    for (hold_id, token), answers in zip(paying, zip(paid[::2], paid[1::2], strict=True), strict=True):
        expected = 402 if holder_of[token] == broke else 200
        assert {status for status, _ in answers} == {expected}, (hold_id, answers)
    confirmed = {h for h, t in paying if holder_of[t] != broke}
    per_payer = Counter(holder_of[t] for h, t in paying if h in confirmed)
    for user, count in per_payer.items():
        points = run_load(runtime.url, [Request("GET", f"/users/{user}/points")], 1).outcomes[0].body
        assert points["balance"] == 1_000 - 100 * count, (user, points)  # SEAT_PRICE_POINTS is 100
    outbox = load_template(runtime.template_path).tables["OutboxTable"].table_name
    deadline = time.monotonic() + 60
    while True:  # every reservation.confirmed read back from Kafka by the confirmer
        items = [
            ddb.query(
                TableName=outbox,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"reservation#{h}"}},
                ConsistentRead=True,
            )["Items"]
            for h in confirmed
        ]
        if (
            all(len(i) == 1 and i[0]["status"]["S"] == "PUBLISHED" for i in items)
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.5)
    assert all(len(i) == 1 and i[0]["status"]["S"] == "PUBLISHED" for i in items), items
    concerts = load_template(runtime.template_path).tables["ConcertsTable"].table_name
    sold = ddb.query(
        TableName=concerts,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :seat)",
        FilterExpression="#status = :sold",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":pk": {"S": f"CONCERT#{concert}"},
            ":seat": {"S": "SEAT#"},
            ":sold": {"S": "SOLD"},
        },
        ConsistentRead=True,
    )["Items"]
    assert len(sold) == len(confirmed)

    # A user who completes can no longer hold with a token that has not expired yet.
    done = entries["fan-199"]
    assert (
        run_load(runtime.url, [Request("POST", f"/queue-entries/{done}/complete")], 1).outcomes[0].status
        == 200
    )
    assert _hold(runtime.url, [(f"/concerts/{concert}/seats/2/hold", tokens["fan-199"])])[0][0] == 403


def _hold(
    url: str, attempts: Sequence[tuple[str, str | None]], concurrency: int = 1
) -> list[tuple[int, dict]]:
    """POST each (path, token) from `concurrency` keep-alive connections; results in attempt order."""
    parts = urlsplit(url)
    results: list[tuple[int, dict]] = [(0, {})] * len(attempts)

    def one(start: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)
        for index in range(start, len(attempts), concurrency):
            path, token = attempts[index]
            headers = {"content-type": "application/json"}
            if token:
                headers["authorization"] = f"Bearer {token}"
            conn.request("POST", path, body="{}", headers=headers)
            response = conn.getresponse()
            raw = response.read()
            results[index] = (response.status, json.loads(raw) if raw else {})
        conn.close()

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(concurrency)))
    return results
