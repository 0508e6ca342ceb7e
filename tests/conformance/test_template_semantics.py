"""SAM/CloudFormation semantics on a serverless-patterns style MSK template (msk_orders/): what
`sam deploy` would accept must load, and mean what it means on AWS."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.template import KafkaEventSpec, TemplateError, load_template

HERE = Path(__file__).resolve().parent
MSK_ORDERS = HERE / "msk_orders" / "template.yaml"
OVERRIDES = {
    "MSKClusterArn": "arn:aws:kafka:us-east-1:123456789012:cluster/orders/abc-1",
    "OrdersTableName": "orders-from-override",
    "KafkaBootstrapServers": "127.0.0.1:9092",
}


def _event(template_path: Path = MSK_ORDERS) -> KafkaEventSpec:
    template = load_template(template_path, OVERRIDES)
    (event,) = template.functions["OrderConsumerFunction"].events
    assert isinstance(event, KafkaEventSpec)
    return event


def test_a_table_without_billing_mode_is_provisioned() -> None:
    table = load_template(MSK_ORDERS, OVERRIDES).tables["OrdersTable"]
    kwargs = table.create_table_kwargs()
    assert kwargs["BillingMode"] == "PROVISIONED"
    assert kwargs["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}


def test_parameters_without_default_come_from_overrides_and_name_the_table_and_topic() -> None:
    template = load_template(MSK_ORDERS, {**OVERRIDES, "OrdersTopic": "orders-v2"})
    assert template.tables["OrdersTable"].table_name == "orders-from-override"
    assert [t.name for t in template.topics] == ["orders-v2"]
    (event,) = template.functions["OrderConsumerFunction"].events
    assert isinstance(event, KafkaEventSpec) and event.topic == "orders-v2"
    assert template.functions["OrderConsumerFunction"].environment["TABLE_NAME"] == "orders-from-override"
    with pytest.raises(TemplateError, match="parameter OrdersTableName has no Default"):
        load_template(MSK_ORDERS, {"MSKClusterArn": "arn", "KafkaBootstrapServers": "h:1"})


def test_code_uri_defaults_to_the_template_folder() -> None:
    functions = load_template(MSK_ORDERS, OVERRIDES).functions
    assert functions["OrderConsumerFunction"].code_dir == MSK_ORDERS.parent
    assert functions["OrderValidatorFunction"].code_dir == MSK_ORDERS.parent


def test_an_on_failure_queue_of_the_template_is_its_arn() -> None:
    assert _event().on_failure_destination == "arn:aws:sqs:us-east-1:000000000000:surge-FailedOrdersQueue"


def test_sns_topic_and_bucket_references_resolve_like_cloudformation(tmp_path: Path) -> None:
    text = MSK_ORDERS.read_text().replace(
        "Destination: !GetAtt FailedOrdersQueue.Arn", "Destination: !Ref FailedOrdersTopic"
    )
    text += (
        "  FailedOrdersTopic:\n    Type: AWS::SNS::Topic\n    Properties: {TopicName: failed-orders}\n"
        "  Archive:\n    Type: AWS::S3::Bucket\n"
    )
    template_path = tmp_path / "template.yaml"
    template_path.write_text(text.replace("Outputs:\n  OrdersTableName:\n    Value: !Ref OrdersTable\n", ""))
    shutil.copy(MSK_ORDERS.parent / "app.py", tmp_path)
    assert _event(template_path).on_failure_destination == "arn:aws:sns:us-east-1:000000000000:failed-orders"


def test_default_consumer_groups_are_unique_per_stack(tmp_path: Path) -> None:
    copy = tmp_path / "template.yaml"
    shutil.copy(MSK_ORDERS, copy)
    here, there = _event().default_group_id, _event(copy).default_group_id
    assert here and there and here != there
    assert here.startswith("surge-OrderConsumerFunction-OrdersStream-")
    assert here == _event().default_group_id  # stable: a restarted runtime resumes its offsets
    other_stack = load_template(MSK_ORDERS, OVERRIDES, stack_name="staging").functions[
        "OrderConsumerFunction"
    ]
    assert other_stack.events[0].default_group_id != here  # type: ignore[union-attr]
