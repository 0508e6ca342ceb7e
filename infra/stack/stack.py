"""Kafka + DynamoDB Local together: start, provision from template.yaml, describe, stop."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config import Endpoints
from infra.stack.clients import dynamodb_client, local_credentials_env
from infra.stack.dynamodb_local import DynamoDBLocal, dynamodb_local_dir
from infra.stack.errors import StackError
from infra.stack.kafka_broker import KafkaBroker, kafka_libs
from infra.stack.process import peak_rss_mib, pid_alive, port_accepts
from infra.stack.resources import ensure_tables, ensure_topics


def install_services() -> None:
    """Fetch Kafka's jars and DynamoDB Local into the cache (no-op when already there)."""
    kafka_libs()
    dynamodb_local_dir()


@dataclass
class Provisioned:
    topics_created: list[str]
    tables_created: list[str]


class ServiceStack:
    """A started Kafka broker and DynamoDB Local. Use as a context manager or call `stop()`."""

    def __init__(self, kafka: KafkaBroker, dynamodb: DynamoDBLocal) -> None:
        self.kafka = kafka
        self.dynamodb = dynamodb
        self.started_at = time.time()

    @classmethod
    def start(
        cls,
        *,
        kafka_port: int | None = None,
        dynamodb_port: int | None = None,
        data_dir: Path | None = None,
        log_dir: Path,
    ) -> ServiceStack:
        install_services()
        kafka_data = data_dir / "kafka" if data_dir else None
        dynamodb_data = data_dir / "dynamodb" if data_dir else None
        # Both JVMs boot at once; processes are started from this thread so they die with it.
        kafka = KafkaBroker.launch(port=kafka_port, data_dir=kafka_data, log_dir=log_dir)
        try:
            dynamodb = DynamoDBLocal.launch(port=dynamodb_port, data_dir=dynamodb_data, log_dir=log_dir)
        except BaseException:
            kafka.stop()
            raise
        try:
            dynamodb.wait_ready()
            kafka.wait_ready()
        except BaseException:
            kafka.stop()
            dynamodb.stop()
            raise
        return cls(kafka, dynamodb)

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            kafka_bootstrap_servers=self.kafka.bootstrap_servers,
            dynamodb=self.dynamodb.endpoint_url,
            dynamodbstreams=self.dynamodb.endpoint_url,
        )

    def provision(self, template_path: Path | None) -> Provisioned:
        return provision(self.endpoints, template_path)

    def stop(self) -> None:
        self.kafka.stop()
        self.dynamodb.stop()

    def __enter__(self) -> ServiceStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> dict[str, Any]:
        """What the state file records, and what `stack status` reads back."""
        return {
            "supervisor_pid": os.getpid(),
            "started_at": self.started_at,
            "endpoints": {**self.endpoints.as_env(), **local_credentials_env()},
            "kafka": {
                "pid": self.kafka.process.pid,
                "port": self.kafka.port,
                "log": str(self.kafka.log_path),
                "data_dir": None if self.kafka.temporary else str(self.kafka.data_dir),
            },
            "dynamodb": {
                "pid": self.dynamodb.process.pid,
                "port": self.dynamodb.port,
                "log": str(self.dynamodb.log_path),
                "data_dir": str(self.dynamodb.data_dir) if self.dynamodb.data_dir else None,
            },
        }


def provision(
    endpoints: Endpoints, template_path: Path | None, parameter_overrides: Mapping[str, str] | None = None
) -> Provisioned:
    """Create the template's topics and tables on these endpoints (with the template's parameters
    overridden as given: a table named by a parameter gets the overridden name). Idempotent."""
    if template_path is None:
        return Provisioned([], [])
    from infra.template import load_template

    overrides = {**_kafka_override(endpoints), **(parameter_overrides or {})}
    template = load_template(template_path, parameter_overrides=overrides, region=endpoints.region)
    topics = ensure_topics(endpoints.require_kafka(), template.topics)
    tables = ensure_tables(dynamodb_client(endpoints), template.tables.values())
    return Provisioned(topics, tables)


def _kafka_override(endpoints: Endpoints) -> dict[str, str]:
    return {"KafkaBootstrapServers": endpoints.kafka_bootstrap_servers or ""}


# --- the state file of a running stack (written by whoever runs it, read by env/status/down) ---


def state_file(state_dir: Path) -> Path:
    return state_dir / "stack" / "state.json"


def write_state(state_dir: Path, description: dict[str, Any]) -> None:
    path = state_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(description, indent=2))
    tmp.replace(path)


def read_state(state_dir: Path) -> dict[str, Any] | None:
    """The running stack's description, or None (a stale file from a dead stack is removed)."""
    path = state_file(state_dir)
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not pid_alive(int(state.get("supervisor_pid", 0))):
        path.unlink(missing_ok=True)
        return None
    return state


def clear_state(state_dir: Path) -> None:
    state_file(state_dir).unlink(missing_ok=True)


def health(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per service: pid, port, whether the process lives and the port answers, peak memory."""
    report: dict[str, dict[str, Any]] = {}
    for name in ("kafka", "dynamodb"):
        service = state[name]
        alive = pid_alive(service["pid"])
        report[name] = {
            "pid": service["pid"],
            "port": service["port"],
            "running": alive,
            "healthy": alive and port_accepts(service["port"]),
            "peak_rss_mib": peak_rss_mib(service["pid"]) if alive else None,
            "log": service["log"],
        }
    return report


def ensure_not_running(state_dir: Path) -> None:
    state = read_state(state_dir)
    if state is not None:
        raise StackError(
            f"the stack is already up (pid {state['supervisor_pid']}, "
            f"Kafka {state['endpoints'].get('KAFKA_BOOTSTRAP_SERVERS')}, "
            f"DynamoDB {state['endpoints'].get('AWS_ENDPOINT_URL_DYNAMODB')}); `surge stack down` stops it"
        )
