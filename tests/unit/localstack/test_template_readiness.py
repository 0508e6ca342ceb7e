"""Deployment readiness of template.yaml for AWS: least-privilege IAM, and the same Kafka credentials
for the event source mappings and the functions' own producers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.template import load_template
from infra.template.yaml_loader import read_template_file

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
PUBLISHERS = ("CouponApiFunction", "CouponIssuerFunction", "QueueApiFunction", "QueueEntryFunction")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_statements(raw: dict[str, Any]) -> list[str]:
    """Statements that allow every action on every resource, as "<function>: <statement>"."""
    found = []
    for logical_id, resource in raw["Resources"].items():
        for policy in _as_list(resource.get("Properties", {}).get("Policies") or []):
            statements = policy.get("Statement", []) if isinstance(policy, dict) else []
            for statement in _as_list(statements):
                actions = _as_list(statement.get("Action", []))
                resources = _as_list(statement.get("Resource", []))
                if statement.get("Effect") == "Allow" and "*" in actions and "*" in resources:
                    found.append(f"{logical_id}: {statement}")
    return found


def test_no_statement_allows_every_action_on_every_resource() -> None:
    assert wildcard_statements(read_template_file(TEMPLATE)) == []


def test_the_check_finds_a_wildcard_statement() -> None:
    raw = read_template_file(TEMPLATE)
    raw["Resources"]["CouponApiFunction"]["Properties"]["Policies"].append(
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": ["*"]}]}
    )
    assert len(wildcard_statements(raw)) == 1


def test_every_publisher_may_read_the_kafka_secret_and_is_told_the_mechanism() -> None:
    raw = read_template_file(TEMPLATE)
    for logical_id in PUBLISHERS:
        policies = raw["Resources"][logical_id]["Properties"]["Policies"]
        assert {
            "AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "KafkaCredentialsSecretArn"}}
        } in policies
    variables = raw["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["KAFKA_SASL_MECHANISM"] == {"Ref": "KafkaSaslMechanism"}
    assert variables["KAFKA_SASL_SECRET_ARN"] == {"Ref": "KafkaCredentialsSecretArn"}


def test_plaintext_by_default_and_scram_on_request() -> None:
    local = load_template(TEMPLATE)
    assert local.functions["CouponApiFunction"].environment["KAFKA_SASL_MECHANISM"] == "NONE"
    aws = load_template(TEMPLATE, {"KafkaSaslMechanism": "SCRAM-SHA-512"})
    assert aws.functions["CouponIssuerFunction"].environment["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    raw = read_template_file(TEMPLATE)
    access = raw["Resources"]["CouponIssuerFunction"]["Properties"]["Events"]["IssueRequests"]["Properties"][
        "SourceAccessConfigurations"
    ][0]
    # the event source mappings read the same secret with the same mechanism
    assert access == {"Type": "SASL_SCRAM_512_AUTH", "URI": {"Ref": "KafkaCredentialsSecretArn"}}
    assert raw["Parameters"]["KafkaSaslMechanism"]["AllowedValues"] == ["NONE", "SCRAM-SHA-512"]
