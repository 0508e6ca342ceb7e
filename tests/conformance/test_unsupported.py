"""What the local runtime cannot run (SQS, Kinesis, S3, EventBridge events, function URLs, ...) is
listed with its location; `surge local up` refuses it by default and, with `--skip-unsupported`,
runs the rest and says what it skipped in status and health."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from common.config import Endpoints
from infra.runtime.app import LocalRuntime
from infra.template import TemplateError, load_template
from tests.conformance.conftest import HERE, RuntimeFactory
from tests.conftest import REPO

TEMPLATE = HERE / "mixed_sources" / "template.yaml"
EXPECTED = {
    "Resources.PaymentsFunction.Properties.FunctionUrlConfig": "the function URL of PaymentsFunction",
    "Resources.PaymentsFunction.Properties.Events.FromQueue.Type": "event PaymentsFunction.FromQueue",
    "Resources.PaymentsFunction.Properties.Events.FromKinesis.Type": "event PaymentsFunction.FromKinesis",
    "Resources.NotificationsFunction.Properties.Events.Uploads.Type": "event NotificationsFunction.Uploads",
    "Resources.NotificationsFunction.Properties.Events.Nightly.Type": "event NotificationsFunction.Nightly",
}


def test_every_unsupported_construct_is_listed_with_its_location() -> None:
    template = load_template(TEMPLATE)
    assert {p.where: p.skipped for p in template.unsupported} == EXPECTED
    (kafka,) = template.functions["PaymentsFunction"].events
    assert kafka.name == "FromKafka"


def test_local_up_refuses_them_all_at_once(tmp_path: Path) -> None:
    runtime = LocalRuntime(
        TEMPLATE,
        Endpoints(kafka_bootstrap_servers="127.0.0.1:1", dynamodb="http://127.0.0.1:1"),
        state_dir=tmp_path,
    )
    with pytest.raises(TemplateError) as refused:
        runtime.start()  # refused before anything is created or started
    message = str(refused.value)
    assert "--skip-unsupported" in message
    for where in EXPECTED:
        assert where in message
    assert runtime.sources == []


def test_the_cli_refuses_and_names_them(tmp_path: Path) -> None:
    services = ["--kafka", "127.0.0.1:1", "--dynamodb", "http://127.0.0.1:1", "--port", "0"]
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "local", "up", "--template", str(TEMPLATE), *services],
        cwd=REPO,
        env={**os.environ, "SURGE_STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert (
        "Type SQS" in result.stderr
        and "Type Kinesis" in result.stderr
        and "FunctionUrlConfig" in result.stderr
    )


def test_skip_unsupported_runs_the_rest_and_says_what_it_skipped(start_runtime: RuntimeFactory) -> None:
    topic = f"payments.{uuid.uuid4().hex[:8]}"
    runtime = start_runtime(TEMPLATE, skip_unsupported=True, parameter_overrides={"PaymentsTopic": topic})
    code, health = runtime.health()
    assert code == 200
    assert len(health["skipped"]) == len(EXPECTED)
    assert any("Type EventBridgeRule" in entry for entry in runtime.status()["skipped"])
    assert [s.name for s in runtime.sources if s.name != "HttpApi"] == ["PaymentsFunction.FromKafka"]
