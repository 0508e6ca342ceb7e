"""`surge invoke FUNCTION --event FILE`: one invocation with a fixture, as with `sam local invoke -e`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from infra.stack.clients import local_credentials_env
from infra.stack.stack import provision
from tests.conftest import REPO, TEMPLATE


def _invoke(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", "invoke", *args],
        cwd=REPO,
        text=True,
        capture_output=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_invoke_runs_the_api_function_with_a_fixture(stack, ddb, tmp_path):
    provision(stack.endpoints, TEMPLATE)
    env = {
        **os.environ,
        **stack.endpoints.as_env(),
        **local_credentials_env(),
        "SURGE_STATE_DIR": str(tmp_path),
    }
    created = _invoke(env, "CouponApiFunction", "--event", "events/coupons/create_coupon.json")
    assert created.returncode == 0, created.stderr
    body = json.loads(json.loads(created.stdout)["body"])

    fixture = json.loads((REPO / "events/coupons/get_coupon.json").read_text())
    fixture["pathParameters"]["couponId"] = body["couponId"]
    fixture["rawPath"] = fixture["requestContext"]["http"]["path"] = f"/coupons/{body['couponId']}"
    event = tmp_path / "get.json"
    event.write_text(json.dumps(fixture))
    got = _invoke(env, "CouponApiFunction", "-e", str(event))
    assert got.returncode == 0, got.stderr
    response = json.loads(got.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["couponId"] == body["couponId"]


def test_invoke_reports_function_errors_and_unknown_functions(tmp_path):
    env = {**os.environ, "SURGE_STATE_DIR": str(tmp_path)}
    event = tmp_path / "bad.json"
    event.write_text(json.dumps({"records": "not a kafka event"}))
    failed = _invoke(
        env,
        "CouponIssuerFunction",
        "-e",
        str(event),
        "--parameter-overrides",
        "KafkaBootstrapServers=127.0.0.1:1",
    )
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["errorType"]

    unknown = _invoke(env, "NoSuchFunction", "-e", str(event))
    assert unknown.returncode == 1
    assert "no function NoSuchFunction" in unknown.stderr and "CouponApiFunction" in unknown.stderr
