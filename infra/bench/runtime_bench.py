"""The runtime's figure: records/s the runtime delivers to a no-op Kafka handler vs a plain consumer."""

from __future__ import annotations

import argparse

from common.config import Endpoints
from infra.bench.report import Report


def section(endpoints: Endpoints, report: Report, args: argparse.Namespace) -> None:
    from infra.runtime.kafka.bench import measure_kafka_runtime_rate

    figures = measure_kafka_runtime_rate(
        endpoints.require_kafka(),
        records=int(1_000_000 * args.scale),
        partitions=4,
        batch_size=500,
        progress=lambda line: print(f"  {line}", flush=True),
    )
    raw = report.add(
        "runtime",
        "plain kafka-python consumer, 4 partitions (median of rounds)",
        figures["raw_consumer_records_per_s"],
        "records/s",
    )
    confluent = report.add(
        "runtime",
        "plain confluent-kafka consumer (the source's library), 4 partitions",
        figures["confluent_consumer_records_per_s"],
        "records/s",
    )
    runtime = report.add(
        "runtime",
        "surge runtime -> no-op handler, BatchSize 500 (median of rounds)",
        figures["runtime_records_per_s"],
        "records/s",
    )
    report.ratio("runtime", "runtime / plain kafka-python consumer", runtime, raw, 0.7)
    report.add("runtime", "runtime / plain confluent-kafka consumer", runtime / confluent, "x", "no target")
    if figures["stalled_rounds"]:
        report.add(
            "runtime", "rounds stalled and not counted (see the log above)", figures["stalled_rounds"], ""
        )
