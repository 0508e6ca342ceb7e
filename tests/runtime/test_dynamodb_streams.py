"""Conformance of the DynamoDB Streams event source mapping against DynamoDB Local."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace

import pytest

from infra.runtime.dynamodb_streams import DynamoDBStreamEventSource, regional_arn
from infra.template.models import DynamoDBEventSpec
from tests.runtime.esm_helpers import wait_until

pytestmark = pytest.mark.stack


@pytest.fixture
def make_table(ddb):
    def create(view_type: str = "NEW_AND_OLD_IMAGES") -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type},
        )
        return name

    return create


@pytest.fixture
def run_source(probe, endpoints, tmp_path):
    started: list[DynamoDBStreamEventSource] = []

    def run(table: str, checkpoint_file=None, **overrides) -> DynamoDBStreamEventSource:
        spec = DynamoDBEventSpec(
            name="Changes",
            function_logical_id="Probe",
            stream=f"arn:aws:dynamodb:us-east-1:000000000000:table/{table}/stream/x",
            starting_position="TRIM_HORIZON",
            table_logical_id="Table",
        )
        source = DynamoDBStreamEventSource(
            replace(spec, **overrides),
            probe.invoker,
            function_id="Probe",
            endpoints=endpoints,
            dead_letter_dir=tmp_path / "dead-letters",
            table_name=table,
            backoff_base_s=0.05,
            backoff_max_s=0.2,
            poll_interval_s=0.05,
            hold_s=0.2,
            checkpoint_file=checkpoint_file,
        )
        started.append(source)
        source.start()
        wait_until(source.ready)
        return source

    yield run
    for source in started:
        source.stop()


def records(probe):
    return [r for event in probe.events() for r in event["Records"]]


def put(ddb, table, pk, **attrs):
    item = {"pk": {"S": pk}, **{k: {"S": str(v)} for k, v in attrs.items()}}
    ddb.put_item(TableName=table, Item=item)


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_record_format_for_insert_modify_remove(ddb, make_table, probe, run_source, view_type):
    table = make_table(view_type)
    source = run_source(table)
    put(ddb, table, "a", v="1")
    put(ddb, table, "a", v="2")
    ddb.delete_item(TableName=table, Key={"pk": {"S": "a"}})
    wait_until(lambda: len(records(probe)) == 3)
    insert, modify, remove = records(probe)
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    assert source.stream_arn == stream_arn
    for record, name in ((insert, "INSERT"), (modify, "MODIFY"), (remove, "REMOVE")):
        assert record["eventName"] == name
        assert record["eventVersion"] == "1.1" and record["eventSource"] == "aws:dynamodb"
        # The stream's ARN, in the records' own region (DynamoDB Local names its own region).
        assert record["awsRegion"] == "us-east-1"
        assert record["eventSourceARN"] == regional_arn(stream_arn, "us-east-1") == source.record_arn
        assert record["eventSourceARN"].startswith("arn:aws:dynamodb:us-east-1:")
        assert record["eventID"]
        data = record["dynamodb"]
        assert data["Keys"] == {"pk": {"S": "a"}}
        assert data["StreamViewType"] == view_type
        assert isinstance(data["ApproximateCreationDateTime"], int | float)
        assert isinstance(data["SequenceNumber"], str) and isinstance(data["SizeBytes"], int)
    new = view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
    old = view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")
    assert ("NewImage" in insert["dynamodb"]) == new and "OldImage" not in insert["dynamodb"]
    assert ("NewImage" in modify["dynamodb"]) == new and ("OldImage" in modify["dynamodb"]) == old
    assert "NewImage" not in remove["dynamodb"] and ("OldImage" in remove["dynamodb"]) == old
    if new:
        assert modify["dynamodb"]["NewImage"] == {"pk": {"S": "a"}, "v": {"S": "2"}}
    if old:
        assert modify["dynamodb"]["OldImage"] == {"pk": {"S": "a"}, "v": {"S": "1"}}


def test_batch_size_is_honoured(ddb, make_table, probe, run_source):
    table = make_table()
    for i in range(7):
        put(ddb, table, f"k{i}")
    run_source(table, batch_size=3)
    wait_until(lambda: len(records(probe)) == 7)
    assert [len(e["Records"]) for e in probe.events()] == [3, 3, 1]


def test_partial_failure_redelivers_from_the_failed_sequence_number(ddb, make_table, probe, run_source):
    table = make_table()
    for i in range(4):
        put(ddb, table, f"k{i}")
    probe.script({"fail_index": 2})
    source = run_source(table, report_batch_item_failures=True)
    wait_until(lambda: len(probe.events()) == 2)
    first, second = ([r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]] for e in probe.events())
    assert first == ["k0", "k1", "k2", "k3"] and second == ["k2", "k3"]
    assert source.status()["partial_failures"] == 1


def test_retries_then_on_failure_destination(ddb, make_table, probe, run_source, tmp_path):
    table = make_table()
    put(ddb, table, "bad", poison="1")
    source = run_source(
        table, maximum_retry_attempts=1, on_failure_destination="arn:aws:sqs:us-east-1:000000000000:dlq"
    )
    dead_letters = tmp_path / "dead-letters" / "Probe.Changes.jsonl"
    wait_until(dead_letters.exists)
    (message,) = [json.loads(line) for line in dead_letters.read_text().splitlines()]
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 2
    info = message["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["streamArn"] == source.record_arn
    assert info["startSequenceNumber"] == records(probe)[0]["dynamodb"]["SequenceNumber"]
    put(ddb, table, "good")
    wait_until(lambda: records(probe)[-1]["dynamodb"]["Keys"]["pk"]["S"] == "good")
    status = source.status()
    assert status["dead_lettered"] == 1 and status["retries"] == 1
    assert "written locally" in status["on_failure"]


def test_filters_apply_to_the_record(ddb, make_table, probe, run_source):
    table = make_table()
    source = run_source(table, filter_patterns=[{"eventName": ["INSERT"]}])
    put(ddb, table, "a", v="1")
    put(ddb, table, "a", v="2")
    put(ddb, table, "b", v="1")
    wait_until(lambda: len(records(probe)) == 2 and source.status()["filtered"] == 1)
    assert [r["eventName"] for r in records(probe)] == ["INSERT", "INSERT"]


def _keys(probe):
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in records(probe)]


@pytest.mark.parametrize("starting_position", ["TRIM_HORIZON", "LATEST"])
def test_checkpoints_survive_a_restart(ddb, make_table, probe, run_source, tmp_path, starting_position):
    """A restarted source resumes after its last finished record: nothing delivered twice, nothing
    written while it was down skipped (whatever StartingPosition says, as on AWS)."""
    table = make_table()
    checkpoints = tmp_path / "state" / "stream-checkpoints" / "Probe.Changes.json"
    first = run_source(table, checkpoint_file=checkpoints, starting_position=starting_position)
    for i in range(3):
        put(ddb, table, f"before{i}")
    wait_until(lambda: len(records(probe)) == 3)
    wait_until(checkpoints.exists)
    first.stop()
    put(ddb, table, "while-down")
    run_source(table, checkpoint_file=checkpoints, starting_position=starting_position)
    put(ddb, table, "after")
    wait_until(lambda: len(records(probe)) >= 5)
    assert _keys(probe) == ["before0", "before1", "before2", "while-down", "after"]


def test_without_a_checkpoint_file_a_restart_starts_again_at_trim_horizon(ddb, make_table, probe, run_source):
    """The contrast that shows the file is what carries the position: without it, all is redelivered."""
    table = make_table()
    first = run_source(table)
    put(ddb, table, "a")
    wait_until(lambda: len(records(probe)) == 1)
    first.stop()
    run_source(table)
    wait_until(lambda: len(records(probe)) == 2)
    assert _keys(probe) == ["a", "a"]


def test_a_transaction_that_writes_another_table_first_is_delivered(ddb, make_table, probe, run_source):
    """DynamoDB Local invalidates a held shard iterator after such a transaction; the source takes a new
    one after its checkpoint, so nothing is lost or delivered twice (an outbox writes exactly this)."""
    table, other = make_table(), make_table()
    run_source(table)
    put(ddb, table, "first")
    wait_until(lambda: len(records(probe)) == 1)
    for n in range(3):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": other, "Item": {"pk": {"S": f"business-{n}"}}}},
                {"Put": {"TableName": table, "Item": {"pk": {"S": f"event-{n}"}}}},
            ]
        )
    wait_until(lambda: len(records(probe)) >= 4)
    time.sleep(0.5)
    assert _keys(probe) == ["first", "event-0", "event-1", "event-2"]
