"""Loads the SAM `template.yaml` and resolves it into typed specs for the local runtime.

tpl = load_template(Path("template.yaml"), parameter_overrides={...}, stack_name="surge")
tpl.functions / tpl.tables / tpl.topics / tpl.parameters
"""

from infra.template.errors import TemplateError, UnsupportedConstruct
from infra.template.loader import SAM_TRANSFORM, SamTemplate, load_template
from infra.template.models import (
    DynamoDBEventSpec,
    EventSpec,
    FunctionSpec,
    HttpApiEventSpec,
    KafkaEventSpec,
    ScheduleEventSpec,
    TableSpec,
    TopicSpec,
)

__all__ = [
    "SAM_TRANSFORM",
    "DynamoDBEventSpec",
    "EventSpec",
    "FunctionSpec",
    "HttpApiEventSpec",
    "KafkaEventSpec",
    "SamTemplate",
    "ScheduleEventSpec",
    "TableSpec",
    "TemplateError",
    "TopicSpec",
    "UnsupportedConstruct",
    "load_template",
]
