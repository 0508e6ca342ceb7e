"""The functions' Kafka producers: SASL credentials from Secrets Manager on AWS, plaintext locally."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from common.kafka_auth import KafkaAuthError, producer_auth_options, read_secret

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kafka"


def test_plaintext_without_a_mechanism_or_with_none() -> None:
    assert producer_auth_options({}) == {}
    assert producer_auth_options({"KAFKA_SASL_MECHANISM": "NONE", "KAFKA_SASL_SECRET_ARN": ARN}) == {}


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_sasl_over_tls_with_the_secrets_credentials(mechanism: str) -> None:
    read = {ARN: json.dumps({"username": "surge", "password": "s3cret"})}.__getitem__
    options = producer_auth_options({"KAFKA_SASL_MECHANISM": mechanism, "KAFKA_SASL_SECRET_ARN": ARN}, read)
    assert options == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": mechanism,
        "sasl.username": "surge",
        "sasl.password": "s3cret",
    }


def test_a_missing_secret_arn_is_named() -> None:
    with pytest.raises(KafkaAuthError, match="KAFKA_SASL_SECRET_ARN is not set"):
        producer_auth_options({"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"})


def test_an_unknown_mechanism_is_named() -> None:
    with pytest.raises(KafkaAuthError, match="KAFKA_SASL_MECHANISM must be one of"):
        producer_auth_options({"KAFKA_SASL_MECHANISM": "GSSAPI"})


def test_a_secret_without_username_and_password_is_refused() -> None:
    env = {"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_SECRET_ARN": ARN}
    with pytest.raises(KafkaAuthError, match="'username' and 'password'"):
        producer_auth_options(env, lambda _arn: json.dumps({"user": "x"}))


def test_the_secret_is_read_from_secrets_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETSMANAGER"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        created = boto3.client("secretsmanager").create_secret(
            Name="kafka", SecretString=json.dumps({"username": "u", "password": "p"})
        )
        options = producer_auth_options(
            {"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_SECRET_ARN": created["ARN"]}
        )
        assert read_secret(created["ARN"]) == json.dumps({"username": "u", "password": "p"})
    assert options["sasl.username"] == "u" and options["sasl.password"] == "p"
