"""The Kafka bridge: the deployed stack's Kafka event sources, run by the local runtime's own
`KafkaEventSource` (batching, offsets, retries, bisect, partial batch failures, filters, on-failure
destinations: unchanged code) behind a `LambdaInvoker`, because neither ministack nor LocalStack's
community edition polls Kafka event source mappings.

HTTP goes the same way: ministack creates the HTTP API but not its routes (it ignores the OpenAPI
`Body` the SAM transform writes), so the bridge serves the template's routes with surge's HTTP API
server, each request invoking the deployed function through the Lambda Invoke API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.localstack.deploy import REGION, describe, local_parameters
from infra.localstack.lambda_invoker import LambdaInvoker
from infra.runtime.authorizers import Authorizers
from infra.runtime.http_api import HttpApiServer
from infra.runtime.kafka.source import KafkaEventSource
from infra.runtime.sources import EventSource
from infra.template import HttpApiEventSpec, load_template

ACCOUNT_ID = "000000000000"


class Bridge:
    def __init__(
        self,
        template: Path,
        *,
        endpoint: str,
        stack_name: str,
        kafka_bootstrap_servers: str,
        state_dir: Path,
        http_port: int = 0,
        http_host: str = "127.0.0.1",
    ) -> None:
        deployment = describe(endpoint, stack_name)
        self.deployment = deployment
        spec = load_template(
            template, local_parameters(kafka_bootstrap_servers), stack_name=stack_name, account_id=ACCOUNT_ID
        )
        self.invoker = LambdaInvoker(endpoint, deployment.functions)
        missing = sorted(set(spec.functions) - set(deployment.functions))
        if missing:
            raise ValueError(
                f"stack {stack_name} has no deployed function for {missing}: run `surge localstack deploy`"
            )
        self.kafka: list[KafkaEventSource] = [
            KafkaEventSource(
                event,
                self.invoker,
                function_id=event.function_logical_id,
                bootstrap_servers=kafka_bootstrap_servers,
                dead_letter_dir=state_dir / "dead-letters",
                function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{deployment.functions[event.function_logical_id]}",
                region=REGION,
            )
            for event in spec.kafka_events()
        ]
        routes = [
            event
            for function in spec.functions.values()
            for event in function.events
            if isinstance(event, HttpApiEventSpec)
        ]
        self.http = HttpApiServer(
            routes,
            self.invoker,
            host=http_host,
            port=http_port,
            extra_routes={"/_surge/status": lambda: (200, self.status())},
            account_id=ACCOUNT_ID,
            authorizers=Authorizers(self.invoker, region=REGION, account_id=ACCOUNT_ID),
        )
        self.sources: list[EventSource] = [*self.kafka, self.http]

    @property
    def url(self) -> str:
        return str(self.http.url)

    def start(self) -> None:
        for source in self.sources:
            source.start()

    def ready(self) -> bool:
        return all(source.ready() for source in self.sources)

    def status(self) -> dict[str, Any]:
        return {
            "stack": self.deployment.stack_name,
            "endpoint": self.deployment.endpoint,
            "url": self.url,
            "functions": self.deployment.functions,
            "sources": {source.name: source.status() for source in self.sources},
        }

    def stop(self) -> None:
        for source in reversed(self.sources):
            source.stop()
        self.invoker.close()

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
