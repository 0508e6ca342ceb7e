"""AWS::DynamoDB::Table -> TableSpec with boto3 CreateTable arguments."""

from __future__ import annotations

from typing import Any

from infra.template.errors import TemplateError
from infra.template.intrinsics import Resolver
from infra.template.models import TableSpec
from infra.template.props import Props

# Passed to CreateTable (after conversion where needed).
_CREATE_TABLE_PROPERTIES = {
    "TableName",
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
}
# Valid in CloudFormation but not CreateTable input here (or meaningless locally): dropped on purpose.
_DROPPED_PROPERTIES = {
    "TimeToLiveSpecification",  # exposed as TableSpec.ttl_attribute (UpdateTimeToLive is a separate call)
    "Tags",
    "PointInTimeRecoverySpecification",
    "SSESpecification",
    "DeletionProtectionEnabled",
    "ContributorInsightsSpecification",
    "KinesisStreamSpecification",
    "TableClass",
    "ResourcePolicy",
    "OnDemandThroughput",
    "WarmThroughput",
}
_INDEX_KEYS = {"IndexName", "KeySchema", "Projection", "ProvisionedThroughput"}
_DROPPED_INDEX_KEYS = {"ContributorInsightsSpecification", "OnDemandThroughput", "WarmThroughput"}
_STREAM_VIEW_TYPES = {"KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"}


def parse_table(logical_id: str, raw_properties: Any, resolver: Resolver) -> TableSpec:
    props = Props(raw_properties, f"Resources.{logical_id}.Properties", resolver)
    props.reject_unknown(_CREATE_TABLE_PROPERTIES | _DROPPED_PROPERTIES, f"Table {logical_id}")
    table_name = resolver.physical_name(logical_id, props.where)

    billing_mode = props.opt_str("BillingMode") or "PROVISIONED"  # CloudFormation's default
    if billing_mode not in ("PAY_PER_REQUEST", "PROVISIONED"):
        raise TemplateError(
            f"BillingMode {billing_mode!r} is not PAY_PER_REQUEST or PROVISIONED (at {props.where})"
        )
    provisioned = billing_mode == "PROVISIONED"
    implied = (
        "" if props.has("BillingMode") else " (BillingMode defaults to PROVISIONED, as in CloudFormation)"
    )

    kwargs: dict[str, Any] = {
        "AttributeDefinitions": _required_list(props, "AttributeDefinitions"),
        "KeySchema": _required_list(props, "KeySchema"),
        "BillingMode": billing_mode,
    }
    throughput = props.opt_dict("ProvisionedThroughput")
    if provisioned != (throughput is not None):
        raise TemplateError(
            "ProvisionedThroughput is required with BillingMode PROVISIONED and not allowed otherwise"
            f"{implied} (at {props.where})"
        )
    if throughput is not None:
        kwargs["ProvisionedThroughput"] = _throughput(throughput, props.at("ProvisionedThroughput"))

    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        indexes = props.opt_list(key)
        if indexes:
            kwargs[key] = [
                _index(index, f"{props.at(key)}[{i}]", provisioned) for i, index in enumerate(indexes)
            ]

    stream_view_type = None
    stream = props.opt_dict("StreamSpecification")
    if stream is not None:
        stream_view_type = str(stream.get("StreamViewType"))
        if stream_view_type not in _STREAM_VIEW_TYPES:
            raise TemplateError(
                f"StreamViewType must be one of {sorted(_STREAM_VIEW_TYPES)} "
                f"(at {props.at('StreamSpecification')})"
            )
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream_view_type}

    return TableSpec(
        logical_id=logical_id,
        table_name=table_name,
        arn=f"arn:aws:dynamodb:{resolver.region}:{resolver.account_id}:table/{table_name}",
        stream_view_type=stream_view_type,
        ttl_attribute=_ttl_attribute(props),
        create_table_arguments=kwargs,
    )


def _required_list(props: Props, key: str) -> list[Any]:
    value = props.opt_list(key)
    if not value:
        raise TemplateError(f"{key} is required and must be a non-empty list (at {props.where})")
    return value


def _throughput(value: dict[str, Any], where: str) -> dict[str, int]:
    try:
        return {key: int(value[key]) for key in ("ReadCapacityUnits", "WriteCapacityUnits")}
    except (KeyError, TypeError, ValueError) as exc:
        raise TemplateError(
            f"ProvisionedThroughput needs integer Read/WriteCapacityUnits (at {where})"
        ) from exc


def _index(index: Any, where: str, provisioned: bool) -> dict[str, Any]:
    if not isinstance(index, dict):
        raise TemplateError(f"a secondary index must be a mapping (at {where})")
    unknown = sorted(set(index) - _INDEX_KEYS - _DROPPED_INDEX_KEYS)
    if unknown:
        raise TemplateError(f"secondary index has unknown properties {unknown} (at {where})")
    result = {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
    if len(result) != 3:
        raise TemplateError(f"secondary index needs IndexName, KeySchema and Projection (at {where})")
    # With on-demand billing DynamoDB rejects index throughput; with provisioned billing GSIs need it.
    if provisioned and "ProvisionedThroughput" in index:
        result["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"], where)
    return result


def _ttl_attribute(props: Props) -> str | None:
    ttl = props.sub("TimeToLiveSpecification")
    if not ttl.flag("Enabled", False):
        return None
    return ttl.req_str("AttributeName", " when TimeToLiveSpecification is enabled")
