"""Reads a SAM/CloudFormation template file (YAML or JSON) into plain Python data.

CloudFormation short-form tags (`!Ref`, `!Sub`, ...) are turned into their long dict form
(`{"Ref": ...}`, `{"Fn::Sub": ...}`) so that the resolver only has to know one form.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import yaml

from infra.template.errors import TemplateError

# short tag -> long intrinsic name (`!GetAtt A.B` scalars are split into [A, B] below).
_SHORT_TAGS = {
    "!Ref": "Ref",
    "!Condition": "Condition",
    "!Sub": "Fn::Sub",
    "!GetAtt": "Fn::GetAtt",
    "!Join": "Fn::Join",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!If": "Fn::If",
    "!Equals": "Fn::Equals",
    "!Not": "Fn::Not",
    "!And": "Fn::And",
    "!Or": "Fn::Or",
    "!FindInMap": "Fn::FindInMap",
    "!ImportValue": "Fn::ImportValue",
    "!Base64": "Fn::Base64",
    "!Cidr": "Fn::Cidr",
    "!GetAZs": "Fn::GetAZs",
    "!Transform": "Fn::Transform",
    "!Length": "Fn::Length",
    "!ToJsonString": "Fn::ToJsonString",
}


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short tags, keeps dates as strings and rejects duplicate keys."""


def _construct_short_tag(loader: CfnLoader, node: yaml.Node) -> dict[str, Any]:
    name = _SHORT_TAGS[node.tag]
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            # `!GetAtt Res.Attr` -> ["Res", "Attr"]; attributes may contain dots themselves.
            resource, _, attribute = str(value).partition(".")
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


def _construct_mapping_no_duplicates(loader: CfnLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # CloudFormation rejects duplicate keys; PyYAML would silently keep the last one.
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


def _construct_timestamp_as_string(loader: CfnLoader, node: yaml.Node) -> str:
    # CloudFormation treats 2024-01-01 as a plain string, not a date.
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


for _tag in _SHORT_TAGS:
    CfnLoader.add_constructor(_tag, _construct_short_tag)
CfnLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_no_duplicates)
CfnLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_string)


def parse_template_text(text: str, source: str) -> dict[str, Any]:
    """Parses template text (JSON or YAML); `source` names the file in error messages."""
    data: Any = None
    parsed = False
    if text.lstrip().startswith("{"):
        # JSON templates; a YAML flow mapping also starts with "{", so fall back to YAML on failure.
        with contextlib.suppress(json.JSONDecodeError):
            data, parsed = json.loads(text), True
    if not parsed:
        loader = CfnLoader(text)
        loader.name = source  # error marks then name the file instead of "<unicode string>"
        try:
            data = loader.get_single_data()
        except yaml.YAMLError as exc:
            raise TemplateError(f"{source}: not valid YAML: {exc}") from exc
        finally:
            loader.dispose()
    if not isinstance(data, dict):
        raise TemplateError(f"{source}: the template must be a mapping at the top level")
    return data


def read_template_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read template: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{path}: template is not UTF-8 text: {exc}") from exc
    return parse_template_text(text, str(path))
