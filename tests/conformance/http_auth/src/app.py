"""Echoes what API Gateway's authorizer left in the request context."""

import json


def handler(event, context):
    authorizer = event["requestContext"].get("authorizer")
    return {"statusCode": 200, "body": json.dumps({"authorizer": authorizer, "path": event.get("rawPath")})}
