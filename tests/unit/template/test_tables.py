"""Table specs and the boto3 CreateTable arguments built from them."""

from __future__ import annotations

from collections.abc import Callable

from infra.template import load_template
from tests.unit.template.conftest import HEADER, TEMPLATES, LoadText


def test_provisioned_table_with_indexes_stream_and_ttl() -> None:
    table = load_template(TEMPLATES / "tables.yaml").tables["Provisioned"]
    assert table.stream_view_type == "NEW_IMAGE"
    assert table.ttl_attribute == "expires_at"
    assert table.create_table_kwargs() == {
        "TableName": "provisioned",
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2},
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "byG",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
            }
        ],
        "LocalSecondaryIndexes": [
            {
                "IndexName": "bySk",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }


def test_kwargs_are_a_fresh_copy() -> None:
    table = load_template(TEMPLATES / "tables.yaml").tables["Provisioned"]
    table.create_table_kwargs()["KeySchema"].clear()
    assert len(table.create_table_kwargs()["KeySchema"]) == 2


def test_defaults_on_demand_no_stream_no_ttl() -> None:
    tpl = load_template(TEMPLATES / "tables.yaml", stack_name="s")
    table = tpl.tables["TtlDisabled"]
    assert table.table_name == "s-TtlDisabled"
    assert table.arn == "arn:aws:dynamodb:us-east-1:000000000000:table/s-TtlDisabled"
    assert (table.stream_view_type, table.ttl_attribute) == (None, None)
    kwargs = table.create_table_kwargs()
    assert kwargs["BillingMode"] == "PAY_PER_REQUEST"
    assert set(kwargs) == {"TableName", "BillingMode", "AttributeDefinitions", "KeySchema"}


TABLE = (
    HEADER
    + """Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
"""
)


def test_unknown_table_property(load_error: Callable[..., str]) -> None:
    message = load_error(TABLE + "      Bogus: 1\n      AlsoBogus: 2\n")
    assert "['AlsoBogus', 'Bogus']" in message and "Resources.T.Properties" in message


def test_table_errors(load_error: Callable[..., str]) -> None:
    assert "ProvisionedThroughput is required" in load_error(TABLE + "      BillingMode: PROVISIONED\n")
    assert "BillingMode" in load_error(TABLE + "      BillingMode: FREE\n")
    on_demand = TABLE + "      BillingMode: PAY_PER_REQUEST\n"
    assert "StreamViewType" in load_error(on_demand + "      StreamSpecification: {StreamViewType: ALL}\n")
    assert "KeySchema is required" in load_error(
        on_demand.replace("      KeySchema: [{AttributeName: pk, KeyType: HASH}]\n", "")
    )
    assert "AttributeName" in load_error(on_demand + "      TimeToLiveSpecification: {Enabled: true}\n")


def test_billing_mode_defaults_to_provisioned_as_in_cloudformation(
    load_error: Callable[..., str], load_text: LoadText
) -> None:
    # CloudFormation's default: a table with throughput and no BillingMode is a provisioned table.
    throughput = "      ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: 2}\n"
    kwargs = load_text(TABLE + throughput).tables["T"].create_table_kwargs()
    assert kwargs["BillingMode"] == "PROVISIONED"
    assert kwargs["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2}
    # ... and one with neither is what CloudFormation rejects, with the reason.
    assert "BillingMode defaults to PROVISIONED" in load_error(TABLE)
