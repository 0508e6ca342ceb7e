"""Low-level attribute-value types for the boto3 DynamoDB client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    Attrs = dict[str, AttributeValueTypeDef]
else:
    Attrs = dict[str, Any]

ReadAttrs = Mapping[str, Any]
