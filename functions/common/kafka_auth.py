"""How the functions' own Kafka producers authenticate: the same Secrets Manager secret as the event
source mappings on AWS (SASL over TLS), plaintext locally (KAFKA_SASL_MECHANISM=NONE).

    KAFKA_SASL_MECHANISM   NONE | PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 (template parameter KafkaSaslMechanism)
    KAFKA_SASL_SECRET_ARN  the secret {"username": ..., "password": ...} (KafkaCredentialsSecretArn)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

MECHANISMS = ("NONE", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

SecretReader = Callable[[str], str]


class KafkaAuthError(RuntimeError):
    """The Kafka credentials are misconfigured; the message names the variable or the secret."""


def read_secret(arn: str) -> str:
    import boto3  # here, so modules that only need plaintext never load boto3's Secrets Manager model

    return str(boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])


def producer_auth_options(
    env: Mapping[str, str] | None = None, read: SecretReader = read_secret
) -> dict[str, Any]:
    """librdkafka (confluent-kafka) producer properties for the configured mechanism ({} for plaintext)."""
    env = os.environ if env is None else env
    mechanism = (env.get("KAFKA_SASL_MECHANISM") or "NONE").upper()
    if mechanism not in MECHANISMS:
        raise KafkaAuthError(
            f"KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}, not {mechanism!r}"
        )
    if mechanism == "NONE":
        return {}
    arn = env.get("KAFKA_SASL_SECRET_ARN")
    if not arn:
        raise KafkaAuthError(
            f"KAFKA_SASL_SECRET_ARN is not set (needed for KAFKA_SASL_MECHANISM={mechanism})"
        )
    try:
        secret = json.loads(read(arn))
        username, password = secret["username"], secret["password"]
    except (ValueError, KeyError, TypeError) as exc:
        raise KafkaAuthError(f"secret {arn} must be JSON with 'username' and 'password'") from exc
    return {
        "security.protocol": "SASL_SSL",  # MSK and hosted brokers take SASL only over TLS
        "sasl.mechanism": mechanism,
        "sasl.username": username,
        "sasl.password": password,
    }
