"""`surge dlt`'s Kafka settings: where the address comes from, and SASL/SCRAM + TLS validation."""

from __future__ import annotations

import argparse

import pytest

from infra.dlt.connection import add_connection_options, connection_from_args
from infra.stack.errors import StackError


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_connection_options(parser)
    return parser.parse_args(list(argv))


@pytest.fixture(autouse=True)
def no_stack(tmp_path, monkeypatch):
    monkeypatch.setenv("SURGE_STATE_DIR", str(tmp_path))  # no running surge stack here


def test_flag_wins_over_the_environment():
    connection = connection_from_args(_args("--bootstrap-servers", "a:1"), {"KAFKA_BOOTSTRAP_SERVERS": "b:2"})
    assert (connection.bootstrap_servers, connection.source) == ("a:1", "--bootstrap-servers")
    assert connection.client_config() == {"bootstrap_servers": ["a:1"], "security_protocol": "PLAINTEXT"}


def test_environment_when_no_flag_and_no_stack():
    connection = connection_from_args(_args(), {"KAFKA_BOOTSTRAP_SERVERS": "b:2,c:3"})
    assert connection.client_config()["bootstrap_servers"] == ["b:2", "c:3"]


def test_no_kafka_anywhere_says_where_to_look():
    with pytest.raises(StackError, match="--bootstrap-servers"):
        connection_from_args(_args(), {})


def test_scram_from_the_environment_defaults_to_sasl_ssl():
    env = {"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}
    config = connection_from_args(_args("--bootstrap-servers", "b-1.msk:9096"), env).client_config()
    assert config["security_protocol"] == "SASL_SSL"
    assert (config["sasl_mechanism"], config["sasl_plain_username"], config["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "u",
        "p",
    )


def test_tls_ca_file_turns_on_ssl(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    config = connection_from_args(
        _args("--bootstrap-servers", "b:9094", "--ssl-cafile", str(ca)), {}
    ).client_config()
    assert (config["security_protocol"], config["ssl_cafile"]) == ("SSL", str(ca))


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--sasl-mechanism", "SCRAM-SHA-256"], {}, "needs a user name and password"),
        (["--sasl-username", "u"], {"KAFKA_SASL_PASSWORD": "p"}, "need a mechanism"),
        (["--security-protocol", "SASL_SSL"], {}, "needs --sasl-mechanism"),
        (
            ["--sasl-mechanism", "PLAIN", "--sasl-username", "u", "--security-protocol", "SSL"],
            {"KAFKA_SASL_PASSWORD": "p"},
            "needs security protocol SASL_SSL",
        ),
        (["--ssl-cafile", "/no/such.pem"], {}, "does not exist"),
        ([], {"KAFKA_SASL_MECHANISM": "GSSAPI"}, "is not one of"),
    ],
)
def test_contradictory_settings_are_clear_errors(argv, env, message):
    with pytest.raises(StackError, match=message):
        connection_from_args(_args("--bootstrap-servers", "b:1", *argv), env)


def test_bad_address_is_named():
    with pytest.raises(StackError, match="not a host:port list"):
        connection_from_args(_args("--bootstrap-servers", "nohost"), {})
