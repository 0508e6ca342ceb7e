"""`surge invoke` of an MSK function with a fixture needs no broker and no running stack: the
invocation polls nothing (as `sam local invoke -e` needs no cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

TEMPLATE = Path(__file__).resolve().parent / "msk_orders" / "template.yaml"
_SERVICE_VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB")


def test_invoke_an_msk_function_with_no_stack_running(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _SERVICE_VARIABLES}
    env["SURGE_STATE_DIR"] = str(tmp_path)  # no running stack is recorded there
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.cli",
            "invoke",
            "OrderValidatorFunction",
            "--template",
            str(TEMPLATE),
            "--event",
            str(TEMPLATE.parent / "msk_event.json"),
            "--parameter-overrides",
            "MSKClusterArn=arn:aws:kafka:us-east-1:123456789012:cluster/orders/abc-1",
            "OrdersTableName=orders",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["batchItemFailures"] == [{"itemIdentifier": {"partition": "orders-0", "offset": 11}}]
    assert response["bootstrapServers"].startswith("b-1.orders")


def test_invoke_a_token_function_with_no_stack_generates_its_signing_key(tmp_path: Path) -> None:
    """The seat API needs the waiting room's key: without a stack, `surge invoke` still generates it in
    the state dir, so a fixture gets the function's own answer (401 for the placeholder token), not a
    configuration error."""
    env = {k: v for k, v in os.environ.items() if k not in _SERVICE_VARIABLES}
    env["SURGE_STATE_DIR"] = str(tmp_path)
    fixture = REPO / "events" / "waiting_room" / "seats_list.json"
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "invoke", "SeatApiFunction", "--event", str(fixture)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["statusCode"] == 401
    assert (tmp_path / "keys" / "QueueTokenKeys.json").is_file()
