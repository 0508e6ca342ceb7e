"""The pure parts of `surge localstack`: tool pinning, parameters, names, targets, probes."""

from __future__ import annotations

import argparse
import fnmatch
from pathlib import Path

import pytest

from infra.localstack import commands
from infra.localstack.deploy import aws_env, local_parameters, signing_key_secret_name
from infra.localstack.emulator import group_alive, healthy
from infra.localstack.tools import MINISTACK, SAM_CLI, Tool, tool_bin, tool_dir
from infra.stack.errors import StackError
from infra.stack.process import free_port
from infra.template.yaml_loader import read_template_file

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


def test_tools_are_pinned_and_a_new_pin_gets_a_new_venv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SURGE_CACHE_DIR", str(tmp_path))
    for tool in (MINISTACK, SAM_CLI):
        assert all("==" in package for package in tool.packages)
    assert "aws-sam-translator" in " ".join(MINISTACK.packages)  # its CloudFormation engine needs it
    bumped = Tool("ministack", ("ministack==9.9.9", *MINISTACK.packages[1:]), "ministack")
    assert tool_dir(bumped) != tool_dir(MINISTACK)
    assert tool_bin(SAM_CLI) == tmp_path / "localstack" / tool_dir(SAM_CLI).name / "bin" / "sam"


def test_local_deployments_use_the_local_broker_in_plaintext() -> None:
    assert local_parameters("127.0.0.1:9092") == {
        "KafkaBootstrapServers": "127.0.0.1:9092",
        "KafkaSaslMechanism": "NONE",
    }


def test_aws_env_points_at_the_emulator_with_dummy_credentials_only_when_none_are_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    env = aws_env("http://127.0.0.1:4566")
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566" and env["AWS_ACCESS_KEY_ID"] == "test"
    monkeypatch.setenv("AWS_PROFILE", "mine")
    assert "AWS_ACCESS_KEY_ID" not in aws_env("http://127.0.0.1:4566")


def test_the_signing_key_secret_is_one_the_template_lets_the_functions_read() -> None:
    name = signing_key_secret_name("QueueTokenKeys", "surge")
    assert name == "surge-queue-token-keys-surge"
    policies = read_template_file(TEMPLATE)["Resources"]["QueueApiFunction"]["Properties"]["Policies"]
    resource = next(p for p in policies if "Statement" in p)["Statement"][0]["Resource"]["Fn::Sub"]
    allowed = resource.split(":secret:")[1]
    assert fnmatch.fnmatch(name, allowed)


def test_deploy_and_bridge_need_up_unless_given_both_endpoint_and_kafka(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SURGE_STATE_DIR", str(tmp_path))
    given = argparse.Namespace(endpoint="http://localstack:4566/", kafka_bootstrap_servers="kafka:9092")
    assert commands._target(given) == {
        "endpoint": "http://localstack:4566",
        "kafka_bootstrap_servers": "kafka:9092",
        "emulator": "external",
    }
    with pytest.raises(StackError, match="not up"):
        commands._target(argparse.Namespace(endpoint="http://localstack:4566", kafka_bootstrap_servers=None))


def test_probes_of_what_is_not_there() -> None:
    assert not healthy(f"http://127.0.0.1:{free_port()}", timeout=0.5)
    assert not group_alive(2**22 + 12345)  # above pid_max's default: no such group
