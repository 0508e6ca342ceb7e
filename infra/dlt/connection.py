"""Which Kafka `surge dlt` talks to, and how (plaintext locally; SASL/SCRAM and TLS for MSK or Confluent).

The address comes from `--bootstrap-servers`, else a running `surge stack`, else
KAFKA_BOOTSTRAP_SERVERS. Security settings come from flags, else these environment variables:
KAFKA_SECURITY_PROTOCOL (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), KAFKA_SASL_MECHANISM (PLAIN,
SCRAM-SHA-256, SCRAM-SHA-512), KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SSL_CAFILE,
KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config import Endpoints
from infra.paths import state_dir
from infra.stack.errors import StackError
from infra.stack.stack import read_state

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

# (flag destination, environment variable)
_SETTINGS = (
    ("security_protocol", "KAFKA_SECURITY_PROTOCOL"),
    ("sasl_mechanism", "KAFKA_SASL_MECHANISM"),
    ("sasl_username", "KAFKA_SASL_USERNAME"),
    ("sasl_password", "KAFKA_SASL_PASSWORD"),
    ("ssl_cafile", "KAFKA_SSL_CAFILE"),
    ("ssl_certfile", "KAFKA_SSL_CERTFILE"),
    ("ssl_keyfile", "KAFKA_SSL_KEYFILE"),
)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Kafka connection (flags win over the environment variables)")
    group.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT[,...]",
        help="default: the running surge stack, else KAFKA_BOOTSTRAP_SERVERS",
    )
    group.add_argument("--security-protocol", choices=PROTOCOLS, help="env KAFKA_SECURITY_PROTOCOL")
    group.add_argument("--sasl-mechanism", choices=SASL_MECHANISMS, help="env KAFKA_SASL_MECHANISM")
    group.add_argument("--sasl-username", help="env KAFKA_SASL_USERNAME")
    group.add_argument(
        "--sasl-password", help="env KAFKA_SASL_PASSWORD (prefer it: a flag shows in `ps` and history)"
    )
    group.add_argument("--ssl-cafile", help="CA bundle (PEM) to verify the brokers; env KAFKA_SSL_CAFILE")
    group.add_argument("--ssl-certfile", help="client certificate (PEM) for mTLS; env KAFKA_SSL_CERTFILE")
    group.add_argument("--ssl-keyfile", help="client key (PEM) for mTLS; env KAFKA_SSL_KEYFILE")


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap_servers: str
    source: str  # where the address came from, for messages
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def client_config(self) -> dict[str, Any]:
        """kafka-python keyword arguments shared by the consumer and the producer."""
        config: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            config.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(self, name):
                config[name] = getattr(self, name)
        return config


def connection_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> KafkaConnection:
    """Raises StackError naming what is missing or contradictory."""
    env = os.environ if env is None else env
    servers, source = _bootstrap(args.bootstrap_servers, env)
    values = {name: getattr(args, name, None) or env.get(variable) or None for name, variable in _SETTINGS}
    mechanism = values["sasl_mechanism"]
    protocol = values["security_protocol"]
    if protocol is not None and protocol not in PROTOCOLS:
        raise StackError(f"security protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if mechanism is not None and mechanism not in SASL_MECHANISMS:
        raise StackError(f"SASL mechanism {mechanism!r} is not one of {', '.join(SASL_MECHANISMS)}")
    if (values["sasl_username"] or values["sasl_password"]) and not mechanism:
        raise StackError("SASL credentials need a mechanism: --sasl-mechanism SCRAM-SHA-512 (or 256, PLAIN)")
    if mechanism:
        if not (values["sasl_username"] and values["sasl_password"]):
            raise StackError(
                f"SASL {mechanism} needs a user name and password "
                "(--sasl-username, and KAFKA_SASL_PASSWORD or --sasl-password)"
            )
        protocol = protocol or "SASL_SSL"  # what MSK and Confluent Cloud speak
        if not protocol.startswith("SASL_"):
            raise StackError(
                f"SASL {mechanism} needs security protocol SASL_SSL or SASL_PLAINTEXT, not {protocol}"
            )
    elif protocol and protocol.startswith("SASL_"):
        raise StackError(f"security protocol {protocol} needs --sasl-mechanism and credentials")
    if not protocol:
        protocol = "SSL" if values["ssl_cafile"] or values["ssl_certfile"] else "PLAINTEXT"
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = values[name]
        if path and not Path(path).is_file():
            raise StackError(f"{name.replace('_', ' ')} {path} does not exist")
    return KafkaConnection(
        bootstrap_servers=servers,
        source=source,
        security_protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username=values["sasl_username"],
        sasl_password=values["sasl_password"],
        ssl_cafile=values["ssl_cafile"],
        ssl_certfile=values["ssl_certfile"],
        ssl_keyfile=values["ssl_keyfile"],
    )


def _bootstrap(flag: str | None, env: Mapping[str, str]) -> tuple[str, str]:
    if flag:
        return _checked(flag, "--bootstrap-servers"), "--bootstrap-servers"
    state = read_state(state_dir())
    if state is not None:
        servers = state.get("endpoints", {}).get("KAFKA_BOOTSTRAP_SERVERS")
        if servers:
            return servers, "the running surge stack"
    if env.get("KAFKA_BOOTSTRAP_SERVERS"):
        return _checked(env["KAFKA_BOOTSTRAP_SERVERS"], "KAFKA_BOOTSTRAP_SERVERS"), "KAFKA_BOOTSTRAP_SERVERS"
    raise StackError(
        "no Kafka to talk to: pass --bootstrap-servers HOST:PORT, start `surge stack up --detach`, "
        "or set KAFKA_BOOTSTRAP_SERVERS"
    )


def _checked(servers: str, where: str) -> str:
    try:
        Endpoints(kafka_bootstrap_servers=servers)
    except ValueError as exc:
        raise StackError(f"{where}: {servers!r} is not a host:port list") from exc
    return servers
