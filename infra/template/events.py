"""A function's `Events` entries -> typed event specs.

Limits and defaults follow the Lambda CreateEventSourceMapping API and the SAM event docs;
see docs/event-sources.md for the Kafka behaviour the local runtime reproduces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from infra.template.auth import route_auth
from infra.template.errors import TemplateError, UnsupportedConstruct
from infra.template.intrinsics import Resolver
from infra.template.models import (
    ApiKind,
    DynamoDBEventSpec,
    EventSpec,
    HttpApiEventSpec,
    KafkaEventSpec,
    KafkaStartingPosition,
    ScheduleEventSpec,
    StreamStartingPosition,
)
from infra.template.props import Props

# Properties SAM accepts on these pull events (samtranslator PullEventSource) that we read or may ignore
# locally (auth, encryption, metrics). Anything else is a typo SAM would reject too.
_COMMON_PULL = {
    "BatchSize",
    "StartingPosition",
    "Enabled",
    "MaximumBatchingWindowInSeconds",
    "MaximumRetryAttempts",
    "BisectBatchOnFunctionError",
    "MaximumRecordAgeInSeconds",
    "DestinationConfig",
    "FunctionResponseTypes",
    "FilterCriteria",
    "KmsKeyArn",
    "MetricsConfig",
    "LoggingConfig",
}
_KAFKA_PROPERTIES = _COMMON_PULL | {
    "StartingPositionTimestamp",
    "Topics",
    "ConsumerGroupId",
    "SourceAccessConfigurations",
    "SecretsManagerKmsKeyId",
    "ProvisionedPollerConfig",
    "SchemaRegistryConfig",
}
_SELF_MANAGED_PROPERTIES = _KAFKA_PROPERTIES | {"KafkaBootstrapServers"}
_MSK_PROPERTIES = _KAFKA_PROPERTIES | {"Stream"}
# CloudFormation ESM properties that SAM's event syntax rejects; SAM builds them from ConsumerGroupId.
_CFN_ONLY_GROUP_CONFIG = ("SelfManagedKafkaEventSourceConfig", "AmazonManagedKafkaEventSourceConfig")
_DYNAMODB_PROPERTIES = _COMMON_PULL | {"Stream", "ParallelizationFactor"}

_MAX_FILTERS = 5
_KAFKA_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
_STREAM_POSITIONS = ("TRIM_HORIZON", "LATEST")
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?,/#\-]+$")
_HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}


def parse_events(
    function_id: str,
    raw_events: Any,
    resolver: Resolver,
    bootstrap_fallback: str | None,
    unsupported: list[UnsupportedConstruct] | None = None,
) -> list[EventSpec]:
    """The events the local runtime runs; those of a type it cannot run are appended to
    `unsupported` (or raised, when no list is given)."""
    where = f"Resources.{function_id}.Properties.Events"
    if raw_events is None:
        return []
    if not isinstance(raw_events, dict):
        raise TemplateError(f"Events must be a mapping (at {where})")
    parsers: Mapping[str, Callable[[_Event], EventSpec]] = {
        "SelfManagedKafka": lambda e: _kafka(e, bootstrap_fallback),
        "MSK": lambda e: _kafka(e, bootstrap_fallback),
        "DynamoDB": _dynamodb,
        "Schedule": _schedule,
        "ScheduleV2": _schedule,
        "HttpApi": _http,
        "Api": _http,
    }
    specs: list[EventSpec] = []
    for name, raw in raw_events.items():
        event_where = f"{where}.{name}"
        if not isinstance(raw, dict):
            raise TemplateError(f"event {name} must be a mapping (at {event_where})")
        event_type = str(raw.get("Type"))
        parser = parsers.get(event_type)
        if parser is None:
            problem = UnsupportedConstruct(
                f"function {function_id} event {name}: Type {event_type} (supported: {', '.join(parsers)})",
                f"{event_where}.Type",
                f"event {function_id}.{name}",
            )
            if unsupported is None:
                raise problem
            unsupported.append(problem)
            continue
        props = Props(raw.get("Properties"), f"{event_where}.Properties", resolver)
        specs.append(parser(_Event(name, function_id, event_type, props)))
    return specs


class _Event:
    def __init__(self, name: str, function_id: str, type_: str, props: Props) -> None:
        self.name = name
        self.function_id = function_id
        self.type = type_
        self.props = props

    @property
    def label(self) -> str:
        return f"{self.type} event {self.name} of {self.function_id}"


# ---- Kafka ------------------------------------------------------------------------------------


def _kafka(event: _Event, bootstrap_fallback: str | None) -> KafkaEventSpec:
    props = event.props
    self_managed = event.type == "SelfManagedKafka"
    for key in _CFN_ONLY_GROUP_CONFIG:
        if key in props.raw:
            raise TemplateError(
                f"{key} is not a SAM {event.type} event property (sam deploy rejects it); "
                f"set ConsumerGroupId on the event instead (at {props.at(key)})"
            )
    props.reject_unknown(_SELF_MANAGED_PROPERTIES if self_managed else _MSK_PROPERTIES, event.label)

    topics = props.opt_list("Topics")
    if not topics or len(topics) != 1:
        raise TemplateError(
            "Topics must list exactly one topic (one topic per event source mapping) "
            f"(at {props.at('Topics')})"
        )
    topic = str(topics[0])

    event_source_arn = None
    if self_managed:
        servers = props.opt_list("KafkaBootstrapServers")
        if not servers:
            raise TemplateError(f"KafkaBootstrapServers is required for SelfManagedKafka (at {props.where})")
        bootstrap_servers = ",".join(str(server) for server in servers)
        if not props.raw.get("SourceAccessConfigurations"):  # presence only: auth is not used locally
            # SAM rejects SelfManagedKafka without it; catching it here saves a failed deploy.
            raise TemplateError(
                f"SourceAccessConfigurations is required for SelfManagedKafka (at {props.where})"
            )
    else:
        event_source_arn = props.req_str("Stream", " (the MSK cluster ARN)")
        if bootstrap_fallback is None:
            raise TemplateError(
                "MSK event needs the brokers' address locally: "
                "pass a KafkaBootstrapServers parameter override "
                f"or declare a KafkaBootstrapServers parameter (at {props.where})"
            )
        bootstrap_servers = bootstrap_fallback

    starting_position = cast(
        KafkaStartingPosition,
        _starting_position(props, _KAFKA_POSITIONS, " (Lambda requires it for Kafka event source mappings)"),
    )
    timestamp = _starting_timestamp(props, starting_position)
    destination = _on_failure_destination(props)
    if destination is not None and destination.startswith("kafka://"):
        destination_topic = destination.removeprefix("kafka://")
        if not destination_topic or destination_topic == topic:
            raise TemplateError(
                f"on-failure destination {destination} must name another topic than the source topic {topic} "
                f"(at {props.at('DestinationConfig')})"
            )
    return KafkaEventSpec(
        name=event.name,
        function_logical_id=event.function_id,
        source_kind="SelfManagedKafka" if self_managed else "MSK",
        topic=topic,
        bootstrap_servers=bootstrap_servers,
        event_source_arn=event_source_arn,
        consumer_group_id=props.opt_str("ConsumerGroupId"),
        starting_position=starting_position,
        starting_position_timestamp=timestamp,
        batch_size=props.int_in("BatchSize", 100, 1, 10_000),
        batching_window_seconds=_kafka_batching_window(props),
        enabled=props.flag("Enabled", True),
        filter_patterns=_filter_patterns(props),
        report_batch_item_failures=_report_failures(props),
        maximum_retry_attempts=props.int_in("MaximumRetryAttempts", -1, 0, 10_000, also=(-1,)),
        maximum_record_age_seconds=props.int_in("MaximumRecordAgeInSeconds", -1, 60, 604_800, also=(-1,)),
        bisect_on_error=props.flag("BisectBatchOnFunctionError", False),
        on_failure_destination=destination,
        provisioned_pollers=_provisioned_pollers(props),
    )


def _kafka_batching_window(props: Props) -> float:
    if not props.has("MaximumBatchingWindowInSeconds"):
        return 0.5  # Lambda's Kafka default when the property is absent (500 ms)
    return float(props.int_in("MaximumBatchingWindowInSeconds", 0, 0, 300))


def _provisioned_pollers(props: Props) -> tuple[int, int] | None:
    if not props.has("ProvisionedPollerConfig"):
        return None
    config = props.sub("ProvisionedPollerConfig")
    config.reject_unknown({"MinimumPollers", "MaximumPollers", "PollerGroupName"}, "ProvisionedPollerConfig")
    minimum = config.int_in("MinimumPollers", 1, 1, 200)  # AWS defaults: 1 and 200
    maximum = config.int_in("MaximumPollers", 200, 1, 2000)
    if minimum > maximum:
        raise TemplateError(f"MinimumPollers {minimum} is above MaximumPollers {maximum} (at {config.where})")
    return (minimum, maximum)


# ---- DynamoDB Streams -------------------------------------------------------------------------


def _dynamodb(event: _Event) -> DynamoDBEventSpec:
    props = event.props
    props.reject_unknown(_DYNAMODB_PROPERTIES, event.label)
    raw_stream = props.raw.get("Stream")
    return DynamoDBEventSpec(
        name=event.name,
        function_logical_id=event.function_id,
        stream=props.req_str("Stream"),
        table_logical_id=_stream_table(raw_stream),
        starting_position=cast(StreamStartingPosition, _starting_position(props, _STREAM_POSITIONS, "")),
        batch_size=props.int_in("BatchSize", 100, 1, 10_000),
        batching_window_seconds=props.int_in("MaximumBatchingWindowInSeconds", 0, 0, 300),
        enabled=props.flag("Enabled", True),
        filter_patterns=_filter_patterns(props),
        report_batch_item_failures=_report_failures(props),
        maximum_retry_attempts=props.int_in("MaximumRetryAttempts", -1, 0, 10_000, also=(-1,)),
        maximum_record_age_seconds=props.int_in("MaximumRecordAgeInSeconds", -1, 60, 604_800, also=(-1,)),
        bisect_on_error=props.flag("BisectBatchOnFunctionError", False),
        on_failure_destination=_on_failure_destination(props),
        parallelization_factor=props.int_in("ParallelizationFactor", 1, 1, 10),
    )


def _stream_table(raw_stream: Any) -> str | None:
    """`!GetAtt Table.StreamArn` (either form) -> "Table"."""
    if isinstance(raw_stream, dict) and set(raw_stream) == {"Fn::GetAtt"}:
        target = raw_stream["Fn::GetAtt"]
        parts = target.split(".", 1) if isinstance(target, str) else target
        if (
            isinstance(parts, list)
            and len(parts) == 2
            and parts[1] == "StreamArn"
            and isinstance(parts[0], str)
        ):
            return parts[0]
    return None


# ---- shared pull-event properties -------------------------------------------------------------


def _starting_position(props: Props, allowed: tuple[str, ...], why_required: str) -> str:
    position = props.req_str("StartingPosition", why_required)
    if position not in allowed:
        raise TemplateError(
            f"StartingPosition must be one of {', '.join(allowed)}, got {position!r} "
            f"(at {props.at('StartingPosition')})"
        )
    return position


def _starting_timestamp(props: Props, position: str) -> float | None:
    raw = props.get("StartingPositionTimestamp") if props.has("StartingPositionTimestamp") else None
    if position != "AT_TIMESTAMP":
        if raw is not None:
            raise TemplateError(
                f"StartingPositionTimestamp is only allowed with AT_TIMESTAMP (at {props.where})"
            )
        return None
    if raw is None:
        raise TemplateError(
            f"StartingPositionTimestamp (Unix seconds) is required with AT_TIMESTAMP (at {props.where})"
        )
    try:
        return float(raw)
    except (TypeError, ValueError) as exc:
        raise TemplateError(
            "StartingPositionTimestamp must be a number of Unix seconds "
            f"(at {props.at('StartingPositionTimestamp')})"
        ) from exc


def _filter_patterns(props: Props) -> list[dict[str, Any]]:
    criteria = props.sub("FilterCriteria")
    criteria.reject_unknown({"Filters"}, "FilterCriteria")
    filters = criteria.opt_list("Filters") or []
    if len(filters) > _MAX_FILTERS:
        raise TemplateError(
            f"FilterCriteria allows at most {_MAX_FILTERS} filters, got {len(filters)} (at {criteria.where})"
        )
    patterns = []
    for i, entry in enumerate(filters):
        where = f"{criteria.at('Filters')}[{i}].Pattern"
        pattern = entry.get("Pattern") if isinstance(entry, dict) else None
        if not isinstance(pattern, str):
            raise TemplateError(f"Pattern must be a JSON string (at {where})")
        try:
            parsed = json.loads(pattern)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"Pattern is not valid JSON: {exc} (at {where})") from exc
        if not isinstance(parsed, dict):
            raise TemplateError(f"Pattern must be a JSON object (at {where})")
        patterns.append(parsed)
    return patterns


def _report_failures(props: Props) -> bool:
    types = props.opt_list("FunctionResponseTypes") or []
    unknown = [t for t in types if t != "ReportBatchItemFailures"]
    if unknown:
        raise TemplateError(
            f"FunctionResponseTypes allows only ReportBatchItemFailures, got {unknown} (at {props.where})"
        )
    return bool(types)


def _on_failure_destination(props: Props) -> str | None:
    config = props.sub("DestinationConfig")
    config.reject_unknown({"OnFailure"}, "DestinationConfig")
    on_failure = config.sub("OnFailure")
    on_failure.reject_unknown({"Destination", "Type"}, "DestinationConfig.OnFailure")
    if not props.has("DestinationConfig"):
        return None
    return on_failure.req_str("Destination")


# ---- Schedule / ScheduleV2 --------------------------------------------------------------------


def _schedule(event: _Event) -> ScheduleEventSpec:
    props = event.props
    key = "Schedule" if event.type == "Schedule" else "ScheduleExpression"
    expression = props.req_str(key).strip()
    _validate_schedule_expression(expression, props.at(key))
    state = props.opt_str("State")
    if state is not None and state not in ("ENABLED", "DISABLED"):
        raise TemplateError(f"State must be ENABLED or DISABLED, got {state!r} (at {props.at('State')})")
    if event.type == "ScheduleV2":
        enabled = state != "DISABLED"
    else:
        enabled = props.flag("Enabled", True) if state is None else state == "ENABLED"
    event_input = props.opt_str("Input")
    if event_input is not None:
        try:
            json.loads(event_input)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"Input must be a JSON string: {exc} (at {props.at('Input')})") from exc
    return ScheduleEventSpec(
        name=event.name,
        function_logical_id=event.function_id,
        expression=expression,
        enabled=enabled,
        input=event_input,
    )


def _validate_schedule_expression(expression: str, where: str) -> None:
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        # AWS: rate(1 minute) but rate(5 minutes); the value must be positive.
        if value < 1 or (value == 1) == unit.endswith("s"):
            raise TemplateError(
                f"schedule {expression!r}: the value must be >= 1, with a singular unit for 1 "
                f"and a plural one otherwise (at {where})"
            )
        return
    cron = _CRON.match(expression)
    if cron:
        fields = cron.group(1).split()
        if len(fields) != 6 or not all(_CRON_FIELD.match(f) for f in fields):
            raise TemplateError(
                f"schedule {expression!r}: cron needs 6 fields (min hour day month weekday year) (at {where})"
            )
        if (fields[2] == "?") == (fields[4] == "?"):
            raise TemplateError(
                f"schedule {expression!r}: exactly one of day-of-month and day-of-week "
                f"must be '?' (at {where})"
            )
        return
    raise TemplateError(f"schedule {expression!r} is not a rate(...) or cron(...) expression (at {where})")


# ---- HttpApi / Api ----------------------------------------------------------------------------


def _http(event: _Event) -> HttpApiEventSpec:
    props = event.props
    method, path = props.opt_str("Method"), props.opt_str("Path")
    api_kind: ApiKind = "HttpApi" if event.type == "HttpApi" else "Api"
    if api_kind == "HttpApi" and method is None and path is None:
        method, path = "ANY", "$default"  # SAM: an HttpApi event without Path/Method is the catch-all route
    if method is None or path is None:
        raise TemplateError(f"{event.label} needs both Method and Path (at {props.where})")
    method = method.upper()
    if method not in _HTTP_METHODS:
        raise TemplateError(f"Method {method!r} is not an HTTP method or ANY (at {props.at('Method')})")
    if path != "$default" and not path.startswith("/"):
        raise TemplateError(f"Path {path!r} must start with '/' (at {props.at('Path')})")
    resolver = props.resolver
    auth = route_auth(api_kind, dict(props.raw), props.where, resolver, dict(resolver.globals))
    return HttpApiEventSpec(
        name=event.name,
        function_logical_id=event.function_id,
        api_kind=api_kind,
        method=method,
        path=path,
        auth=auth,
    )
