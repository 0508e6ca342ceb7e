"""Resolution of CloudFormation intrinsic functions for the local runtime.

Values are resolved lazily, one property at a time, so resources the local runtime never reads
(IAM roles, APIs, Outputs, ...) cannot make loading fail. Anything we cannot resolve faithfully
raises TemplateError naming the construct and its location; nothing is skipped silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from infra.template.errors import TemplateError

TABLE_TYPE = "AWS::DynamoDB::Table"
FUNCTION_TYPE = "AWS::Serverless::Function"
QUEUE_TYPE = "AWS::SQS::Queue"
TOPIC_TYPE = "AWS::SNS::Topic"
BUCKET_TYPE = "AWS::S3::Bucket"
# The property that names each resource type we resolve names for; absent, the name is generated.
_NAME_PROPERTIES = {
    TABLE_TYPE: "TableName",
    FUNCTION_TYPE: "FunctionName",
    QUEUE_TYPE: "QueueName",
    TOPIC_TYPE: "TopicName",
    BUCKET_TYPE: "BucketName",
}


class _NoValue:
    """Marker for `Ref: AWS::NoValue`: the enclosing key or list item is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def unsupported(
    construct: str, where: str, why: str = "is not supported by the local runtime"
) -> TemplateError:
    return TemplateError(f"{construct} {why} (at {where})")


