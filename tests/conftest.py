"""Session fixtures: one real Apache Kafka and one DynamoDB Local for the whole test run, started on
free loopback ports through the same code as `surge stack up`, and stopped at the end."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from common.config import Endpoints
from infra.stack.clients import dynamodb_client, local_credentials_env
from infra.stack.stack import ServiceStack

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "template.yaml"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceStack]:
    # No skip when Java is missing: StackError says what to install, and the run fails.
    started = ServiceStack.start(log_dir=tmp_path_factory.mktemp("stack-logs"))
    saved = dict(os.environ)
    # Code under test (handlers, the runtime) finds the services through the standard variables.
    os.environ.update({**started.endpoints.as_env(), **local_credentials_env()})
    try:
        yield started
    finally:
        os.environ.clear()
        os.environ.update(saved)
        started.stop()


@pytest.fixture(scope="session")
def endpoints(stack: ServiceStack) -> Endpoints:
    return stack.endpoints


@pytest.fixture(scope="session")
def ddb(endpoints: Endpoints) -> DynamoDBClient:
    return dynamodb_client(endpoints)


@pytest.fixture(scope="session")
def kafka_admin(endpoints: Endpoints) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(bootstrap_servers=endpoints.require_kafka())
    yield admin
    admin.close()


@pytest.fixture
def make_topic(kafka_admin: KafkaAdminClient) -> Callable[..., str]:
    """Create a fresh, uniquely named topic; tests never share topics."""

    def create(partitions: int = 1, prefix: str = "test") -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:10]}"
        kafka_admin.create_topics([NewTopic(name, partitions, 1)])
        return name

    return create
