"""A deployed Kafka consumer for the bridge's tests: stores each record's value, and reports a record
whose value is "poison" as a batch item failure (ReportBatchItemFailures)."""

import base64
import os

import boto3

_table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def handler(event, context):
    failures = []
    for partition, records in event["records"].items():
        for record in records:
            value = base64.b64decode(record["value"]).decode()
            if value == "poison":
                failures.append({"itemIdentifier": {"partition": partition, "offset": record["offset"]}})
            else:
                _table.put_item(Item={"pk": value, "offset": record["offset"]})
    return {"batchItemFailures": failures}
