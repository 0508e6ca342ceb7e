"""The saga's edges end to end (real Kafka and DynamoDB Local, template.yaml's functions): the data
platform's receiver fails for 30 s while orders complete, and afterwards has every order.completed;
reservations left unpaid time out, are cancelled and give their stock back, once."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from infra.loadgen.http_load import Request, run_load
from tests.conftest import REPO
from tests.e2e.test_orders_e2e import outbox_items, tables, wait_orders

OUTAGE_S = 30
ORDERS, STOCK, POINTS = 40, 100, 10_000
TIMEOUT_SCHEDULE = json.loads((REPO / "events" / "orders" / "payment_timeout_schedule.json").read_text())


def short_timeout_template(tmp_path: Path, seconds: int) -> Path:
    text = (REPO / "template.yaml").read_text().replace("CodeUri: functions/", f"CodeUri: {REPO}/functions/")
    default = "    Default: 900\n    MinValue: 1\n    Description: A RESERVED order"
    assert default in text
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(default, default.replace("900", str(seconds))))
    return path


def test_a_platform_outage_loses_no_event_and_unpaid_orders_time_out(start_runtime, ddb, tmp_path):
    template = short_timeout_template(tmp_path, seconds=2)
    orders_table, outbox = tables(template)
    runtime = start_runtime(template)
    receiver = runtime.receivers["DataPlatformUrl"]
    run = uuid.uuid4().hex[:6]
    product, users = f"p-{run}", [f"u-{run}-{n}" for n in range(8)]
    setup = [Request("POST", "/products", {"productId": product, "name": "x", "price": 10, "stock": STOCK})]
    setup += [Request("POST", f"/users/{u}/points", {"amount": POINTS}) for u in users]
    assert run_load(runtime.url, setup, 8).by_status() == {201: 1, 200: len(users)}
    placing = [
        Request(
            "POST",
            "/orders",
            {"userId": users[n % len(users)], "items": [{"productId": product, "quantity": 1}]},
        )
        for n in range(ORDERS)
    ]
    ids = [o.body["orderId"] for o in run_load(runtime.url, placing, 8).outcomes]
    wait_orders(ddb, orders_table, ids, {"RESERVED"}, runtime=runtime)

    receiver.fail_for(OUTAGE_S)
    outage_started = time.monotonic()
    paid, unpaid = ids[: ORDERS * 3 // 4], ids[ORDERS * 3 // 4 :]
    paying = run_load(runtime.url, [Request("POST", f"/orders/{i}/payment") for i in paid], 8)
    assert paying.by_status() == {200: len(paid)}

    # The unpaid ones are past their 2 s timeout: the sweep cancels them; a second sweep finds none.
    time.sleep(2.5)
    swept = runtime.invoker.invoke("OrderPaymentTimeoutFunction", TIMEOUT_SCHEDULE)
    assert swept.ok, swept.error_message
    assert swept.payload["cancelled"] >= len(unpaid)  # other tests' leftovers may time out too
    again = runtime.invoker.invoke("OrderPaymentTimeoutFunction", TIMEOUT_SCHEDULE)
    assert again.ok and again.payload["cancelled"] == 0

    final = wait_orders(ddb, orders_table, ids, {"COMPLETED", "CANCELLED"}, timeout=120, runtime=runtime)
    assert all(final[i]["status"]["S"] == "COMPLETED" for i in paid)
    assert all(
        (final[i]["status"]["S"], final[i]["reason"]["S"]) == ("CANCELLED", "PAYMENT_TIMEOUT") for i in unpaid
    )
    deadline = time.monotonic() + 60
    stock = None
    while time.monotonic() < deadline:  # the timed-out units come back through order.cancelled
        item = ddb.get_item(
            TableName=orders_table, Key={"pk": {"S": f"PRODUCT#{product}"}, "sk": {"S": "PRODUCT"}}
        )
        stock = int(item["Item"]["stock"]["N"])
        if stock == STOCK - len(paid):
            break
        time.sleep(0.5)
    assert stock == STOCK - len(paid)

    completed = {
        i["eventId"]["S"]
        for i in outbox_items(ddb, outbox, set(paid))
        if i["eventType"]["S"] == "order.completed"
    }
    assert len(completed) == len(paid)
    # Every order.completed reaches the platform once the outage is over, none lost to the outage.
    deadline = outage_started + OUTAGE_S + 90
    while True:
        stats = receiver.stats(with_keys=True)
        missing = completed - set(stats["keys"])
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not missing, (len(missing), stats["refused"], runtime.status()["sources"])
    assert stats["refused"] > 0  # the outage was real: deliveries were refused during it
    assert time.monotonic() - outage_started >= OUTAGE_S
