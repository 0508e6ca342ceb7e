"""`surge localstack up | deploy | bridge | status | down | validate` (docs/localstack.md)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from infra.localstack.emulator import DEFAULT_PORT, Ministack, group_alive, healthy, stop_group
from infra.paths import state_dir
from infra.signals import exit_on_sigterm
from infra.stack.errors import StackError
from infra.stack.kafka_broker import KafkaBroker
from infra.stack.process import pid_alive, tail

DEFAULT_TEMPLATE = Path("template.yaml")
DEFAULT_STACK = "surge"
_START_TIMEOUT_S = 300  # the first `up` installs ministack (1-3 min)


def work_dir() -> Path:
    path = state_dir() / "localstack"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _state_path(name: str) -> Path:
    return work_dir() / f"{name}.json"


def read_state(name: str) -> dict[str, Any] | None:
    """The state `up` or `bridge` wrote, or None when it is gone or its process died."""
    try:
        state: dict[str, Any] = json.loads(_state_path(name).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return state if pid_alive(int(state["pid"])) else None


def _write_state(name: str, state: dict[str, Any]) -> None:
    tmp = _state_path(name).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(_state_path(name))


def add_parser(commands: argparse._SubParsersAction) -> None:
    localstack = commands.add_parser(
        "localstack", help="deploy template.yaml with the SAM CLI to a LocalStack-compatible emulator"
    )
    sub = localstack.add_subparsers(dest="localstack_command", required=True)
    up = sub.add_parser("up", help="start the emulator (ministack) and Apache Kafka")
    up.add_argument("--port", type=int, default=DEFAULT_PORT, help="emulator port (default 4566)")
    up.add_argument("--kafka-port", type=int, default=None, help="Kafka port (default: a free one)")
    up.add_argument(
        "--endpoint",
        default=None,
        help="use this running LocalStack-compatible endpoint instead of starting ministack "
        "(default: AWS_ENDPOINT_URL when it answers /_localstack/health)",
    )
    up.add_argument("--detach", action="store_true", help="return once both accept requests")
    up.set_defaults(handler=_up)

    deploy = sub.add_parser("deploy", help="sam build + sam deploy the template into the emulator")
    deploy.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    deploy.add_argument("--stack-name", default=DEFAULT_STACK)
    deploy.add_argument(
        "--parameter", action="append", default=[], metavar="KEY=VALUE", help="extra parameter override"
    )
    _target_options(deploy)
    deploy.set_defaults(handler=_deploy)

    bridge = sub.add_parser("bridge", help="drive the deployed stack's Kafka event sources and HTTP routes")
    bridge.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    bridge.add_argument("--stack-name", default=DEFAULT_STACK)
    bridge.add_argument("--http-port", type=int, default=3000, help="HTTP API port (0: a free one)")
    bridge.add_argument(
        "--http-host", default="127.0.0.1", help="HTTP API interface (0.0.0.0 in a container)"
    )
    bridge.add_argument("--detach", action="store_true", help="return once every source polls")
    _target_options(bridge)
    bridge.set_defaults(handler=_bridge)

    validate = sub.add_parser("validate", help="sam validate --lint and cfn-lint on the template")
    validate.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    validate.set_defaults(handler=_validate)

    from infra.localstack import demo

    demo_parser = sub.add_parser("demo", help="the coupon surge through the deployed stack and the bridge")
    demo.add_arguments(demo_parser)
    demo_parser.set_defaults(handler=_demo)

    sub.add_parser("status", help="what runs, where").set_defaults(handler=_status)
    sub.add_parser("down", help="stop the bridge, the emulator and Kafka").set_defaults(handler=_down)


def _target_options(parser: argparse.ArgumentParser) -> None:
    # Both given: no `surge localstack up` needed (a LocalStack and a Kafka run elsewhere, e.g. compose).
    parser.add_argument("--endpoint", default=None, help="the emulator (default: the one `up` started)")
    parser.add_argument(
        "--kafka-bootstrap-servers", default=None, help="Kafka (default: the one `up` started)"
    )


def _target(args: argparse.Namespace) -> dict[str, Any]:
    if args.endpoint and args.kafka_bootstrap_servers:
        return {
            "endpoint": args.endpoint.rstrip("/"),
            "kafka_bootstrap_servers": args.kafka_bootstrap_servers,
            "emulator": "external",
        }
    state = _require_up()
    return {
        **state,
        "endpoint": (args.endpoint or state["endpoint"]).rstrip("/"),
        "kafka_bootstrap_servers": args.kafka_bootstrap_servers or state["kafka_bootstrap_servers"],
    }


# ---- up ----------------------------------------------------------------------------------------


def _external_endpoint(args: argparse.Namespace) -> str | None:
    endpoint = args.endpoint or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint and healthy(endpoint.rstrip("/")):
        return str(endpoint).rstrip("/")
    if args.endpoint:
        raise StackError(f"{args.endpoint} does not answer /_localstack/health")
    return None


def _up(args: argparse.Namespace) -> int:
    if read_state("up") is not None:
        raise StackError("surge localstack is already up; `surge localstack down` stops it")
    if args.detach:
        argv = [sys.executable, "-m", "infra.cli", "localstack", "up", "--port", str(args.port)]
        if args.kafka_port is not None:
            argv += ["--kafka-port", str(args.kafka_port)]
        if args.endpoint:
            argv += ["--endpoint", args.endpoint]
        return _detach(argv, "up", "surge localstack is up; `surge localstack deploy` deploys the template")
    exit_on_sigterm()
    logs = work_dir() / "logs"
    started = time.monotonic()
    external = _external_endpoint(args)
    emulator: Ministack | None = None
    kafka = KafkaBroker.launch(port=args.kafka_port, log_dir=logs)
    try:
        if external is None:
            print(f"starting ministack on 127.0.0.1:{args.port} ...", flush=True)
            emulator = Ministack.start(port=args.port, log_dir=logs, data_dir=work_dir() / "emulator")
        kafka.wait_ready()
        endpoint = external or (emulator.endpoint if emulator else "")
        _write_state(
            "up",
            {
                "pid": os.getpid(),
                "endpoint": endpoint,
                "emulator": "external" if external else "ministack",
                "emulator_pgid": emulator.process.pid if emulator else None,
                "kafka_bootstrap_servers": kafka.bootstrap_servers,
                "kafka_pid": kafka.process.pid,
                "started_at": time.time(),
            },
        )
        print(f"surge localstack is up in {time.monotonic() - started:.1f}s", flush=True)
        print(f"AWS_ENDPOINT_URL={endpoint}\nKAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap_servers}", flush=True)
        while kafka.process.running() and (emulator is None or emulator.running()):
            time.sleep(0.5)
        raise StackError(f"a service exited unexpectedly; see the logs under {logs}")
    except KeyboardInterrupt:
        return 0
    finally:
        if emulator is not None:
            emulator.stop()
        kafka.stop()
        _state_path("up").unlink(missing_ok=True)


def _detach(argv: list[str], name: str, message: str) -> int:
    log = work_dir() / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        # A new session: it outlives this command, and `down` stops its whole process group.
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        state = read_state(name)
        if state is not None and state["pid"] == child.pid:
            print(f"{message} (pid {child.pid}, log {log})")
            return 0
        if child.poll() is not None:
            raise StackError(f"surge localstack {name} did not start. Last lines of {log}:\n{tail(log)}")
        time.sleep(0.2)
    stop_group(child.pid)
    raise StackError(f"surge localstack {name} was not up after {_START_TIMEOUT_S}s:\n{tail(log)}")


def _require_up() -> dict[str, Any]:
    state = read_state("up")
    if state is None:
        raise StackError("surge localstack is not up; start it with `surge localstack up --detach`")
    return state


# ---- deploy, bridge ----------------------------------------------------------------------------


def _deploy(args: argparse.Namespace) -> int:
    from infra.localstack.deploy import deploy

    state = _target(args)
    overrides = dict(pair.split("=", 1) for pair in args.parameter)
    deployment = deploy(
        args.template,
        endpoint=state["endpoint"],
        stack_name=args.stack_name,
        kafka_bootstrap_servers=state["kafka_bootstrap_servers"],
        work_dir=work_dir(),
        parameter_overrides=overrides,
    )
    for logical_id, name in sorted(deployment.functions.items()):
        print(f"  {logical_id:26} {name}")
    print("`surge localstack bridge --detach` drives its Kafka event sources and HTTP routes")
    return 0


def _bridge(args: argparse.Namespace) -> int:
    from infra.localstack.bridge import Bridge

    state = _target(args)
    if read_state("bridge") is not None:
        raise StackError("the bridge is already running; `surge localstack down` stops it")
    if args.detach:
        argv = [sys.executable, "-m", "infra.cli", "localstack", "bridge", "--template", str(args.template)]
        argv += ["--stack-name", args.stack_name, "--http-port", str(args.http_port)]
        argv += ["--http-host", args.http_host]
        argv += [
            "--endpoint",
            state["endpoint"],
            "--kafka-bootstrap-servers",
            state["kafka_bootstrap_servers"],
        ]
        return _detach(argv, "bridge", "the bridge is running; `surge localstack status` shows it")
    exit_on_sigterm()
    try:
        bridge = Bridge(
            args.template,
            endpoint=state["endpoint"],
            stack_name=args.stack_name,
            kafka_bootstrap_servers=state["kafka_bootstrap_servers"],
            state_dir=work_dir(),
            http_port=args.http_port,
            http_host=args.http_host,
        )
    except ValueError as exc:
        raise StackError(str(exc)) from exc
    with bridge:
        try:
            bridge.start()
            deadline = time.monotonic() + 60
            while not bridge.ready():
                if time.monotonic() > deadline:
                    raise StackError(f"the bridge's sources did not start: {bridge.status()['sources']}")
                time.sleep(0.1)
            _write_state(
                "bridge",
                {"pid": os.getpid(), "url": bridge.url, "stack": args.stack_name, "status": bridge.url},
            )
            print(
                f"bridge for stack {args.stack_name} on {state['endpoint']}: HTTP API at {bridge.url}",
                flush=True,
            )
            for source in bridge.kafka:
                print(
                    f"  {source.name}: {source.spec.topic} -> {bridge.deployment.functions[source.function_id]}"
                )
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            return 0
        finally:
            _state_path("bridge").unlink(missing_ok=True)


def _demo(args: argparse.Namespace) -> int:
    from infra.localstack import demo

    up = _require_up()
    bridge = read_state("bridge")
    if bridge is None:
        raise StackError("the bridge is not running; start it with `surge localstack bridge --detach`")
    return demo.run(args, up, bridge)


# ---- status, down, validate --------------------------------------------------------------------


def _status(_args: argparse.Namespace) -> int:
    up = read_state("up")
    if up is None:
        print("surge localstack: not running")
        return 1
    ok = healthy(up["endpoint"])
    print(f"emulator   {up['emulator']:10} {up['endpoint']:28} {'healthy' if ok else 'UNHEALTHY'}")
    print(f"kafka      {'':10} {up['kafka_bootstrap_servers']:28} pid {up['kafka_pid']}")
    bridge = read_state("bridge")
    print(f"bridge     {'running' if bridge else 'not running':10} {bridge['url'] if bridge else ''}")
    return 0 if ok else 1


def _down(_args: argparse.Namespace) -> int:
    stopped = []
    for name in ("bridge", "up"):
        state = read_state(name)
        if state is None:
            _state_path(name).unlink(missing_ok=True)
            continue
        # `--detach` starts each in its own session, so its group holds all it started; one run in
        # the foreground elsewhere gets SIGTERM and stops its own children
        pid = int(state["pid"])
        if os.getpgid(pid) == pid:
            stop_group(pid, timeout=30)
        else:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        if state.get("emulator_pgid") and group_alive(int(state["emulator_pgid"])):
            stop_group(int(state["emulator_pgid"]))
        _state_path(name).unlink(missing_ok=True)
        stopped.append(name)
    print("surge localstack: " + ("stopped " + " and ".join(stopped) if stopped else "not running"))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from infra.localstack.tools import SAM_CLI, ensure_tool, tool_bin

    ensure_tool(SAM_CLI)
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    for argv in (
        [str(tool_bin(SAM_CLI)), "validate", "--lint", "--template-file", str(args.template)],
        [str(tool_bin(SAM_CLI, "cfn-lint")), str(args.template)],
    ):
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(
                f"{Path(argv[0]).name} found problems in {args.template}:\n{result.stdout}{result.stderr}"
            )
    print(f"{args.template}: sam validate --lint and cfn-lint are clean")
    return 0
