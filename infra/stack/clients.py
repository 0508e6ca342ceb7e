"""boto3 clients for the local stack. DynamoDB Local accepts any credentials, so fixed dummies are set
when none are configured (boto3 would otherwise refuse to sign requests)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from common.config import Endpoints

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

_LOCAL_KEY = "surge"


def _uses_configured_credentials() -> bool:
    return bool(os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"))


def _session() -> boto3.session.Session:
    if _uses_configured_credentials():
        return boto3.session.Session()
    return boto3.session.Session(aws_access_key_id=_LOCAL_KEY, aws_secret_access_key=_LOCAL_KEY)


def dynamodb_client(endpoints: Endpoints, max_pool_connections: int = 50) -> DynamoDBClient:
    return _session().client(
        "dynamodb",
        endpoint_url=endpoints.dynamodb,
        region_name=endpoints.region,
        config=Config(max_pool_connections=max_pool_connections, retries={"mode": "standard"}),
    )


def dynamodbstreams_client(endpoints: Endpoints) -> DynamoDBStreamsClient:
    return _session().client(
        "dynamodbstreams",
        endpoint_url=endpoints.dynamodbstreams,
        region_name=endpoints.region,
    )


def local_credentials_env() -> dict[str, str]:
    """Variables a child process needs to talk to DynamoDB Local when the user configured none."""
    if _uses_configured_credentials():
        return {}
    return {"AWS_ACCESS_KEY_ID": _LOCAL_KEY, "AWS_SECRET_ACCESS_KEY": _LOCAL_KEY}
