"""template.yaml deployed with the real SAM CLI into ministack, driven through surge's bridge.

Order matters: the surge, the bridge's failure handling, the in-place update, then `down`."""

from __future__ import annotations

import argparse
import base64
import json
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from infra.demo.coupons import report, surge
from infra.localstack.bridge import Bridge
from infra.localstack.demo import DeployedTarget, table_item_count
from infra.localstack.deploy import client, deploy, describe
from infra.stack.process import pid_alive
from tests.localstack.conftest import REPO, Deployed

# The first test also pays for the session's set-up: installing ministack on a fresh machine, up, deploy.
pytestmark = pytest.mark.timeout(600)

POISON_TEMPLATE = Path(__file__).parent / "poison" / "template.yaml"


def test_the_coupon_surge_through_the_deployed_stack(deployed: Deployed) -> None:
    args = argparse.Namespace(
        requests=1_000,
        users=800,
        stock=100,
        concurrency=8,
        template=REPO / "template.yaml",
        drain_timeout=120,
    )
    table = describe(deployed.endpoint, "surge").tables["CouponsTable"]
    result = surge(DeployedTarget(deployed.bridge_url, deployed.endpoint), args, table)
    print(report(result, args))
    assert result.load.by_status() == {202: 1_000}
    assert len(result.coupon.holders) == 100 == result.coupon.issued_quantity
    assert result.coupon.duplicates == 0
    assert result.not_terminal == 0
    # The items live in the emulator's DynamoDB (the deployed functions' only database here): the
    # coupon, 100 holders and 1,000 request outcomes, read back from ministack's endpoint.
    assert table_item_count(deployed.endpoint, table) >= 1 + 100 + 1_000
    assert deployed.up["emulator"] == "ministack"


def test_the_waiting_rooms_signing_keys_come_from_the_emulators_secrets_manager(deployed: Deployed) -> None:
    name = describe(deployed.endpoint, "surge").functions["QueueApiFunction"]
    variables = client("lambda", deployed.endpoint).get_function_configuration(FunctionName=name)[
        "Environment"
    ]
    arn = variables["Variables"]["TOKEN_KEYS"]
    assert ":secretsmanager:" in arn and ":secret:surge-queue-token-keys-surge" in arn
    with urllib.request.urlopen(f"{deployed.bridge_url}/.well-known/jwks.json", timeout=30) as response:
        jwks = json.loads(response.read())
    assert [key["alg"] for key in jwks["keys"]] == ["ES256"]


def test_the_bridge_honours_partial_failures_and_the_on_failure_destination(
    deployed: Deployed, tmp_path: Path
) -> None:
    stack = f"bridge-{uuid.uuid4().hex[:6]}"
    deployment = deploy(
        POISON_TEMPLATE,
        endpoint=deployed.endpoint,
        stack_name=stack,
        kafka_bootstrap_servers=deployed.kafka,
        work_dir=tmp_path,
    )
    producer = KafkaProducer(bootstrap_servers=deployed.kafka)
    values = ["ok-0", "ok-1", "poison", "ok-3", "ok-4"]
    for value in values:
        producer.send("bridge-test.records", value.encode())
    producer.flush()
    producer.close()
    with Bridge(
        POISON_TEMPLATE,
        endpoint=deployed.endpoint,
        stack_name=stack,
        kafka_bootstrap_servers=deployed.kafka,
        state_dir=tmp_path,
    ) as bridge:
        bridge.start()
        source = bridge.kafka[0]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and source.counters.snapshot()["dead_lettered"] < 1:
            time.sleep(0.2)
        counters = source.counters.snapshot()
    assert counters["dead_lettered"] == 1 and counters["partial_failures"] >= 1, counters
    consumer = KafkaConsumer(
        "bridge-test.records.dlt",
        bootstrap_servers=deployed.kafka,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    dead = [json.loads(message.value) for message in consumer]
    consumer.close()
    assert len(dead) == 1
    record = dead[0]["payload"]["records"]["bridge-test.records-0"][0]
    assert base64.b64decode(record["value"]) == b"poison"
    assert dead[0]["requestContext"]["functionArn"].endswith(deployment.functions["ConsumerFunction"])
    # every other record reached the deployed function, which stored it in the emulator's table
    table = deployment.tables["RecordsTable"]
    stored = client("dynamodb", deployed.endpoint).scan(TableName=table)["Items"]
    assert sorted(item["pk"]["S"] for item in stored) == [v for v in values if v != "poison"]


def test_a_second_deploy_updates_the_stack_in_place(deployed: Deployed) -> None:
    before = describe(deployed.endpoint, "surge")
    deployed.surge(
        "deploy", "--stack-name", "surge", "--parameter", "QueueTokenIssuer=https://surge.test/updated"
    )
    after = describe(deployed.endpoint, "surge")
    assert after.functions == before.functions  # same functions, not a new stack
    stack = client("cloudformation", deployed.endpoint).describe_stacks(StackName="surge")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    config = client("lambda", deployed.endpoint).get_function_configuration(
        FunctionName=after.functions["QueueApiFunction"]
    )
    assert config["Environment"]["Variables"]["TOKEN_ISSUER"] == "https://surge.test/updated"


def test_down_leaves_no_process_of_ours(deployed: Deployed) -> None:
    bridge = deployed.state("bridge")
    pids = [deployed.up["pid"], deployed.up["kafka_pid"], deployed.up["emulator_pgid"], bridge["pid"]]
    assert all(pid_alive(pid) for pid in pids)
    deployed.surge("down")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in pids):
        time.sleep(0.1)
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert ours(deployed.state_dir) == []
    assert "not running" in deployed.surge("status", check=False).stdout


def ours(state_dir: Path) -> list[str]:
    """Live processes whose command line or working files are under our state dir (the Lambda
    workers ministack forks run from its TMPDIR there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(") ", 1)[1][:1]
        except OSError:
            continue
        if state != "Z" and str(state_dir) in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found
