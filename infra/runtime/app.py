"""`LocalRuntime`: one SAM template's functions, driven by their event sources against real services.

Start-up order mirrors a deployment: resolve the template with the local endpoints, create its topics
and tables, resolve it again with the tables' real stream ARNs, then start one worker pool per function
and one event source per event (the HTTP API serves every HttpApi/Api route on one port).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common.config import Endpoints
from infra import paths
from infra.runtime.dynamodb_streams import regional_arn
from infra.runtime.filters import fields_outside
from infra.runtime.function_env import FunctionEnvironment, FunctionSetupError
from infra.runtime.function_env import prepare as prepare_function
from infra.runtime.invoker import Invoker
from infra.runtime.receivers import HttpReceiver, start_receivers
from infra.runtime.signing_keys import local_signing_key_overrides
from infra.runtime.sources import EventSource, stop_together
from infra.runtime.workers import FunctionRuntime, LogSink, WorkerInvoker, print_log
from infra.stack.clients import dynamodb_client, local_credentials_env
from infra.stack.resources import table_stream_arns
from infra.stack.stack import provision
from infra.template import (
    DynamoDBEventSpec,
    FunctionSpec,
    HttpApiEventSpec,
    KafkaEventSpec,
    SamTemplate,
    ScheduleEventSpec,
    TemplateError,
    load_template,
)
from infra.template.yaml_loader import read_template_file


def resolve_template(
    template_path: Path,
    endpoints: Endpoints,
    parameter_overrides: Mapping[str, str] | None = None,
    *,
    state_dir: Path | None = None,
) -> SamTemplate:
    """The template as it runs locally: Kafka parameters point at the local broker, stream ARNs are real,
    and key parameters (Metadata.Surge.LocalSigningKeys) name key files generated in `state_dir`."""
    overrides = {"KafkaBootstrapServers": endpoints.require_kafka(), **(parameter_overrides or {})}
    overrides |= local_signing_key_overrides(template_path, overrides, state_dir or paths.state_dir())
    template = load_template(template_path, overrides, region=endpoints.region)
    if any(t.stream_view_type for t in template.tables.values()) and endpoints.dynamodb:
        arns = table_stream_arns(dynamodb_client(endpoints), template.tables.values())
        if arns:
            # In the template's region, as the records' eventSourceARN (see regional_arn).
            attributes = {
                (logical_id, "StreamArn"): regional_arn(arn, endpoints.region)
                for logical_id, arn in arns.items()
            }
            template = load_template(
                template_path, overrides, region=endpoints.region, resource_attributes=attributes
            )
    return template


def function_runtime(
    spec: FunctionSpec, max_concurrency: int, environment: FunctionEnvironment | None = None
) -> FunctionRuntime:
    """Raises FunctionSetupError when `environment` is not given and cannot be prepared."""
    if environment is None:
        environment = prepare_function(spec.logical_id, spec.runtime, spec.code_dir, spec.layers)
    return FunctionRuntime(
        function_id=spec.logical_id,
        function_name=spec.function_name,
        handler=spec.handler,
        code_dir=str(spec.code_dir),
        timeout_s=float(spec.timeout),
        memory_mb=spec.memory_size,
        environment=spec.environment,
        max_concurrency=concurrency_cap(spec, max_concurrency),
        runtime=spec.runtime,
        interpreter=environment.interpreter,
        interpreter_args=environment.interpreter_args,
        python_path=environment.python_path,
        extra_env=environment.extra_env,
    )


MAX_DEFAULT_CONCURRENCY = 10


def default_max_concurrency(cores: int | None = None) -> int:
    """`--max-concurrency` when not given: two execution environments per CPU core this process may
    use, from 2 up to 10. Every environment here shares the machine's cores (on AWS each has its own):
    two per core keep a core busy while one waits on I/O, and more only add context switches (on 2
    cores the issue route did 1,137 req/s with 10 environments, 1,309 with 4; README, Benchmarks)."""
    if cores is None:
        cores = len(os.sched_getaffinity(0))
    return min(MAX_DEFAULT_CONCURRENCY, max(2, 2 * cores))


def concurrency_cap(spec: FunctionSpec, max_concurrency: int) -> int:
    """How many execution environments the function may have at once: --max-concurrency (at least its
    provisioned ones), never more than its ReservedConcurrentExecutions, as on AWS."""
    cap = max(max_concurrency, spec.provisioned_concurrency)
    if spec.reserved_concurrency is not None:
        cap = min(cap, spec.reserved_concurrency)
    return cap


def shared_environment(endpoints: Endpoints) -> dict[str, str]:
    """What every function sees besides its own variables: where the services are."""
    return {**endpoints.as_env(), **local_credentials_env()}


class LocalRuntime:
    def __init__(
        self,
        template_path: Path,
        endpoints: Endpoints,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        parameter_overrides: Mapping[str, str] | None = None,
        max_concurrency: int | None = None,
        state_dir: Path,
        log: LogSink = print_log,
        skip_unsupported: bool = False,
        no_auth: bool = False,
    ) -> None:
        """`skip_unsupported`: run what the runtime can and list the rest in status and health;
        without it, a template with anything the runtime cannot run is refused (TemplateError)."""
        self.template_path = template_path
        self.endpoints = endpoints
        self.host = host
        self.port = port
        self.parameter_overrides = dict(parameter_overrides or {})
        self.max_concurrency = default_max_concurrency() if max_concurrency is None else max_concurrency
        self.skip_unsupported = skip_unsupported
        self.no_auth = no_auth  # serve routes whose Auth cannot be enforced locally, open
        self.skipped: list[str] = []  # "<construct> (at <where>)" of what runs without it
        self.state_dir = state_dir
        self.log = log
        self.sources: list[EventSource] = []
        self.invoker: Invoker | None = None
        self.http: Any = None
        self.started_at = 0.0
        self.warnings: list[str] = []  # said at start-up and kept in status
        self.init_errors: dict[str, str] = {}  # function -> why its first environment failed to start
        self.receivers: dict[str, HttpReceiver] = {}  # parameter -> its local receiver
        self._stopped = threading.Event()

    def start(self) -> None:
        self._check_supported()
        self.receivers = start_receivers(read_template_file(self.template_path), self.parameter_overrides)
        self.parameter_overrides |= {parameter: r.url for parameter, r in self.receivers.items()}
        for parameter, receiver in self.receivers.items():
            self.log("surge", f"local receiver for {parameter}: {receiver.url}")
        provision(self.endpoints, self.template_path, self.parameter_overrides)
        template = resolve_template(
            self.template_path, self.endpoints, self.parameter_overrides, state_dir=self.state_dir
        )
        self._warn_missing_topics(template)
        runtimes = self._prepare_functions(template)
        invoker = WorkerInvoker(runtimes, shared_environment(self.endpoints), log=self.log)
        self.invoker = invoker
        self._warm(
            invoker, {fid: max(1, template.functions[fid].provisioned_concurrency) for fid in runtimes}
        )
        routes: list[HttpApiEventSpec] = []
        for function in template.functions.values():
            if function.logical_id not in runtimes:
                continue  # it cannot run here (said in health); its events would only fail
            for event in function.events:
                if isinstance(event, HttpApiEventSpec):
                    routes.append(event)
                else:
                    self.sources.append(self._source(event, invoker, template))
        self.http = self._http_server(routes, invoker, template)
        self.sources.append(self.http)
        self.started_at = time.time()
        for source in self.sources:
            source.start()

    def _prepare_functions(self, template: SamTemplate) -> dict[str, FunctionRuntime]:
        """Interpreter, requirements and layers of each function (function_env.py); a function
        that cannot be prepared is left out and named in health."""
        runtimes: dict[str, FunctionRuntime] = {}
        for function_id, spec in template.functions.items():
            for arn in spec.external_layers:
                self.warn(
                    f"{function_id}: layer {arn} is not in the template; its content is not available locally"
                )
            try:
                environment = prepare_function(function_id, spec.runtime, spec.code_dir, spec.layers)
            except FunctionSetupError as exc:
                self.init_errors[function_id] = str(exc).removeprefix(f"{function_id}: ")
                self.log(function_id, f"cannot run: {exc}")
                continue
            for warning in environment.warnings:
                self.warn(warning)
            runtimes[function_id] = function_runtime(spec, self.max_concurrency, environment)
        return runtimes

    def _check_supported(self) -> None:
        """List every construct the runtime cannot run, with its location, before anything starts;
        refuse them all at once unless told to skip them."""
        overrides = {"KafkaBootstrapServers": self.endpoints.require_kafka(), **self.parameter_overrides}
        template = load_template(self.template_path, overrides, region=self.endpoints.region)
        self._check_auth(template)
        if not template.unsupported:
            return
        listed = "\n".join(f"  - {problem} (skips the {problem.skipped})" for problem in template.unsupported)
        if not self.skip_unsupported:
            raise TemplateError(
                f"{self.template_path}: the local runtime cannot run these; fix them, or pass "
                f"--skip-unsupported to run the rest without them:\n{listed}"
            )
        self.skipped = [f"{problem} (skips the {problem.skipped})" for problem in template.unsupported]
        for entry in self.skipped:
            self.log("surge", f"skipped: {entry}")

    def _warn_missing_topics(self, template: SamTemplate) -> None:
        """Topics declared in Metadata.Surge.KafkaTopics were just created; a topic an event reads
        that is neither declared nor on the broker is named here (its source waits for it, and
        health says so until it exists)."""
        events = [e for e in template.kafka_events() if e.enabled]
        if not events:
            return
        from infra.stack.resources import existing_topics

        declared = {t.name for t in template.topics}
        present = existing_topics(self.endpoints.require_kafka())
        for event in events:
            if event.topic not in declared and event.topic not in present:
                self.warn(
                    f"topic {event.topic} of {event.function_logical_id}.{event.name} does not exist and "
                    "is not declared under Metadata.Surge.KafkaTopics; the event waits until it is created"
                )

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.log("surge", f"warning: {message}")

    def _warm(self, invoker: WorkerInvoker, environments: Mapping[str, int]) -> None:
        """Initialize each function's environments before any event arrives, all at once, so the
        first surge does not queue behind cold starts: its ProvisionedConcurrencyConfig, else one."""
        function_ids = list(environments)
        with ThreadPoolExecutor(max(1, len(function_ids))) as pool:
            errors = pool.map(lambda fid: invoker.warm(fid, environments[fid]), function_ids)
            for function_id, error in zip(function_ids, errors, strict=True):
                if error:
                    self.init_errors[function_id] = error
                    self.log(function_id, f"init failed: {error}")

    def _source(self, event: Any, invoker: Invoker, template: SamTemplate) -> EventSource:
        if isinstance(event, KafkaEventSpec):
            from infra.runtime.kafka.source import KafkaEventSource

            for field in fields_outside(event.filter_patterns, {"value"}):
                self.warn(
                    f"{event.function_logical_id}.{event.name}: FilterCriteria filters on {field!r}, "
                    "but Lambda filters Kafka records on 'value' only: that pattern matches no record"
                )

            return KafkaEventSource(
                event,
                invoker,
                bootstrap_servers=event.bootstrap_servers,
                function_id=event.function_logical_id,
                dead_letter_dir=self.state_dir / "dead-letters",
                function_arn=self._function_arn(template, event.function_logical_id),
                region=template.region,
            )
        if isinstance(event, DynamoDBEventSpec):
            from infra.runtime.dynamodb_streams import DynamoDBStreamEventSource

            table = template.tables.get(event.table_logical_id or "")
            return DynamoDBStreamEventSource(
                event,
                invoker,
                function_id=event.function_logical_id,
                endpoints=self.endpoints,
                dead_letter_dir=self.state_dir / "dead-letters",
                table_name=table.table_name if table else None,
                bootstrap_servers=self.endpoints.kafka_bootstrap_servers,
                function_arn=self._function_arn(template, event.function_logical_id),
                # In the state dir, so a restarted `surge local up` resumes where it stopped (as on AWS).
                checkpoint_file=self.state_dir
                / "stream-checkpoints"
                / f"{event.function_logical_id}.{event.name}.json",
            )
        if isinstance(event, ScheduleEventSpec):
            from infra.runtime.schedule import ScheduleEventSource

            return ScheduleEventSource(event, invoker, region=template.region, account_id=template.account_id)
        raise TypeError(f"no local event source for {type(event).__name__}")

    @staticmethod
    def _function_arn(template: SamTemplate, function_id: str) -> str:
        name = template.functions[function_id].function_name
        return f"arn:aws:lambda:{template.region}:{template.account_id}:function:{name}"

    def _http_server(self, routes: list[HttpApiEventSpec], invoker: Invoker, template: SamTemplate) -> Any:
        from infra.runtime.authorizers import Authorizers
        from infra.runtime.http_api import HttpApiServer

        return HttpApiServer(
            routes,
            invoker,
            host=self.host,
            port=self.port,
            extra_routes={"/_surge/health": self.health, "/_surge/status": self.status_response},
            account_id=template.account_id,
            authorizers=Authorizers(invoker, region=template.region, account_id=template.account_id),
        )

    def _check_auth(self, template: SamTemplate) -> None:
        """A route protected on AWS is never open locally by accident: Auth the runtime cannot enforce
        is refused, unless --no-auth says to serve such routes open (their status says so)."""
        unenforced = [
            f"{event.function_logical_id}.{event.name} ({event.method} {event.path}): {event.auth.reason}"
            for function in template.functions.values()
            for event in function.events
            if isinstance(event, HttpApiEventSpec)
            and event.auth is not None
            and event.auth.kind == "unenforced"
        ]
        if not unenforced:
            return
        listed = "\n".join(f"  - {entry}" for entry in unenforced)
        if not self.no_auth:
            raise TemplateError(
                f"{self.template_path}: these routes have Auth the local runtime cannot enforce; pass "
                f"--no-auth to serve them without it:\n{listed}"
            )
        for entry in unenforced:
            self.warn(f"auth NOT enforced (--no-auth): {entry}")

    @property
    def url(self) -> str:
        return str(self.http.url)

    def health(self) -> tuple[int, dict[str, Any]]:
        """200 only when every function initialized and every event source polls (or serves);
        else 503 with the reasons: `problems` (a function that failed to initialize, a source's
        problem or, for one still trying, its last error) and `waiting_for` (sources still trying)."""
        problems = [f"{fid}: init failed: {error}" for fid, error in sorted(self.init_errors.items())]
        waiting: list[str] = []
        for source in self.sources:
            status = source.status()
            if status.get("problem"):
                problems.append(f"{source.name}: {status['problem']}")
            elif not source.ready():
                # Still trying; its last error is the reason for now (it may be transient).
                waiting.append(source.name)
                last_error = status.get("last_error") or {}
                if last_error.get("message"):
                    problems.append(f"{source.name}: {last_error['message']}")
        if problems or waiting:
            state = "unhealthy" if problems else "starting"
            return 503, {
                "status": state,
                "problems": problems,
                "waiting_for": waiting,
                "skipped": self.skipped,
            }
        # What --skip-unsupported left out does not make it unhealthy (it was asked for), but is said.
        return 200, {"status": "ok", "sources": len(self.sources), "skipped": self.skipped}

    def status(self) -> dict[str, Any]:
        return {
            "template": str(self.template_path),
            "started_at": self.started_at,
            "url": self.url,
            "endpoints": self.endpoints.as_env(),
            "health": self.health()[1],
            "warnings": self.warnings,
            "skipped": self.skipped,
            "sources": {source.name: source.status() for source in self.sources},
            "functions": self.invoker.stats() if isinstance(self.invoker, WorkerInvoker) else {},
            "receivers": {parameter: r.stats() for parameter, r in self.receivers.items()},
        }

    def status_response(self) -> tuple[int, dict[str, Any]]:
        return 200, self.status()

    def wait_healthy(self, timeout: float = 60.0) -> None:
        code, body = self.wait_settled(timeout)
        if code != 200:
            raise TimeoutError(f"not healthy after {timeout:.0f}s: {body['problems'] + body['waiting_for']}")

    def wait_settled(self, timeout: float = 60.0) -> tuple[int, dict[str, Any]]:
        """Wait until healthy, or until no source is still trying (what is left are problems that
        waiting cannot fix: a failed init, a missing topic), or `timeout`; returns the health then."""
        deadline = time.monotonic() + timeout
        while True:
            code, body = self.health()
            if code == 200 or not body["waiting_for"] or time.monotonic() >= deadline:
                return code, body
            time.sleep(0.1)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        # The API first (no new requests), then every other source at once.
        stop_together([self.http] if self.http in self.sources else [], self.log)
        stop_together([source for source in self.sources if source is not self.http], self.log)
        if self.invoker is not None:
            self.invoker.close()
        for receiver in self.receivers.values():
            receiver.stop()

    def __enter__(self) -> LocalRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
