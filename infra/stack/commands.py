"""`surge stack ...`: run Kafka and DynamoDB Local in the foreground or detached, and inspect them."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from infra.paths import state_dir
from infra.signals import exit_on_sigterm
from infra.stack.errors import StackError
from infra.stack.process import pid_alive, tail
from infra.stack.stack import (
    ServiceStack,
    clear_state,
    ensure_not_running,
    health,
    read_state,
    write_state,
)

DEFAULT_TEMPLATE = Path("template.yaml")


def add_parser(commands: argparse._SubParsersAction) -> None:
    stack = commands.add_parser("stack", help="run Apache Kafka and DynamoDB Local")
    sub = stack.add_subparsers(dest="stack_command", required=True)
    up = sub.add_parser("up", help="start both services and create the template's topics and tables")
    up.add_argument("--detach", action="store_true", help="return once both services accept requests")
    up.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template to provision")
    up.add_argument("--no-provision", action="store_true", help="start the services only")
    up.add_argument("--kafka-port", type=int, default=None, help="Kafka port (default: a free one)")
    up.add_argument(
        "--dynamodb-port", type=int, default=None, help="DynamoDB Local port (default: a free one)"
    )
    up.add_argument("--data-dir", type=Path, default=None, help="keep data here across restarts")
    up.set_defaults(handler=_up)
    env = sub.add_parser("env", help="print shell-sourceable endpoint variables of the running stack")
    env.add_argument("--export", action="store_true", help="prefix each line with `export `")
    env.set_defaults(handler=_env)
    for name, handler, text in (
        ("status", _status, "what runs, where, healthy or not"),
        ("down", _down, "stop what `up --detach` started"),
    ):
        sub.add_parser(name, help=text).set_defaults(handler=handler)


def _up(args: argparse.Namespace) -> int:
    states = state_dir()
    ensure_not_running(states)
    if args.detach:
        return _up_detached(args, states)
    return _run_foreground(args, states)


def _run_foreground(args: argparse.Namespace, states: Path) -> int:
    exit_on_sigterm()
    started = time.monotonic()
    stack = ServiceStack.start(
        kafka_port=args.kafka_port,
        dynamodb_port=args.dynamodb_port,
        data_dir=args.data_dir,
        log_dir=states / "logs",
    )
    try:
        template = None if args.no_provision else args.template
        if template is not None and not template.exists():
            raise StackError(f"template {template} not found (use --template PATH or --no-provision)")
        provisioned = stack.provision(template)
        write_state(states, stack.describe())
        print(f"surge stack is up in {time.monotonic() - started:.1f}s", flush=True)
        if provisioned.topics_created or provisioned.tables_created:
            print(f"created topics {provisioned.topics_created} and tables {provisioned.tables_created}")
        for key, value in stack.endpoints.as_env().items():
            print(f"{key}={value}")
        print("Ctrl-C stops everything.", flush=True)
        while stack.kafka.process.running() and stack.dynamodb.process.running():
            time.sleep(0.5)
        raise StackError("a service exited unexpectedly; see the logs under " + str(states / "logs"))
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        stack.stop()
        clear_state(states)


def _up_detached(args: argparse.Namespace, states: Path) -> int:
    argv = [sys.executable, "-m", "infra.cli", "stack", "up", "--template", str(args.template)]
    for flag, value in (
        ("--kafka-port", args.kafka_port),
        ("--dynamodb-port", args.dynamodb_port),
        ("--data-dir", args.data_dir),
    ):
        if value is not None:
            argv += [flag, str(value)]
    if args.no_provision:
        argv.append("--no-provision")
    log = states / "logs" / "stack.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        # A new session: the stack outlives this command and is not hit by the terminal's Ctrl-C.
        supervisor = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = read_state(states)
        if state is not None and state["supervisor_pid"] == supervisor.pid:
            print(f"surge stack is up (pid {supervisor.pid}); `surge stack env` prints its endpoints")
            return 0
        if supervisor.poll() is not None:
            raise StackError(f"the stack did not start. Last lines of {log}:\n{tail(log)}")
        time.sleep(0.2)
    supervisor.terminate()
    raise StackError(f"the stack was not up after 180s. Last lines of {log}:\n{tail(log)}")


def _env(args: argparse.Namespace) -> int:
    state = _require_state()
    prefix = "export " if args.export else ""
    for key, value in state["endpoints"].items():
        print(f"{prefix}{key}={value}")
    return 0


def _status(_args: argparse.Namespace) -> int:
    state = read_state(state_dir())
    if state is None:
        print("surge stack: not running")
        return 1
    print(
        f"surge stack: up since {time.ctime(state['started_at'])} (supervisor pid {state['supervisor_pid']})"
    )
    ok = True
    for name, report in health(state).items():
        ok = ok and report["healthy"]
        memory = f", peak {report['peak_rss_mib']:.0f} MiB" if report["peak_rss_mib"] else ""
        print(
            f"  {name:9} pid {report['pid']:<7} 127.0.0.1:{report['port']:<6} "
            f"{'healthy' if report['healthy'] else 'UNHEALTHY'}{memory}  log {report['log']}"
        )
    return 0 if ok else 1


def _down(_args: argparse.Namespace) -> int:
    states = state_dir()
    state = read_state(states)
    if state is None:
        print("surge stack: not running")
        return 0
    pid = int(state["supervisor_pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)  # its services die with it (PR_SET_PDEATHSIG)
    for name in ("kafka", "dynamodb"):
        service_pid = state[name]["pid"]
        deadline = time.monotonic() + 20
        while pid_alive(service_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    clear_state(states)
    print("surge stack: stopped")
    return 0


def _require_state() -> dict:
    state = read_state(state_dir())
    if state is None:
        raise StackError("the stack is not running; start it with `surge stack up --detach`")
    return state
