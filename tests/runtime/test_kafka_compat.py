"""kafka-python's pause/resume, as the Kafka source uses it for back-pressure (infra/runtime/kafka/compat.py).

Pausing a partition while kafka-python is handing out its fetched records parks them; after `resume`
they must come back and the partition must fetch again, even after another partition was drained in
between. kafka-python 3.0.12 on its own strands them (the parked records never return); compat.poll
must not.
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from infra.runtime.kafka import compat

pytestmark = pytest.mark.stack


def _fill(servers: str, topic: str, partition: int, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=servers, linger_ms=5)
    for i in range(count):
        producer.send(topic, value=b"%d" % i, partition=partition)
    producer.flush()
    producer.close()


def test_a_partition_paused_mid_drain_gets_all_its_records_after_resume(endpoints, make_topic):
    servers = endpoints.require_kafka()
    topic = make_topic(partitions=2)
    _fill(servers, topic, 0, 2000)
    _fill(servers, topic, 1, 2000)
    tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, max_poll_records=100)
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got: dict[int, list[int]] = {0: [], 1: []}

    def poll_until(done, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done() and time.monotonic() < deadline:
            for tp, records in compat.poll(consumer, 200).items():
                got[tp.partition].extend(r.offset for r in records)

    try:
        poll_until(lambda: got[0] or got[1])
        # Pause the partition kafka-python is in the middle of handing out: its rest gets parked.
        in_line = 0 if got[0] else 1
        other = 1 - in_line
        assert 0 < len(got[in_line]) < 2000
        consumer.pause(tps[in_line])
        poll_until(lambda: len(got[other]) == 2000)
        assert len(got[other]) == 2000, "the partition that was not paused kept flowing"
        paused_so_far = len(got[in_line])
        consumer.resume(tps[in_line])
        _fill(servers, topic, in_line, 100)  # and it fetches again after the parked records
        poll_until(lambda: len(got[in_line]) == 2100)
    finally:
        consumer.close()
    assert got[in_line] == list(range(2100)), f"stalled at {len(got[in_line])} (paused at {paused_so_far})"
    assert got[other] == list(range(2000))