def to_text(value: Any, where: str, what: str = "value") -> str:
    """CloudFormation's scalar-to-string conversion (booleans become "true"/"false")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{what} must be a string, got {type(value).__name__} {value!r} (at {where})")


class Resolver:
    """Resolves intrinsic functions against parameters, pseudo parameters and the template's resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str | list[str]],
        *,
        stack_name: str,
        region: str,
        account_id: str,
        resource_attributes: Mapping[tuple[str, str], str],
    ) -> None:
        resources = template.get("Resources")
        self.resources: Mapping[str, Any] = resources if isinstance(resources, dict) else {}
        globals_ = template.get("Globals")
        self.globals: Mapping[str, Any] = globals_ if isinstance(globals_, dict) else {}  # raw, for Auth
        conditions = template.get("Conditions")
        self._conditions: Mapping[str, Any] = conditions if isinstance(conditions, dict) else {}
        self._parameters = parameters
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self._attributes = resource_attributes
        self._condition_values: dict[str, bool] = {}
        self._names_in_progress: set[str] = set()
        self._pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self._functions: dict[str, Callable[[Any, str], Any]] = {
            "Fn::Sub": self._sub,
            "Fn::GetAtt": self._get_att,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::If": self._if,
        }

    # ---- values ---------------------------------------------------------------------------------

    def resolve(self, value: Any, where: str) -> Any:
        """Returns `value` with every intrinsic resolved; may return NO_VALUE for the whole value."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                if key == "Ref":
                    return self._ref(argument, where)
                if isinstance(key, str) and key.startswith("Fn::"):
                    handler = self._functions.get(key)
                    if handler is None:
                        if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
                            raise unsupported(key, where, "is only allowed inside Conditions or Fn::If")
                        raise unsupported(key, where)
                    return handler(argument, where)
            resolved = {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return [v for v in items if v is not NO_VALUE]
        return value

    def resolve_text(self, value: Any, where: str) -> str:
        return to_text(self.resolve(value, where), where)

    def _ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise unsupported(f"Ref {name!r}", where, "must name a parameter or resource with a plain string")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._parameters:
            return self._parameters[name]
        if name in self._pseudo:
            return self._pseudo[name]
        if name.startswith("AWS::"):
            raise unsupported(f"Ref {name}", where)
        known = self._attributes.get((name, "Ref"))  # caller-supplied value for any resource
        if known is not None and name in self.resources:
            return known
        resource_type = self.resource_type(name, where, f"Ref {name}")
        if resource_type in (TABLE_TYPE, FUNCTION_TYPE, BUCKET_TYPE):
            return self.physical_name(name, where)
        if resource_type == TOPIC_TYPE:  # CloudFormation: Ref of a topic is its ARN
            return self._arn("sns", self.physical_name(name, where))
        if resource_type == QUEUE_TYPE:  # ... and of a queue its URL
            queue = self.physical_name(name, where)
            return f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{queue}"
        raise unsupported(f"Ref {name} (a {resource_type})", where)

    def _arn(self, service: str, name: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{name}"

    def _sub(self, argument: Any, where: str) -> str:
        variables: dict[str, Any] = {}
        if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text, raw_vars = argument
            variables = {k: self.resolve(v, f"{where}.Fn::Sub[1].{k}") for k, v in raw_vars.items()}
        else:
            text = argument
        if not isinstance(text, str):
            raise unsupported(f"Fn::Sub {argument!r}", where, "must be a string or [string, {variables}]")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} stays literal
            if name in variables:
                return to_text(variables[name], where, f"Fn::Sub variable {name}")
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return to_text(self._get_att([resource, attribute], where), where, f"${{{name}}}")
            return to_text(self._ref(name, where), where, f"${{{name}}}")

        return _SUB_VARIABLE.sub(replace, text)

    def _get_att(self, argument: Any, where: str) -> str:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        if not (isinstance(argument, list) and len(argument) == 2):
            raise unsupported(
                f"Fn::GetAtt {argument!r}", where, "must be [Resource, Attribute] or 'Resource.Attribute'"
            )
        resource, attribute = (self.resolve_text(part, where) for part in argument)
        construct = f"Fn::GetAtt {resource}.{attribute}"
        resource_type = self.resource_type(resource, where, construct)
        known = self._attributes.get((resource, attribute))
        if known is not None:
            return known
        if resource_type == TABLE_TYPE and attribute in ("Arn", "StreamArn"):
            table_name = self.physical_name(resource, where)
            arn = f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{table_name}"
            if attribute == "Arn":
                return arn
            if "StreamSpecification" not in (self.resources[resource].get("Properties") or {}):
                raise unsupported(construct, where, f"needs a StreamSpecification on table {resource}")
            return f"{arn}/stream/local"  # placeholder until the runtime knows the real stream ARN
        if resource_type == FUNCTION_TYPE and attribute == "Arn":
            name = self.physical_name(resource, where)
            return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        if resource_type == QUEUE_TYPE and attribute in ("Arn", "QueueName"):
            name = self.physical_name(resource, where)
            return self._arn("sqs", name) if attribute == "Arn" else name
        if resource_type == TOPIC_TYPE and attribute in ("TopicArn", "TopicName"):
            name = self.physical_name(resource, where)
            return self._arn("sns", name) if attribute == "TopicArn" else name
        if resource_type == BUCKET_TYPE and attribute == "Arn":
            return f"arn:aws:s3:::{self.physical_name(resource, where)}"
        raise unsupported(f"{construct} (a {resource_type})", where)

    def _join(self, argument: Any, where: str) -> str:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise unsupported(f"Fn::Join {argument!r}", where, "must be [delimiter, [values]]")
        delimiter = self.resolve_text(argument[0], where)
        items = self.resolve(argument[1], where)
        if not isinstance(items, list):
            raise unsupported(f"Fn::Join {argument!r}", where, "needs a list of values")
        return delimiter.join(to_text(item, where, "Fn::Join item") for item in items)

    def _select(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise unsupported(f"Fn::Select {argument!r}", where, "must be [index, [values]]")
        index_text = self.resolve_text(argument[0], where)
        items = self.resolve(argument[1], where)
        if not index_text.isdigit() or not isinstance(items, list) or int(index_text) >= len(items):
            raise unsupported(f"Fn::Select {argument!r}", where, "has an index outside its list")
        return items[int(index_text)]

    def _split(self, argument: Any, where: str) -> list[str]:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise unsupported(f"Fn::Split {argument!r}", where, "must be [delimiter, string]")
        delimiter = self.resolve_text(argument[0], where)
        if not delimiter:
            raise unsupported("Fn::Split", where, "needs a non-empty delimiter")
        return self.resolve_text(argument[1], where).split(delimiter)

    def _if(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3 and isinstance(argument[0], str)):
            raise unsupported(
                f"Fn::If {argument!r}", where, "must be [ConditionName, value_if_true, value_if_false]"
            )
        chosen = argument[1] if self.condition(argument[0], where) else argument[2]
        return self.resolve(chosen, where)

    # ---- conditions -----------------------------------------------------------------------------

    def condition(self, name: str, where: str) -> bool:
        if name in self._condition_values:
            return self._condition_values[name]
        if name not in self._conditions:
            raise unsupported(f"Condition {name}", where, "is not defined under Conditions")
        self._condition_values[name] = False  # provisional value: breaks reference cycles
        value = self._evaluate(self._conditions[name], f"Conditions.{name}")
        self._condition_values[name] = value
        return value

    def _evaluate(self, expression: Any, where: str) -> bool:
        if not (isinstance(expression, dict) and len(expression) == 1):
            raise unsupported(f"condition {expression!r}", where, "must be a single condition function")
        ((key, argument),) = expression.items()
        if key == "Condition" and isinstance(argument, str):
            return self.condition(argument, where)
        if key == "Fn::Equals" and isinstance(argument, list) and len(argument) == 2:
            left, right = (self.resolve(side, where) for side in argument)
            return to_text(left, where) == to_text(right, where)
        if key == "Fn::Not" and isinstance(argument, list) and len(argument) == 1:
            return not self._evaluate(argument[0], where)
        if key in ("Fn::And", "Fn::Or") and isinstance(argument, list) and 2 <= len(argument) <= 10:
            results = (self._evaluate(item, where) for item in argument)
            return all(results) if key == "Fn::And" else any(results)
        raise unsupported(f"{key} {argument!r}", where, "is not a supported condition function here")

    # ---- resources ------------------------------------------------------------------------------

    def resource_type(self, logical_id: str, where: str, construct: str) -> str:
        resource = self.resources.get(logical_id)
        if not isinstance(resource, dict):
            raise unsupported(construct, where, f"refers to unknown name {logical_id!r}")
        return str(resource.get("Type"))

    def is_included(self, logical_id: str) -> bool:
        """False when the resource has a Condition that evaluates to false (it is not created)."""
        condition = self.resources[logical_id].get("Condition")
        if condition is None:
            return True
        return self.condition(str(condition), f"Resources.{logical_id}.Condition")

    def physical_name(self, logical_id: str, where: str) -> str:
        """TableName/FunctionName/QueueName/... if set, else `<stack>-<logical id>` (stable, unlike
        CloudFormation's; lower case for a bucket, as S3 requires)."""
        resource = self.resources[logical_id]
        resource_type = resource.get("Type")
        key = _NAME_PROPERTIES.get(str(resource_type), "FunctionName")
        properties = resource.get("Properties") or {}
        if key not in properties:
            generated = f"{self.stack_name}-{logical_id}"
            return generated.lower() if resource_type == BUCKET_TYPE else generated
        if logical_id in self._names_in_progress:
            raise unsupported(f"{key} of {logical_id}", where, "refers to itself")
        self._names_in_progress.add(logical_id)
        try:
            name = self.resolve(properties[key], f"Resources.{logical_id}.Properties.{key}")
        finally:
            self._names_in_progress.discard(logical_id)
        if name is NO_VALUE:
            generated = f"{self.stack_name}-{logical_id}"
            return generated.lower() if resource_type == BUCKET_TYPE else generated
        return to_text(name, f"Resources.{logical_id}.Properties.{key}", key)
