"""Handlers of the msk_orders conformance template: a consumer that stores orders, and a validator
that needs no services (it answers a partial batch response)."""

import base64
import json
import os

import boto3


def _orders(event):
    for records in event["records"].values():
        for record in records:
            yield record, json.loads(base64.b64decode(record["value"]))


def consume(event, context):
    table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
    orders = [order for _, order in _orders(event)]
    for order in orders:
        if order.get("poison"):
            raise ValueError(f"order {order['orderId']} cannot be stored")
    for order in orders:
        table.put_item(Item={"orderId": order["orderId"], "amount": order["amount"]})
    return {}


def validate(event, context):
    failures = [
        {
            "itemIdentifier": {
                "partition": f"{record['topic']}-{record['partition']}",
                "offset": record["offset"],
            }
        }
        for record, order in _orders(event)
        if not isinstance(order.get("amount"), int)
    ]
    return {"batchItemFailures": failures, "bootstrapServers": event["bootstrapServers"]}
