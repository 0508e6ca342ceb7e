"""File-level errors: missing file, bad YAML, no SAM transform, duplicate keys, short tags, topics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from infra.template import TemplateError, load_template
from infra.template.yaml_loader import parse_template_text
from tests.unit.template.conftest import HEADER, LoadText, with_function


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read template") as info:
        load_template(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in str(info.value)


def test_bad_yaml_names_file_and_line(load_error: Callable[..., str], tmp_path: Path) -> None:
    message = load_error(HEADER + "Resources: {a: [\n")
    assert "not valid YAML" in message and str(tmp_path / "template.yaml") in message and "line" in message


def test_unquoted_braces_in_flow_mapping_are_bad_yaml(load_error: Callable[..., str]) -> None:
    # The mistake template.yaml had: `{ Method: GET, Path: /coupons/{couponId} }` needs quotes.
    assert "not valid YAML" in load_error(
        with_function(events="E:\n  Type: HttpApi\n  Properties: { Method: GET, Path: /a/{id} }\n")
    )


@pytest.mark.parametrize(
    "transform", ["", "Transform: AWS::Include\n", "Transform: [AWS::LanguageExtensions]\n"]
)
def test_requires_sam_transform(load_error: Callable[..., str], transform: str) -> None:
    message = load_error(transform + "Resources: {}\n")
    assert "not a SAM template" in message and "AWS::Serverless-2016-10-31" in message


def test_transform_in_list(load_text: LoadText) -> None:
    tpl = load_text("Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\nResources: {}\n")
    assert (tpl.functions, tpl.tables, tpl.topics, tpl.parameters) == ({}, {}, [], {})


def test_duplicate_keys_rejected(load_error: Callable[..., str]) -> None:
    assert "duplicate key 'Fn'" in load_error(with_function() + with_function().split("Resources:")[1])


def test_top_level_must_be_mapping(load_error: Callable[..., str]) -> None:
    assert "mapping at the top level" in load_error("- a\n- b\n")


def test_short_tags_become_long_form() -> None:
    data = parse_template_text(
        "a: !Ref X\nb: !GetAtt T.StreamArn\nc: !GetAtt [T, Arn]\nd: !Sub [x, {y: 1}]\ne: !If [C, 1, 2]\n"
        "f: !Not [!Condition C]\ng: !Split [',', 'a,b']\nh: !Base64 x\ni: 2024-01-01\n",
        "inline",
    )
    assert data == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["T", "StreamArn"]},
        "c": {"Fn::GetAtt": ["T", "Arn"]},
        "d": {"Fn::Sub": ["x", {"y": 1}]},
        "e": {"Fn::If": ["C", 1, 2]},
        "f": {"Fn::Not": [{"Condition": "C"}]},
        "g": {"Fn::Split": [",", "a,b"]},
        "h": {"Fn::Base64": "x"},
        "i": "2024-01-01",
    }


TOPICS = HEADER + "Metadata:\n  Surge:\n    KafkaTopics:\n{}Resources: {{}}\n"


def test_topics_defaults_and_config_strings(load_text: LoadText) -> None:
    tpl = load_text(
        TOPICS.format(
            "      - Name: a\n      - {Name: b, Partitions: 3, Config: {retention.ms: 1000, cleanup.policy: compact}}\n"
        )
    )
    assert [(t.name, t.partitions, t.config) for t in tpl.topics] == [
        ("a", 1, {}),
        ("b", 3, {"retention.ms": "1000", "cleanup.policy": "compact"}),
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("- {Name: 'bad name'}", "invalid Kafka topic Name"),
        ("- {Name: a, Partitions: 0}", "Partitions must be a positive integer"),
        ("- {Name: a, Replicas: 2}", "unknown keys ['Replicas']"),
        ("- {Name: a}\n      - {Name: a}", "declared twice"),
    ],
)
def test_topic_errors(load_error: Callable[..., str], entry: str, expected: str) -> None:
    message = load_error(TOPICS.format(f"      {entry}\n"))
    assert expected in message and "Metadata.Surge.KafkaTopics" in message
