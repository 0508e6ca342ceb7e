"""load_template: a SAM template file -> SamTemplate with resolved, typed specs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from infra.template.errors import TemplateError, UnsupportedConstruct
from infra.template.functions import parse_function
from infra.template.intrinsics import FUNCTION_TYPE, TABLE_TYPE, Resolver, to_text
from infra.template.models import FunctionSpec, KafkaEventSpec, TableSpec, TopicSpec
from infra.template.tables import parse_table
from infra.template.yaml_loader import read_template_file

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
# Resources the local runtime cannot run; listed (SamTemplate.unsupported), never ignored silently.
_UNSUPPORTED_RESOURCE_TYPES = {
    "AWS::Lambda::Function": f"declare it as {FUNCTION_TYPE}",
    "AWS::Lambda::EventSourceMapping": f"declare the event under the {FUNCTION_TYPE}'s Events",
    "AWS::Lambda::Url": "function URLs are not served",
    "AWS::Serverless::StateMachine": "Step Functions do not run locally",
    "AWS::Serverless::SimpleTable": f"declare it as {TABLE_TYPE}",
}


@dataclass(frozen=True)
class SamTemplate:
    path: Path
    parameters: dict[str, str]
    functions: dict[str, FunctionSpec]
    tables: dict[str, TableSpec]
    topics: list[TopicSpec]
    stack_name: str
    region: str
    account_id: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    # Valid SAM the local runtime cannot run, each with its location and what it leaves out.
    unsupported: list[UnsupportedConstruct] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.path.parent

    def kafka_events(self) -> list[KafkaEventSpec]:
        return [e for f in self.functions.values() for e in f.events if isinstance(e, KafkaEventSpec)]


def load_template(
    path: Path,
    parameter_overrides: Mapping[str, str] | None = None,
    *,
    stack_name: str = "surge",
    region: str = "us-east-1",
    account_id: str = "000000000000",
    resource_attributes: Mapping[tuple[str, str], str] | None = None,
    msk_bootstrap_default: str | None = None,
) -> SamTemplate:
    """Loads and resolves a SAM template. Raises TemplateError (only) for bad input.

    `msk_bootstrap_default`: the brokers of MSK events when neither an override nor a
    KafkaBootstrapServers parameter gives them (e.g. "" for an invocation that polls nothing).

    `resource_attributes` supplies values known only at run time, e.g. {("CouponsTable", "StreamArn"): arn};
    a ("Resource", "Ref") key supplies what `Ref Resource` returns for resource types we do not model.
    """
    path = Path(path).absolute()
    try:
        return _load(
            path,
            parameter_overrides or {},
            stack_name,
            region,
            account_id,
            resource_attributes or {},
            msk_bootstrap_default,
        )
    except TemplateError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise TemplateError(f"{path}: {exc}") from exc
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        # Safety net for shapes no check above anticipated: bad input must still be a TemplateError.
        raise TemplateError(f"{path}: malformed template ({type(exc).__name__}: {exc})") from exc


def _load(
    path: Path,
    parameter_overrides: Mapping[str, str],
    stack_name: str,
    region: str,
    account_id: str,
    resource_attributes: Mapping[tuple[str, str], str],
    msk_bootstrap_default: str | None,
) -> SamTemplate:
    overrides = {k: str(v) for k, v in parameter_overrides.items()}
    raw = read_template_file(path)
    _check_transform(raw)
    for section in ("Resources", "Parameters", "Globals", "Conditions", "Metadata"):
        if raw.get(section) is not None and not isinstance(raw[section], dict):
            raise TemplateError(f"{section} must be a mapping")

    typed_parameters = _parameters(raw.get("Parameters") or {}, overrides)
    parameters = {name: text for name, (text, _) in typed_parameters.items()}
    resolver = Resolver(
        raw,
        {name: value for name, (_, value) in typed_parameters.items()},
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        resource_attributes=resource_attributes,
    )
    # MSK events have no broker list in SAM; locally it comes from the override or the parameter.
    bootstrap_fallback = overrides.get(
        "KafkaBootstrapServers", parameters.get("KafkaBootstrapServers", msk_bootstrap_default)
    )
    globals_function = (raw.get("Globals") or {}).get("Function")

    functions: dict[str, FunctionSpec] = {}
    tables: dict[str, TableSpec] = {}
    unsupported: list[UnsupportedConstruct] = []
    for logical_id, resource in (raw.get("Resources") or {}).items():
        if not isinstance(resource, dict):
            raise TemplateError(f"resource {logical_id} must be a mapping (at Resources.{logical_id})")
        resource_type = resource.get("Type")
        if resource_type in _UNSUPPORTED_RESOURCE_TYPES and resolver.is_included(logical_id):
            unsupported.append(
                UnsupportedConstruct(
                    f"{resource_type} {logical_id} ({_UNSUPPORTED_RESOURCE_TYPES[str(resource_type)]})",
                    f"Resources.{logical_id}",
                    f"resource {logical_id}",
                )
            )
            continue
        if resource_type not in (TABLE_TYPE, FUNCTION_TYPE) or not resolver.is_included(logical_id):
            continue
        if resource_type == TABLE_TYPE:
            tables[logical_id] = parse_table(logical_id, resource.get("Properties"), resolver)
            continue
        try:
            functions[logical_id] = parse_function(
                logical_id, resource, globals_function, resolver, path.parent, bootstrap_fallback, unsupported
            )
        except UnsupportedConstruct as problem:
            unsupported.append(problem)

    scope = stack_scope(stack_name, path)
    functions = {fid: _with_default_groups(f, scope) for fid, f in functions.items()}
    return SamTemplate(
        path=path,
        parameters=parameters,
        functions=functions,
        tables=tables,
        topics=_topics(raw.get("Metadata") or {}, resolver),
        stack_name=stack_name,
        region=region,
        account_id=account_id,
        raw=raw,
        unsupported=unsupported,
    )


def stack_scope(stack_name: str, path: Path) -> str:
    """8 hex digits naming one stack of one template: AWS gives every event source mapping a UUID,
    so two stacks never share a consumer group; locally the stack is its name and template file."""
    return hashlib.sha256(f"{stack_name}\0{path}".encode()).hexdigest()[:8]


def _with_default_groups(function: FunctionSpec, scope: str) -> FunctionSpec:
    events = [
        replace(e, default_group_id=f"surge-{e.function_logical_id}-{e.name}-{scope}")
        if isinstance(e, KafkaEventSpec)
        else e
        for e in function.events
    ]
    return replace(function, events=events)


def _check_transform(raw: dict[str, Any]) -> None:
    transform = raw.get("Transform")
    transforms = transform if isinstance(transform, list) else [transform]
    if SAM_TRANSFORM not in transforms:
        raise TemplateError(f"not a SAM template (needs 'Transform: {SAM_TRANSFORM}')")


def _parameters(
    declared: dict[str, Any], overrides: Mapping[str, str]
) -> dict[str, tuple[str, str | list[str]]]:
    """name -> (text value, value `Ref` returns: a list for list-typed parameters)."""
    result: dict[str, tuple[str, str | list[str]]] = {}
    for name, spec in declared.items():
        where = f"Parameters.{name}"
        if not isinstance(spec, dict):
            raise TemplateError(f"parameter {name} must be a mapping (at {where})")
        if name in overrides:
            text = overrides[name]
        elif "Default" in spec:
            default = spec["Default"]
            if isinstance(default, list):  # YAML list default for a list parameter
                default = ",".join(to_text(item, where) for item in default)
            text = to_text(default, f"{where}.Default")
        else:
            raise TemplateError(f"parameter {name} has no Default and no override was given (at {where})")
        allowed = spec.get("AllowedValues")
        if isinstance(allowed, list) and text not in [to_text(v, where) for v in allowed]:
            raise TemplateError(
                f"parameter {name} value {text!r} is not in AllowedValues {allowed} (at {where})"
            )
        param_type = str(spec.get("Type", "String"))
        is_list = param_type == "CommaDelimitedList" or param_type.startswith("List<")
        result[name] = (text, [item.strip() for item in text.split(",")] if is_list else text)
    return result


def _topics(metadata: dict[str, Any], resolver: Resolver) -> list[TopicSpec]:
    surge = metadata.get("Surge") or {}
    raw_topics = surge.get("KafkaTopics") if isinstance(surge, dict) else None
    if raw_topics is None:
        return []
    where = "Metadata.Surge.KafkaTopics"
    if not isinstance(raw_topics, list):
        raise TemplateError(f"KafkaTopics must be a list (at {where})")
    topics: list[TopicSpec] = []
    for i, entry in enumerate(raw_topics):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise TemplateError(f"a Kafka topic must be a mapping (at {at})")
        unknown = sorted(set(entry) - {"Name", "Partitions", "Config"})
        if unknown:
            raise TemplateError(f"Kafka topic has unknown keys {unknown} (at {at})")
        # Names may come from parameters (`!Ref TopicName`), so overrides reach the topics created.
        name = resolver.resolve(entry.get("Name"), f"{at}.Name")
        partitions, config = entry.get("Partitions", 1), entry.get("Config") or {}
        if not isinstance(name, str) or not _TOPIC_NAME.match(name) or name in (".", ".."):
            raise TemplateError(f"invalid Kafka topic Name {name!r} (at {at}.Name)")
        if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
            raise TemplateError(f"Partitions must be a positive integer (at {at}.Partitions)")
        if not isinstance(config, dict):
            raise TemplateError(f"Config must be a mapping of Kafka topic configs (at {at}.Config)")
        config_text = {str(k): to_text(v, f"{at}.Config.{k}") for k, v in config.items()}
        topics.append(TopicSpec(name=name, partitions=partitions, config=config_text))
    names = [t.name for t in topics]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TemplateError(f"Kafka topics declared twice: {duplicates} (at {where})")
    return topics
