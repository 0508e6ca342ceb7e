"""Event specs for every supported event type, their defaults and their validation errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.template import (
    DynamoDBEventSpec,
    EventSpec,
    HttpApiEventSpec,
    KafkaEventSpec,
    ScheduleEventSpec,
    load_template,
)
from tests.unit.template.conftest import TEMPLATES, LoadText, with_function


@pytest.fixture(scope="module")
def events() -> dict[str, EventSpec]:
    tpl = load_template(TEMPLATES / "events.yaml")
    return {e.name: e for e in tpl.functions["Worker"].events}


def test_dynamodb_event(events: dict[str, EventSpec]) -> None:
    event = events["OrderStream"]
    assert event == DynamoDBEventSpec(
        name="OrderStream",
        function_logical_id="Worker",
        stream="arn:aws:dynamodb:us-east-1:000000000000:table/surge-Orders/stream/local",
        table_logical_id="Orders",
        starting_position="TRIM_HORIZON",
        batch_size=10,
        batching_window_seconds=5,
        enabled=True,
        filter_patterns=[{"eventName": ["INSERT"]}],
        report_batch_item_failures=True,
        maximum_retry_attempts=2,
        maximum_record_age_seconds=3600,
        bisect_on_error=True,
        on_failure_destination="arn:aws:sqs:us-east-1:123456789012:dlq",
        parallelization_factor=2,
    )


def test_dynamodb_event_defaults(events: dict[str, EventSpec]) -> None:
    event = events["ExternalStream"]
    assert isinstance(event, DynamoDBEventSpec)
    assert event.table_logical_id is None
    assert event.starting_position == "LATEST"
    assert (event.batch_size, event.batching_window_seconds, event.parallelization_factor) == (100, 0, 1)
    assert (event.maximum_retry_attempts, event.maximum_record_age_seconds) == (-1, -1)
    assert (event.enabled, event.bisect_on_error, event.report_batch_item_failures) == (True, False, False)
    assert event.on_failure_destination is None and event.filter_patterns == []


def test_schedule_events(events: dict[str, EventSpec]) -> None:
    assert events["Nightly"] == ScheduleEventSpec(
        name="Nightly",
        function_logical_id="Worker",
        expression="cron(0 3 * * ? *)",
        enabled=False,
        input='{"job": "nightly"}',
    )
    assert events["EveryMinute"] == ScheduleEventSpec(
        name="EveryMinute", function_logical_id="Worker", expression="rate(1 minute)", enabled=True
    )
    assert events["EveryFiveMinutes"] == ScheduleEventSpec(
        name="EveryFiveMinutes", function_logical_id="Worker", expression="rate(5 minutes)", enabled=False
    )


def test_http_events(events: dict[str, EventSpec]) -> None:
    assert events["CatchAll"] == HttpApiEventSpec(
        name="CatchAll", function_logical_id="Worker", api_kind="HttpApi", method="ANY", path="$default"
    )
    assert events["ProxyRoute"] == HttpApiEventSpec(
        name="ProxyRoute", function_logical_id="Worker", api_kind="Api", method="ANY", path="/legacy/{proxy+}"
    )


def test_msk_event(events: dict[str, EventSpec]) -> None:
    event = events["Managed"]
    assert isinstance(event, KafkaEventSpec)
    assert event.source_kind == "MSK"
    assert event.event_source_arn == "arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc"
    assert (
        event.bootstrap_servers == "broker-a:9092,broker-b:9092"
    )  # from the KafkaBootstrapServers parameter
    assert event.topic == "orders"
    assert event.consumer_group_id == "msk-group"
    assert (event.starting_position, event.starting_position_timestamp) == ("AT_TIMESTAMP", 1_700_000_000.0)
    assert event.provisioned_pollers == (2, 8)


def test_msk_bootstrap_from_override() -> None:
    tpl = load_template(TEMPLATES / "events.yaml", parameter_overrides={"KafkaBootstrapServers": "local:1"})
    (event,) = [e for e in tpl.kafka_events() if e.source_kind == "MSK"]
    assert event.bootstrap_servers == "local:1"


def test_self_managed_kafka_defaults(events: dict[str, EventSpec]) -> None:
    event = events["SelfManaged"]
    assert isinstance(event, KafkaEventSpec)
    assert event.bootstrap_servers == "k1:9092,k2:9092"
    assert event.event_source_arn is None
    assert event.consumer_group_id is None
    assert event.enabled is False
    assert event.filter_patterns == [{"value": {"type": ["PAID"]}}, {"value": {"type": ["REFUNDED"]}}]
    assert (event.batch_size, event.batching_window_seconds) == (100, 0.5)
    assert (event.maximum_retry_attempts, event.maximum_record_age_seconds) == (-1, -1)
    assert (event.bisect_on_error, event.report_batch_item_failures) == (False, False)
    assert (event.on_failure_destination, event.provisioned_pollers) == (None, None)


KAFKA = """
Kafka:
  Type: SelfManagedKafka
  Properties:
    KafkaBootstrapServers: [b:9092]
    Topics: [src]
    StartingPosition: LATEST
    SourceAccessConfigurations: [{Type: BASIC_AUTH, URI: arn:secret}]
