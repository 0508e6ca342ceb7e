"""Production wiring: clients and services are built from the environment, once per process."""

from __future__ import annotations

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from common import kafka_publisher
from common.dynamodb import USER_AGENT, dynamodb_client
from coupons.handlers import api, issuer


@pytest.fixture
def fresh_clients(monkeypatch):
    dynamodb_client.cache_clear()
    monkeypatch.setattr(kafka_publisher, "_default", None)
    yield
    dynamodb_client.cache_clear()


def test_dynamodb_client_uses_endpoint_from_env(monkeypatch, fresh_clients):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    client = dynamodb_client()
    assert client.meta.endpoint_url == "http://127.0.0.1:8000"
    assert dynamodb_client() is client


def test_dynamodb_requests_name_surge_in_their_user_agent(monkeypatch, fresh_clients):
    """CloudTrail's userAgent names surge; the string is built once, not on every call."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    client = dynamodb_client()
    sent: list[str] = []

    def capture(request, **_):
        sent.append(request.headers["User-Agent"].decode())
        return AWSResponse(request.url, 200, HTTPHeaders(), _EmptyBody())  # answered here: no network

    client.meta.events.register("before-send.dynamodb.GetItem", capture)
    client.get_item(TableName="t", Key={"pk": {"S": "k"}})
    client.get_item(TableName="t", Key={"pk": {"S": "k"}})
    assert len(sent) == 2
    assert all(agent.startswith(USER_AGENT) for agent in sent), sent  # Powertools appends its own part
    assert USER_AGENT.startswith("surge botocore/")


class _EmptyBody:
    def stream(self, **_):
        yield b"{}"

    def read(self) -> bytes:
        return b"{}"


def test_handlers_build_their_services_lazily_and_reuse_them(monkeypatch, fresh_clients):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    for module in (api, issuer):
        module.set_service(None)
        try:
            service = module.get_service()
            assert module.get_service() is service
        finally:
            module.set_service(None)


def test_missing_table_name_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("COUPONS_TABLE_NAME")
    api.set_service(None)
    with pytest.raises(RuntimeError, match="COUPONS_TABLE_NAME"):
        api.get_service()
