"""The one place where code learns where Kafka and AWS services are.

Endpoints come from the standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables (which
boto3 also honours on its own) and `KAFKA_BOOTSTRAP_SERVERS`; nothing is hard-coded. On AWS the
endpoint variables are unset and boto3 uses the regional endpoints.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, field_validator


class Endpoints(BaseModel):
    """Where the backing services are. `None` means: the AWS default for the region."""

    model_config = ConfigDict(frozen=True)

    kafka_bootstrap_servers: str | None = None
    dynamodb: str | None = None
    dynamodbstreams: str | None = None
    region: str = "us-east-1"

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _servers_are_host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"KAFKA_BOOTSTRAP_SERVERS entry {server!r} is not host:port")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Endpoints:
        env = os.environ if env is None else env
        shared = env.get("AWS_ENDPOINT_URL") or None
        return cls(
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            dynamodb=env.get("AWS_ENDPOINT_URL_DYNAMODB") or shared,
            dynamodbstreams=env.get("AWS_ENDPOINT_URL_DYNAMODBSTREAMS") or shared,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        )

    def require_kafka(self) -> str:
        if not self.kafka_bootstrap_servers:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set")
        return self.kafka_bootstrap_servers

    def as_env(self) -> dict[str, str]:
        """The variables that make another process (or `sh`) see these endpoints."""
        env = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.kafka_bootstrap_servers:
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.kafka_bootstrap_servers
        if self.dynamodb:
            env["AWS_ENDPOINT_URL_DYNAMODB"] = self.dynamodb
        if self.dynamodbstreams:
            env["AWS_ENDPOINT_URL_DYNAMODBSTREAMS"] = self.dynamodbstreams
        return env