"""


def kafka_with(extra: str) -> str:
    """The KAFKA event with `Key: value` lines replacing or adding properties."""
    lines = KAFKA.splitlines()
    for line in extra.strip().splitlines():
        key = line.split(":", 1)[0]
        lines = [existing for existing in lines if not existing.startswith(f"    {key}:")]
        lines.append(f"    {line}")
    return with_function(events="\n".join(lines) + "\n")


def test_kafka_string_booleans_and_window_zero(load_text: LoadText) -> None:
    tpl = load_text(
        kafka_with("Enabled: 'false'\nMaximumBatchingWindowInSeconds: 0\nBisectBatchOnFunctionError: 'True'")
    )
    (event,) = tpl.kafka_events()
    assert (event.enabled, event.batching_window_seconds, event.bisect_on_error) == (False, 0.0, True)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("Topics: [a, b]", "exactly one topic"),
        ("BatchSize: 10001", "BatchSize must be an integer in 1..10000"),
        ("BatchSize: 0", "BatchSize"),
        ("MaximumBatchingWindowInSeconds: 301", "MaximumBatchingWindowInSeconds"),
        ("MaximumBatchingWindowInSeconds: 0.5", "MaximumBatchingWindowInSeconds"),
        ("MaximumRetryAttempts: -2", "MaximumRetryAttempts"),
        ("MaximumRetryAttempts: 10001", "MaximumRetryAttempts"),
        ("MaximumRecordAgeInSeconds: 59", "MaximumRecordAgeInSeconds"),
        ("StartingPosition: NOW", "StartingPosition must be one of TRIM_HORIZON, LATEST, AT_TIMESTAMP"),
        ("StartingPosition: AT_TIMESTAMP", "StartingPositionTimestamp (Unix seconds) is required"),
        ("StartingPositionTimestamp: 5", "only allowed with AT_TIMESTAMP"),
        ("FilterCriteria: {Filters: [{Pattern: '{not json'}]}", "Pattern is not valid JSON"),
        ("FilterCriteria: {Filters: [{Pattern: {a: 1}}]}", "Pattern must be a JSON string"),
        ("FilterCriteria: {Filters: [" + ", ".join(["{Pattern: '{}'}"] * 6) + "]}", "at most 5 filters"),
        ("FunctionResponseTypes: [Other]", "ReportBatchItemFailures"),
        ("DestinationConfig: {OnFailure: {Destination: 'kafka://src'}}", "must name another topic"),
        ("ProvisionedPollerConfig: {MinimumPollers: 5, MaximumPollers: 2}", "MinimumPollers 5 is above"),
        ("BatchSizes: 5", "unknown or unsupported properties ['BatchSizes']"),
        ("ParallelizationFactor: 2", "ParallelizationFactor"),
        (
            "SelfManagedKafkaEventSourceConfig: {ConsumerGroupId: g}",
            "set ConsumerGroupId on the event instead",
        ),
        ("Enabled: maybe", "Enabled must be true or false"),
    ],
)
def test_kafka_errors_name_property_and_location(
    load_error: Callable[..., str], extra: str, expected: str
) -> None:
    message = load_error(kafka_with(extra))
    assert expected in message
    assert "Resources.Fn.Properties.Events.Kafka.Properties" in message


def test_kafka_required_properties(load_error: Callable[..., str]) -> None:
    no_position = with_function(events=KAFKA.replace("    StartingPosition: LATEST\n", ""))
    assert "StartingPosition is required (Lambda requires it for Kafka" in load_error(no_position)
    no_auth = with_function(
        events=KAFKA.replace("    SourceAccessConfigurations: [{Type: BASIC_AUTH, URI: arn:secret}]\n", "")
    )
    assert "SourceAccessConfigurations is required" in load_error(no_auth)
    no_servers = with_function(events=KAFKA.replace("    KafkaBootstrapServers: [b:9092]\n", ""))
    assert "KafkaBootstrapServers is required" in load_error(no_servers)


def test_msk_without_bootstrap_servers(load_error: Callable[..., str], load_text: LoadText) -> None:
    text = with_function(
        events="M:\n  Type: MSK\n  Properties: {Stream: arn:msk, Topics: [t], StartingPosition: LATEST}\n"
    )
    assert "KafkaBootstrapServers parameter override" in load_error(text)
    (event,) = load_text(text, parameter_overrides={"KafkaBootstrapServers": "h:1"}).kafka_events()
    assert (event.bootstrap_servers, event.event_source_arn) == ("h:1", "arn:msk")


def test_unsupported_event_type_is_listed(load_text: LoadText) -> None:
    tpl = load_text(with_function(events="Queue:\n  Type: SQS\n  Properties: {Queue: arn:q}\n"))
    (problem,) = tpl.unsupported
    assert "function Fn event Queue: Type SQS" in str(
        problem
    ) and "not supported by the local runtime" in str(problem)
    assert (
        problem.where == "Resources.Fn.Properties.Events.Queue.Type" and problem.skipped == "event Fn.Queue"
    )
    assert tpl.functions["Fn"].events == []


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "rate(5 weeks)",
        "cron(0 3 * * *)",
        "cron(0 3 * * MON *)",
        "every day",
    ],
)
def test_bad_schedule_expressions(load_error: Callable[..., str], expression: str) -> None:
    message = load_error(
        with_function(events=f"S:\n  Type: Schedule\n  Properties: {{Schedule: '{expression}'}}\n")
    )
    assert expression in message and "Resources.Fn.Properties.Events.S.Properties.Schedule" in message


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("Type: HttpApi\n  Properties: {Method: GET}", "needs both Method and Path"),
        ("Type: Api\n  Properties: {Path: /x}", "needs both Method and Path"),
        ("Type: HttpApi\n  Properties: {Method: FETCH, Path: /x}", "Method 'FETCH'"),
        ("Type: HttpApi\n  Properties: {Method: GET, Path: x}", "must start with '/'"),
        ("Type: DynamoDB\n  Properties: {Stream: arn:s}", "StartingPosition is required"),
        (
            "Type: DynamoDB\n  Properties: {Stream: arn:s, StartingPosition: AT_TIMESTAMP}",
            "TRIM_HORIZON, LATEST",
        ),
        ("Type: DynamoDB\n  Properties: {StartingPosition: LATEST}", "Stream is required"),
        (
            "Type: DynamoDB\n  Properties: {Stream: arn:s, StartingPosition: LATEST, ParallelizationFactor: 11}",
            "ParallelizationFactor",
        ),
        (
            "Type: ScheduleV2\n  Properties: {ScheduleExpression: 'rate(1 hour)', State: PAUSED}",
            "ENABLED or DISABLED",
        ),
        (
            "Type: Schedule\n  Properties: {Schedule: 'rate(1 hour)', Input: 'not json'}",
            "Input must be a JSON string",
        ),
    ],
)
def test_other_event_errors(load_error: Callable[..., str], event: str, expected: str) -> None:
    message = load_error(with_function(events=f"E:\n  {event}\n"))
    assert expected in message and "Resources.Fn.Properties.Events.E" in message


def test_dynamodb_stream_get_att_string_form(load_text: LoadText) -> None:
    text = with_function(
        events="D:\n  Type: DynamoDB\n  Properties: {Stream: {'Fn::GetAtt': T.StreamArn}, StartingPosition: LATEST}\n",
        extra="""
          T:
            Type: AWS::DynamoDB::Table
            Properties:
              BillingMode: PAY_PER_REQUEST
              AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
              KeySchema: [{AttributeName: pk, KeyType: HASH}]
              StreamSpecification: {StreamViewType: KEYS_ONLY}
        """,
    )
    (event,) = load_text(text, resource_attributes={("T", "StreamArn"): "arn:stream"}).functions["Fn"].events
    assert isinstance(event, DynamoDBEventSpec)
    assert (event.table_logical_id, event.stream) == ("T", "arn:stream")
