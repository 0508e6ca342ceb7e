"""`surge localstack demo`: the coupon surge through the deployed stack (the bridge's HTTP API, the
deployed functions, the emulator's DynamoDB), with the demo's report and checks."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from common.config import Endpoints
from infra.demo import coupons
from infra.localstack.deploy import REGION, client, describe
from infra.stack.errors import StackError


@dataclass(frozen=True)
class DeployedTarget:
    url: str
    endpoint: str

    def endpoints(self) -> Endpoints:
        return Endpoints(dynamodb=self.endpoint, dynamodbstreams=self.endpoint, region=REGION)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    coupons.add_arguments(parser)
    parser.set_defaults(requests=2_000, users=1_500, stock=200, concurrency=8)
    parser.add_argument("--stack-name", default="surge")


def table_item_count(endpoint: str, table: str) -> int:
    """Items in the emulator's table, counted by a scan (what is really stored there)."""
    total = 0
    for page in client("dynamodb", endpoint).get_paginator("scan").paginate(TableName=table, Select="COUNT"):
        total += int(page["Count"])
    return total


def run(args: argparse.Namespace, up: dict, bridge: dict) -> int:
    deployment = describe(up["endpoint"], args.stack_name)
    table = deployment.tables.get("CouponsTable")
    if table is None:
        raise StackError(f"stack {args.stack_name} has no CouponsTable; run `surge localstack deploy`")
    print(
        f"surge localstack demo: {args.requests:,} requests from {args.users:,} users for {args.stock:,} coupons\n"
        f"  stack {args.stack_name} on {up['endpoint']} ({up['emulator']}), HTTP API {bridge['url']} (the bridge)"
    )
    result = coupons.surge(DeployedTarget(bridge["url"], up["endpoint"]), args, table)
    print(coupons.report(result, args))
    print(f"emulator                   {up['emulator']} at {up['endpoint']}, stack {args.stack_name}")
    print(f"items in {table:17} {table_item_count(up['endpoint'], table):,} (the emulator's DynamoDB)")
    return 0 if result.ok() else 1
