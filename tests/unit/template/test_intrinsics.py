"""Intrinsic functions in short and long form, conditions, and laziness for resources we never read."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.template import load_template
from tests.unit.template.conftest import TEMPLATES, LoadText, with_function


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    tpl = load_template(
        TEMPLATES / "intrinsics.yaml", stack_name="st", region="eu-west-1", account_id="111122223333"
    )
    return tpl.functions["Fn"].environment


def test_ref_parameter_table_function(env: dict[str, str]) -> None:
    assert env["REF_PARAM"] == "dev"
    assert env["REF_TABLE"] == "st-table-dev"
    assert env["REF_FUNCTION"] == "other-fn"
    assert env["REF_SELF_DEFAULT_NAME"] == "st-Fn"


def test_pseudo_parameters(env: dict[str, str]) -> None:
    assert env["PSEUDO"] == "eu-west-1/111122223333/aws/amazonaws.com"


def test_sub_forms(env: dict[str, str]) -> None:
    assert env["SUB_LIST"] == "hello-dev"
    assert env["SUB_LITERAL"] == "${NotAVariable}"
    assert env["SUB_GETATT"] == "arn:aws:dynamodb:eu-west-1:111122223333:table/st-table-dev"


def test_get_att(env: dict[str, str]) -> None:
    assert env["GETATT_ARN"] == "arn:aws:dynamodb:eu-west-1:111122223333:table/st-table-dev"
    assert env["GETATT_STREAM"] == "arn:aws:dynamodb:eu-west-1:111122223333:table/st-table-dev/stream/local"
    assert env["GETATT_FUNCTION"] == "arn:aws:lambda:eu-west-1:111122223333:function:other-fn"


def test_join_select_split(env: dict[str, str]) -> None:
    assert env["JOIN"] == "a,dev,3"
    assert env["JOIN_LIST_PARAM"] == "b1:9092;b2:9092"
    assert env["SELECT"] == "b2:9092"
    assert env["SELECT_SPLIT"] == "z"


def test_if_and_conditions(env: dict[str, str]) -> None:
    assert env["IF_TRUE"] == "dev-value"
    assert env["IF_NESTED"] == "both"
    assert "REMOVED" not in env  # AWS::NoValue drops the key


def test_scalars_become_strings(env: dict[str, str]) -> None:
    assert env["BOOL"] == "true"
    assert env["NUMBER"] == "42"


def test_parameter_override_flips_conditions_and_excludes_conditional_resources() -> None:
    dev = load_template(TEMPLATES / "intrinsics.yaml")
    prod = load_template(TEMPLATES / "intrinsics.yaml", parameter_overrides={"Stage": "prod"})
    assert "ProdOnlyTable" not in dev.tables
    assert prod.tables["ProdOnlyTable"].table_name == "surge-ProdOnlyTable"
    assert prod.functions["Fn"].environment["IF_TRUE"] == "prod-value"
    assert prod.functions["Fn"].environment["REMOVED"] == "present"
    assert prod.functions["Fn"].environment["IF_NESTED"] == "none"
    assert prod.parameters["Stage"] == "prod"
    assert dev.parameters["Count"] == "3"
    assert dev.functions["Fn"].timeout == 3  # from !Ref Count (a Number parameter)


def test_resource_attributes_supply_runtime_values() -> None:
    tpl = load_template(
        TEMPLATES / "intrinsics.yaml",
        resource_attributes={("Table", "StreamArn"): "arn:real-stream", ("Other", "Arn"): "arn:real-fn"},
    )
    assert tpl.functions["Fn"].environment["GETATT_STREAM"] == "arn:real-stream"
    assert tpl.functions["Fn"].environment["GETATT_FUNCTION"] == "arn:real-fn"


def test_unrelated_resources_with_unsupported_intrinsics_do_not_fail() -> None:
    tpl = load_template(TEMPLATES / "unrelated.yaml")
    (route,) = tpl.functions["Fn"].events
    assert (route.method, route.path) == ("GET", "/items")  # type: ignore[union-attr]


def test_json_template() -> None:
    tpl = load_template(TEMPLATES / "template.json", stack_name="js")
    assert tpl.functions["JsonFn"].environment == {"TABLE": "js-t"}


@pytest.mark.parametrize(
    ("value", "construct"),
    [
        ("!ImportValue shared-output", "Fn::ImportValue"),
        ("!FindInMap [A, B, C]", "Fn::FindInMap"),
        ("!Base64 abc", "Fn::Base64"),
        ("!Cidr [10.0.0.0/16, 2, 8]", "Fn::Cidr"),
        ('!GetAZs ""', "Fn::GetAZs"),
        ("{'Fn::Transform': {Name: X}}", "Fn::Transform"),
        ("!Ref Missing", "Ref Missing"),
        ("!Ref AWS::NotificationARNs", "Ref AWS::NotificationARNs"),
        ("!GetAtt Fn.Nope", "Fn::GetAtt Fn.Nope"),
        ("!GetAtt Missing.Arn", "Fn::GetAtt Missing.Arn"),
        ("!Sub '${Missing}'", "Ref Missing"),
        ("!If [NoSuchCondition, a, b]", "Condition NoSuchCondition"),
        ("!Equals [a, b]", "Fn::Equals"),
        ("!Select [5, [a, b]]", "Fn::Select"),
        ("!Ref Role", "Ref Role (a AWS::IAM::Role)"),
    ],
)
def test_unsupported_intrinsics_name_construct_and_location(
    load_error: Callable[..., str], value: str, construct: str
) -> None:
    message = load_error(
        with_function(
            f"""
            Environment:
              Variables:
                BAD: {value}
            """,
            extra="""
              Role:
                Type: AWS::IAM::Role
            """,
        )
    )
    assert construct in message
    assert "Resources.Fn.Properties.Environment.Variables.BAD" in message


def test_get_att_stream_arn_needs_stream_specification(load_error: Callable[..., str]) -> None:
    message = load_error(
        with_function(
            """
            Environment:
              Variables:
                STREAM: !GetAtt T.StreamArn
            """,
            extra="""
              T:
                Type: AWS::DynamoDB::Table
                Properties:
                  BillingMode: PAY_PER_REQUEST
                  AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
                  KeySchema: [{AttributeName: pk, KeyType: HASH}]
            """,
        )
    )
    assert "Fn::GetAtt T.StreamArn" in message and "StreamSpecification" in message


def test_unsupported_condition_function(load_error: Callable[..., str]) -> None:
    text = "Conditions:\n  C: !ImportValue x\n" + with_function(
        """
        Environment:
          Variables:
            V: !If [C, a, b]
        """
    )
    message = load_error(text)
    assert "Fn::ImportValue" in message and "Conditions.C" in message


def test_parameter_without_default_or_override(load_text: LoadText, load_error: Callable[..., str]) -> None:
    text = "Parameters:\n  Needed: {Type: String}\n" + with_function()
    message = load_error(text)
    assert "Needed" in message and "no Default" in message and "Parameters.Needed" in message
    assert load_text(text, parameter_overrides={"Needed": "x"}).parameters == {"Needed": "x"}


def test_parameter_allowed_values(load_error: Callable[..., str]) -> None:
    text = "Parameters:\n  S: {Type: String, Default: a, AllowedValues: [a, b]}\n" + with_function()
    assert "AllowedValues" in load_error(text, parameter_overrides={"S": "c"})
