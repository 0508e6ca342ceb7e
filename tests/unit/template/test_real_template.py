"""The project's own template.yaml resolves into what the local runtime and the coupon service expect."""

from __future__ import annotations

from typing import Any

import pytest

from infra.template import HttpApiEventSpec, KafkaEventSpec, SamTemplate, load_template
from tests.unit.template.conftest import REAL_TEMPLATE


def load_real(**kwargs: Any) -> SamTemplate:
    return load_template(REAL_TEMPLATE, **kwargs)


@pytest.fixture(scope="module")
def real() -> SamTemplate:
    return load_real(parameter_overrides={"KafkaBootstrapServers": "127.0.0.1:1234"})


def test_paths_and_parameters(real: SamTemplate) -> None:
    assert real.path == REAL_TEMPLATE
    assert real.root == REAL_TEMPLATE.parent
    assert real.parameters["KafkaBootstrapServers"] == "127.0.0.1:1234"
    assert real.parameters["KafkaCredentialsSecretArn"].startswith("arn:aws:secretsmanager:")


def test_coupon_functions(real: SamTemplate) -> None:
    assert {"CouponApiFunction", "CouponIssuerFunction"} <= set(real.functions)
    api = real.functions["CouponApiFunction"]
    issuer = real.functions["CouponIssuerFunction"]
    assert api.handler == "coupons.handlers.api.lambda_handler"
    assert issuer.handler == "coupons.handlers.issuer.lambda_handler"
    for function in (api, issuer):
        assert function.code_dir == REAL_TEMPLATE.parent / "functions"
        assert function.runtime == "python3.11"
        assert function.memory_size == 512
        assert function.function_name == f"surge-{function.logical_id}"
        assert function.environment["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:1234"
        assert function.environment["COUPONS_TABLE_NAME"] == "surge-coupons"
        assert function.environment["POWERTOOLS_SERVICE_NAME"] == "surge"
    assert (api.timeout, issuer.timeout) == (10, 60)
    assert api.environment["COUPON_ISSUE_TOPIC"] == "coupon.issue-requested"
    assert issuer.environment["COUPON_DLT_TOPIC"] == "coupon.issue-requested.dlt"


def test_http_api_routes(real: SamTemplate) -> None:
    routes = {
        (e.method, e.path)
        for e in real.functions["CouponApiFunction"].events
        if isinstance(e, HttpApiEventSpec) and e.api_kind == "HttpApi"
    }
    assert routes == {
        ("POST", "/coupons"),
        ("GET", "/coupons/{couponId}"),
        ("POST", "/coupons/{couponId}/issue"),
        ("GET", "/coupon-requests/{requestId}"),
        ("GET", "/users/{userId}/coupons"),
    }


def test_kafka_event(real: SamTemplate) -> None:
    (event,) = real.functions["CouponIssuerFunction"].events
    assert isinstance(event, KafkaEventSpec)
    assert event in real.kafka_events()
    assert event.name == "IssueRequests"
    assert event.function_logical_id == "CouponIssuerFunction"
    assert event.source_kind == "SelfManagedKafka"
    assert event.topic == "coupon.issue-requested"
    assert event.bootstrap_servers == "127.0.0.1:1234"
    assert event.consumer_group_id == "coupon-issuer"
    assert event.starting_position == "TRIM_HORIZON"
    assert event.batch_size == 500
    assert event.batching_window_seconds == 1
    assert event.maximum_retry_attempts == 3
    assert event.maximum_record_age_seconds == -1
    assert event.bisect_on_error is True
    assert event.report_batch_item_failures is True
    assert event.on_failure_destination == "kafka://coupon.issue-requested.dlt"
    assert event.enabled is True
    assert event.filter_patterns == []


def test_coupons_table(real: SamTemplate) -> None:
    table = real.tables["CouponsTable"]
    assert table.table_name == "surge-coupons"
    assert table.arn == "arn:aws:dynamodb:us-east-1:000000000000:table/surge-coupons"
    kwargs = table.create_table_kwargs()
    assert kwargs["TableName"] == "surge-coupons"
    assert kwargs["BillingMode"] == "PAY_PER_REQUEST"
    assert kwargs["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    (gsi,) = kwargs["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "gsi1"
    assert gsi["KeySchema"][0] == {"AttributeName": "gsi1pk", "KeyType": "HASH"}
    assert gsi["Projection"] == {"ProjectionType": "ALL"}
    assert "ProvisionedThroughput" not in gsi
    assert {a["AttributeName"] for a in kwargs["AttributeDefinitions"]} == {"pk", "sk", "gsi1pk", "gsi1sk"}


def test_topics(real: SamTemplate) -> None:
    topics = [(t.name, t.partitions, t.config) for t in real.topics]
    assert topics[:2] == [
        ("coupon.issue-requested", 4, {"retention.ms": "604800000"}),
        ("coupon.issue-requested.dlt", 1, {"retention.ms": "1209600000"}),
    ]
    assert ("queue.entry-requested", 4, {"retention.ms": "604800000"}) in topics


def test_kafka_event_topics_are_declared(real: SamTemplate) -> None:
    declared = {t.name for t in real.topics}
    for event in real.kafka_events():
        assert event.topic in declared
        assert (
            event.on_failure_destination is None
            or event.on_failure_destination[len("kafka://") :] in declared
        )


def test_stack_name_changes_default_names(real: SamTemplate) -> None:
    other = load_real(stack_name="demo", region="eu-west-1", account_id="123456789012")
    assert other.tables["CouponsTable"].table_name == "demo-coupons"
    assert other.tables["CouponsTable"].arn == "arn:aws:dynamodb:eu-west-1:123456789012:table/demo-coupons"
    assert other.functions["CouponApiFunction"].function_name == "demo-CouponApiFunction"
    assert other.parameters["KafkaBootstrapServers"] == "127.0.0.1:9092"
