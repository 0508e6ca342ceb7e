"""Paced admission through the HTTP API: N per M seconds, never above maxActive, slots freed by users who
complete or leave go to the next users, and users who never poll are abandoned and skipped."""

from __future__ import annotations

import random
import time

from infra.demo.audience import Audience, Behaviour, Sampler, pacing_violations
from infra.demo.queue_verify import read_positions, wait_positioned
from infra.loadgen.http_load import Request, run_load
from tests.e2e.test_queue_e2e import _table, create_concert

N, M, MAX_ACTIVE, SESSION, HEARTBEAT = 100, 2, 300, 10, 8
POLLERS, SILENT = 420, 60
RUN_SECONDS = 30.0


def test_admission_is_paced_capped_and_skips_abandoned_users(start_runtime, ddb, monkeypatch):
    # Schedules fire at most once a minute; with the clock 60x faster the admitter starts within a second
    # and then paces every interval itself, on the real clock.
    monkeypatch.setenv("SURGE_SCHEDULE_SPEEDUP", "60")
    runtime = start_runtime()
    settings = {
        "admitPerInterval": N, "intervalSeconds": M, "maxActive": MAX_ACTIVE,
        "sessionSeconds": SESSION, "heartbeatSeconds": HEARTBEAT,
    }  # fmt: skip
    concert = create_concert(runtime.url, **settings)
    paused = run_load(runtime.url, [Request("POST", f"/concerts/{concert}/queue/pause")], 1)
    assert paused.outcomes[0].status == 200
    users = [f"fan-{i:04d}" for i in range(POLLERS + SILENT)]
    random.Random(3).shuffle(users)
    entering = [Request("POST", f"/concerts/{concert}/queue", {"userId": u}, tag=u) for u in users]
    load = run_load(runtime.url, entering, 16)
    assert load.by_status() == {202: len(users)}
    entry_of = {o.request.tag: o.body["entryId"] for o in load.outcomes}
    silent = {entry_of[u] for u in users[:SILENT]}
    assert len(wait_positioned(ddb, _table(), list(entry_of.values()), 120)) == len(users)

    pollers = [e for e in entry_of.values() if e not in silent]
    audience = Audience(runtime.url, concert, pollers, Behaviour(poll_every=3.0)).start()
    # The silent users stay quiet for longer than the heartbeat allowance before admission starts.
    time.sleep(HEARTBEAT + 1)
    sampler = Sampler(runtime.url, concert).start()
    resumed = run_load(runtime.url, [Request("POST", f"/concerts/{concert}/queue/resume")], 1)
    assert resumed.outcomes[0].status == 200
    time.sleep(RUN_SECONDS)
    audience.stop()
    sampler.stop()
    assert not audience.log.errors, audience.log.errors[:3]

    samples = sampler.samples
    assert samples, "no queue counters were sampled"
    assert max(s["active"] for _, s in samples) <= MAX_ACTIVE
    assert pacing_violations(sampler, N, M) == []
    # Users who finished early freed slots: more than maxActive were admitted before any session ended.
    first = next(t for t, s in samples if s["admitted"] > 0)
    before_expiry = max(s["admitted"] for t, s in samples if t < first + SESSION - 1)
    assert audience.log.completed and before_expiry > MAX_ACTIVE, (len(audience.log.completed), before_expiry)

    entries = {e.entry_id: e for e in read_positions(ddb, _table(), concert)}
    serving = samples[-1][1]["servingPosition"]
    walked_silent = {e for e in silent if entries[e].position <= serving}
    assert walked_silent, "admission never reached a silent user: the test proved nothing"
    assert all(entries[e].state == "ABANDONED" for e in walked_silent)
    assert not (silent & audience.log.ever_active), "a user who never polled was admitted"
    # A poller is abandoned too when its polls come further apart than the heartbeat: that happens only
    # when the audience's own rounds are slow (a loaded machine), and then it is what should happen.
    abandoned_pollers = {e for e in pollers if entries[e].state == "ABANDONED"}
    assert samples[-1][1]["abandoned"] == len(walked_silent) + len(abandoned_pollers)
    if abandoned_pollers:
        slowest = max(audience.log.rounds, default=0.0)
        assert slowest > HEARTBEAT / 2, (len(abandoned_pollers), slowest)
