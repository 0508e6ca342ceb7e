"""`surge demo [SCENARIO]`: every scenario in turn (the default), or one, each with its own report."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from infra.demo import coupons, orders, queue


@dataclass(frozen=True)
class Scenario:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SCENARIOS = [
    Scenario(
        "coupons",
        "first-come-first-served coupons: a surge of issue requests",
        coupons.add_arguments,
        coupons.run_demo,
    ),
    Scenario(
        "queue",
        "the concert waiting room: entries, paced admission, tokens, seat holds",
        queue.add_arguments,
        queue.run,
    ),
    Scenario(
        "orders",
        "orders and payments through the outbox: a surge, payments, cancels, timeouts, refunds",
        orders.add_arguments,
        orders.run,
    ),
]


def add_parser(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="run every scenario end to end (or one), each with its report")
    demo.set_defaults(handler=_run_all)
    scenarios = demo.add_subparsers(dest="scenario")
    for scenario in SCENARIOS:
        parser = scenarios.add_parser(scenario.name, help=scenario.help)
        scenario.add_arguments(parser)
        parser.set_defaults(handler=scenario.run)


def _run_all(_args: argparse.Namespace) -> int:
    failed = []
    for scenario in SCENARIOS:
        defaults = argparse.ArgumentParser()
        scenario.add_arguments(defaults)
        print(f"\n=== surge demo {scenario.name} ===", flush=True)
        if scenario.run(defaults.parse_args([])) != 0:
            failed.append(scenario.name)
    print(
        f"\nsurge demo: {len(SCENARIOS) - len(failed)}/{len(SCENARIOS)} scenarios OK"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0
