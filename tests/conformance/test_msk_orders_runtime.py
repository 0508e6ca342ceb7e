"""The msk_orders template run by the local runtime against real Kafka and DynamoDB Local: the
overridden parameters reach the table and topic created, a failed record lands in the template's
SQS queue (written locally), and a filter on a field Lambda does not filter is a start-up warning."""

from __future__ import annotations

import json
import uuid
from typing import Any

from kafka import KafkaProducer

from tests.conformance.conftest import HERE, RuntimeFactory
from tests.runtime.esm_helpers import wait_until

TEMPLATE = HERE / "msk_orders" / "template.yaml"


def test_msk_orders_end_to_end(start_runtime: RuntimeFactory, stack, ddb, runtime_logs) -> None:
    suffix = uuid.uuid4().hex[:8]
    table_name, topic = f"orders-{suffix}", f"orders.{suffix}"
    runtime = start_runtime(
        TEMPLATE,
        parameter_overrides={
            "MSKClusterArn": "arn:aws:kafka:us-east-1:123456789012:cluster/orders/abc-1",
            "OrdersTableName": table_name,
            "OrdersTopic": topic,
        },
    )
    # Created under the overridden name, as the provisioned table the template declares.
    described = ddb.describe_table(TableName=table_name)["Table"]
    assert described["ProvisionedThroughput"]["WriteCapacityUnits"] == 5

    producer = KafkaProducer(bootstrap_servers=stack.endpoints.require_kafka())
    orders: list[dict[str, Any]] = [{"kind": "order", "orderId": f"o-{i}", "amount": i} for i in range(3)]
    poison = {"kind": "order", "orderId": "o-bad", "amount": 1, "poison": True}
    for order in [*orders, poison]:
        key = str(order["orderId"]).encode()
        producer.send(topic, key=key, value=json.dumps(order).encode(), partition=0)
    producer.flush()
    producer.close()

    def stored() -> bool:
        items = ddb.scan(TableName=table_name)["Items"]
        return {i["orderId"]["S"] for i in items} == {o["orderId"] for o in orders}

    wait_until(stored)
    dead_letters = runtime.state_dir / "dead-letters" / "OrderConsumerFunction.OrdersStream.jsonl"
    wait_until(dead_letters.exists)
    (line,) = dead_letters.read_text().splitlines()
    message = json.loads(line)
    assert message["requestContext"]["condition"] == "RetriesExhausted"
    (record,) = message["payload"]["records"][f"{topic}-0"]
    assert record["offset"] == 3

    status = runtime.status()
    source = status["sources"]["OrderConsumerFunction.OrdersStream"]
    assert source["on_failure"].startswith("arn:aws:sqs:us-east-1:000000000000:surge-FailedOrdersQueue")
    assert source["group"].startswith("surge-OrderConsumerFunction-OrdersStream-")
    (warning,) = [w for w in status["warnings"] if "FilterCriteria" in w]
    assert "OrderConsumerFunction.OrdersStream" in warning and "'key'" in warning
    assert any("'key'" in line for line in runtime_logs)
