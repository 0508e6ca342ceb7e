"""One boto3 DynamoDB client per process, pointed at the endpoint from `Endpoints.from_env()`.

Created lazily and cached: Lambda reuses it across invocations (no TLS handshake per call).
"""

from __future__ import annotations

import platform
from functools import cache
from typing import TYPE_CHECKING

import boto3
import botocore
from botocore.config import Config

from common.config import Endpoints

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Set once: botocore otherwise rebuilds its default User-Agent on every call (0.28 of the 1.65 ms of
# client CPU a GetItem costs on the bench machine). It also names surge in CloudTrail's userAgent.
USER_AGENT = f"surge botocore/{botocore.__version__} Python/{platform.python_version()}"

# Standard retry mode backs off on throttling; connect/read timeouts stay well under the function timeout.
CLIENT_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"},
    connect_timeout=3,
    read_timeout=10,
    max_pool_connections=32,
    user_agent=USER_AGENT,
)


@cache
def dynamodb_client() -> DynamoDBClient:
    endpoints = Endpoints.from_env()
    return boto3.client(
        "dynamodb",
        region_name=endpoints.region,
        endpoint_url=endpoints.dynamodb,
        config=CLIENT_CONFIG,
    )
