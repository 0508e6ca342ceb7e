"""`surge local up|status` and `surge invoke`: the local runtime from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from common.config import Endpoints
from infra.cli_args import positive_int
from infra.dlt.status import add_dead_letter_counts
from infra.paths import state_dir
from infra.runtime.app import LocalRuntime, function_runtime, resolve_template, shared_environment
from infra.runtime.function_env import FunctionSetupError
from infra.runtime.function_env import prepare as prepare_function
from infra.runtime.workers import WorkerInvoker
from infra.signals import exit_on_sigterm
from infra.stack.errors import StackError
from infra.stack.process import pid_alive
from infra.stack.stack import ServiceStack, read_state
from infra.template import TemplateError

DEFAULT_TEMPLATE = Path("template.yaml")


def add_parsers(commands: argparse._SubParsersAction) -> None:
    local = commands.add_parser("local", help="run a SAM template's functions with their event sources")
    sub = local.add_subparsers(dest="local_command", required=True)
    up = sub.add_parser("up", help="start every function's event sources and the HTTP API")
    _template_options(up)
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=3000, help="HTTP API port (0: a free one)")
    where = up.add_mutually_exclusive_group()
    where.add_argument("--stack", action="store_true", help="start a private Kafka + DynamoDB Local")
    where.add_argument("--kafka", metavar="HOST:PORT", help="use this Kafka (with --dynamodb)")
    up.add_argument("--dynamodb", metavar="URL", help="use this DynamoDB endpoint (with --kafka)")
    up.add_argument(
        "--max-concurrency",
        type=positive_int,
        help="execution environments (worker processes) per function; default: 2 per CPU core, 2 to 10",
    )
    up.add_argument("--log-file", type=Path, help="write function logs here instead of stdout")
    up.add_argument(
        "--no-auth",
        action="store_true",
        help="serve routes whose Auth the local runtime cannot enforce without it (status says so)",
    )
    up.add_argument(
        "--skip-unsupported",
        action="store_true",
        help="run the template without what the local runtime cannot run (listed in status and health)",
    )
    up.set_defaults(handler=_up)
    sub.add_parser("status", help="per event source: lag, batches, retries, dead-lettered").set_defaults(
        handler=_status
    )
    invoke = commands.add_parser("invoke", help="invoke one function once with an event file")
    invoke.add_argument("function", metavar="FUNCTION_LOGICAL_ID")
    invoke.add_argument("--event", "-e", type=Path, required=True, help="JSON event file ('-' for stdin)")
    _template_options(invoke)
    invoke.set_defaults(handler=_invoke)


def _template_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", "-t", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument(
        "--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE", help="template parameter values"
    )


def _overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise StackError(f"--parameter-overrides expects KEY=VALUE, got {pair!r}")
        overrides[key] = value
    return overrides


def existing_endpoints() -> tuple[Endpoints, str] | None:
    """A running `surge stack`, else endpoints configured in the environment, else None."""
    state = read_state(state_dir())
    if state is not None:
        return Endpoints.from_env(state["endpoints"]), "the running surge stack"
    env = Endpoints.from_env()
    if env.kafka_bootstrap_servers and env.dynamodb:
        return env, "KAFKA_BOOTSTRAP_SERVERS and AWS_ENDPOINT_URL_DYNAMODB"
    return None


def _up(args: argparse.Namespace) -> int:
    exit_on_sigterm()
    states = state_dir()
    _refuse_second_runtime(states)
    overrides = _overrides(args.parameter_overrides)
    if not args.template.exists():
        raise StackError(f"template {args.template} not found (use --template PATH)")
    stack: ServiceStack | None = None
    if args.kafka or args.dynamodb:
        if not (args.kafka and args.dynamodb):
            raise StackError("--kafka and --dynamodb go together")
        endpoints = Endpoints(
            kafka_bootstrap_servers=args.kafka, dynamodb=args.dynamodb, dynamodbstreams=args.dynamodb
        )
        source = "--kafka/--dynamodb"
    else:
        found = None if args.stack else existing_endpoints()
        if found is None:
            print("starting Apache Kafka and DynamoDB Local ...", flush=True)
            stack = ServiceStack.start(log_dir=states / "logs")
            endpoints, source = stack.endpoints, "a private stack (stops with this command)"
        else:
            endpoints, source = found
    log_file = open(args.log_file, "a", buffering=1) if args.log_file else None  # noqa: SIM115

    def log(function_id: str, line: str) -> None:
        if log_file is not None:
            log_file.write(f"[{function_id}] {line}\n")
        else:
            print(f"[{function_id}] {line}", flush=True)

    runtime = LocalRuntime(
        args.template,
        endpoints,
        host=args.host,
        port=args.port,
        parameter_overrides=overrides,
        max_concurrency=args.max_concurrency,
        state_dir=states,
        log=log,
        skip_unsupported=args.skip_unsupported,
        no_auth=args.no_auth,
    )
    try:
        runtime.start()
        code, health = runtime.wait_settled()
        _write_local_state(states, runtime)
        print(
            f"surge local runtime: {len(runtime.sources)} event sources from {args.template}, "
            f"services from {source}",
            flush=True,
        )
        print(f"  Kafka {endpoints.kafka_bootstrap_servers}  DynamoDB {endpoints.dynamodb}")
        print(
            f"  up to {runtime.max_concurrency} execution environments per function (--max-concurrency;"
            " ProvisionedConcurrencyConfig raises it, ReservedConcurrentExecutions caps it)"
        )
        print(f"  HTTP API {runtime.url}  (health: {runtime.url}/_surge/health)", flush=True)
        _print_not_serving(code, health)
        print("Ctrl-C stops everything.", flush=True)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        runtime.stop()
        (states / "local" / "state.json").unlink(missing_ok=True)
        if stack is not None:
            stack.stop()
        if log_file is not None:
            log_file.close()


def _print_not_serving(code: int, health: dict[str, Any]) -> None:
    """The rest runs; health answers 503 and names these until they are fixed."""
    if code == 200:
        return
    reported = {problem.split(":", 1)[0] for problem in health["problems"]}
    starting = [f"{name}: still starting" for name in health["waiting_for"] if name not in reported]
    for problem in health["problems"] + starting:
        print(f"  NOT SERVING  {problem}", flush=True)


def _write_local_state(states: Path, runtime: LocalRuntime) -> None:
    path = states / "local" / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"pid": os.getpid(), "url": runtime.url, "template": str(runtime.template_path)})
    )


def _read_local_state(states: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((states / "local" / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return state if pid_alive(int(state["pid"])) else None


def _refuse_second_runtime(states: Path) -> None:
    state = _read_local_state(states)
    if state is not None:
        raise StackError(f"a local runtime is already up (pid {state['pid']}, {state['url']})")


def _status(_args: argparse.Namespace) -> int:
    state = _read_local_state(state_dir())
    if state is None:
        print("surge local runtime: not running")
        return 1
    try:
        with urllib.request.urlopen(state["url"] + "/_surge/status", timeout=5) as response:
            status = json.load(response)
    except (urllib.error.URLError, OSError) as exc:
        print(f"surge local runtime (pid {state['pid']}) does not answer: {exc}")
        return 1
    add_dead_letter_counts(status)
    print(format_status(status))
    return 0


def format_status(status: dict[str, Any]) -> str:
    lines = [f"surge local runtime: {status['url']}  template {status['template']}"]
    health = status.get("health") or {}
    if health:
        lines.append(f"  health: {health.get('status')}")
        lines += [f"    NOT SERVING  {problem}" for problem in health.get("problems") or []]
    lines += [f"  warning: {warning}" for warning in status.get("warnings") or []]
    lines += [f"  skipped (--skip-unsupported): {entry}" for entry in status.get("skipped") or []]
    for name, source in status["sources"].items():
        kind = source.get("type", "?")
        state = source.get("state", "?")
        details = {
            k: v for k, v in source.items() if k not in ("type", "state", "partitions", "routes", "problem")
        }
        summary = "  ".join(f"{k}={v}" for k, v in details.items() if not isinstance(v, dict | list))
        lines.append(f"  {name:45} {kind:17} {state:9} {summary}")
        if source.get("problem"):
            lines.append(f"      problem: {source['problem']}")
        last_error = source.get("last_error")
        if last_error:
            lines.append(
                f"      last error: {last_error.get('type')}: {last_error.get('message')} ({last_error.get('at')})"
            )
        for partition, info in (source.get("partitions") or {}).items():
            lines.append(f"      {partition:41} " + "  ".join(f"{k}={v}" for k, v in info.items()))
    functions = status.get("functions") or {}
    if functions:
        lines.append("  functions (Duration as in the REPORT lines, over the latest invocations):")
    for function_id, stats in functions.items():
        duration = stats.get("duration_ms") or {}
        init = stats.get("init_duration_ms") or {}
        lines.append(
            f"    {function_id:43} invocations={stats.get('invocations', 0)}  errors={stats.get('errors', 0)}"
            f"  duration p50={_ms(duration.get('p50'))} p99={_ms(duration.get('p99'))}"
            f" max={_ms(duration.get('max'))}  cold_starts={stats.get('cold_starts', 0)}"
            f" init p50={_ms(init.get('p50'))}"
        )
    for parameter, receiver in (status.get("receivers") or {}).items():
        counts = "  ".join(f"{k}={receiver[k]}" for k in ("received", "duplicates", "refused", "failing"))
        lines.append(f"  receiver {parameter:36} {receiver['url']}  {counts}")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}ms"


def _invoke(args: argparse.Namespace) -> int:
    event = json.load(sys.stdin) if str(args.event) == "-" else _read_event(args.event)
    found = existing_endpoints()
    # A function that needs no services can still be invoked; Kafka parameters then keep their defaults.
    endpoints = found[0] if found else Endpoints.from_env()
    overrides = _overrides(args.parameter_overrides)
    try:
        template = (
            resolve_template(args.template, endpoints, overrides)
            if endpoints.kafka_bootstrap_servers
            else _load_plain(args.template, overrides)
        )
    except TemplateError as exc:
        raise StackError(str(exc)) from exc
    spec = template.functions.get(args.function)
    if spec is None:
        raise StackError(
            f"no function {args.function} in {args.template}; "
            f"functions: {', '.join(sorted(template.functions)) or 'none'}"
        )
    try:
        environment = prepare_function(spec.logical_id, spec.runtime, spec.code_dir, spec.layers)
    except FunctionSetupError as exc:
        raise StackError(str(exc)) from exc
    for warning in environment.warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    runtime = function_runtime(spec, 1, environment)
    invoker = WorkerInvoker(
        {spec.logical_id: runtime},
        shared_environment(endpoints),
        log=lambda fid, line: print(f"[{fid}] {line}", file=sys.stderr, flush=True),
    )
    try:
        result = invoker.invoke(spec.logical_id, event)
    finally:
        invoker.close()
    if result.ok:
        print(json.dumps(result.payload, indent=2))
        return 0
    print(json.dumps({"errorType": result.error_type, "errorMessage": result.error_message}, indent=2))
    return 1


def _load_plain(path: Path, overrides: dict[str, str]) -> Any:
    from infra.runtime.signing_keys import local_signing_key_overrides
    from infra.template import load_template

    # No broker: invoking a function with a fixture polls nothing, so an MSK event needs none. Signing
    # keys are generated in the state dir as with a stack, so token functions work without one.
    keys = local_signing_key_overrides(path, overrides, state_dir())
    return load_template(path, {**keys, **overrides}, msk_bootstrap_default="")


def _read_event(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise StackError(f"event file {path} not found") from exc
    except json.JSONDecodeError as exc:
        raise StackError(f"event file {path} is not JSON: {exc}") from exc
