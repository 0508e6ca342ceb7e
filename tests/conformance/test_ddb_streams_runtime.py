"""DynamoDB Streams records carry one region throughout: `awsRegion`, the region in
`eventSourceARN`, and the stream ARN the template hands the function all agree (DynamoDB Local's
own ARNs name a region of their own)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.conformance.conftest import HERE, RuntimeFactory
from tests.runtime.esm_helpers import wait_until

TEMPLATE = HERE / "ddb_streams" / "template.yaml"


def test_stream_records_carry_one_region(start_runtime: RuntimeFactory, ddb, tmp_path: Path) -> None:
    table = f"items-{uuid.uuid4().hex[:8]}"
    records = tmp_path / "records"
    records.mkdir()
    runtime = start_runtime(TEMPLATE, parameter_overrides={"TableName": table, "RecordDir": str(records)})
    ddb.put_item(TableName=table, Item={"id": {"S": "a"}})
    (written,) = wait_until(lambda: list(records.iterdir()))
    received = json.loads(written.read_text())
    (record,) = received["event"]["Records"]
    region = runtime.endpoints.region
    assert record["awsRegion"] == region
    assert record["eventSourceARN"].split(":")[3] == region
    assert record["eventSourceARN"].startswith(
        f"arn:aws:dynamodb:{region}:000000000000:table/{table}/stream/"
    )
    assert received["stream_arn"] == record["eventSourceARN"]
