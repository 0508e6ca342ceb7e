"""AWS::Serverless::Function (+ Globals.Function) -> FunctionSpec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.template.errors import TemplateError, UnsupportedConstruct
from infra.template.events import parse_events
from infra.template.intrinsics import Resolver, to_text
from infra.template.models import FunctionSpec
from infra.template.props import Props

SAM_DEFAULT_TIMEOUT = 3  # seconds, as in SAM/Lambda
SAM_DEFAULT_MEMORY = 128  # MB


class _WithGlobals:
    """Reads a property from the function, falling back to Globals.Function (SAM's merge rule for scalars)."""

    def __init__(self, function: Props, globals_: Props) -> None:
        self.function = function
        self.globals = globals_

    def source(self, key: str) -> Props:
        return self.function if self.function.has(key) else self.globals


def parse_function(
    logical_id: str,
    resource: dict[str, Any],
    globals_function: Any,
    resolver: Resolver,
    root: Path,
    bootstrap_fallback: str | None,
    unsupported: list[UnsupportedConstruct] | None = None,
) -> FunctionSpec:
    """Raises UnsupportedConstruct when the function as a whole cannot run locally; constructs that
    leave the rest of it runnable (an SQS event, a function URL) are appended to `unsupported`."""
    if unsupported is None:
        unsupported = []
    props = _WithGlobals(
        Props(resource.get("Properties"), f"Resources.{logical_id}.Properties", resolver),
        Props(globals_function, "Globals.Function", resolver),
    )
    skipped = f"function {logical_id}"
    for key in ("InlineCode", "ImageUri"):
        if props.source(key).has(key):
            raise UnsupportedConstruct(
                f"{key} (use a local CodeUri folder)", props.source(key).at(key), skipped
            )
    package_type = props.source("PackageType").opt_str("PackageType") or "Zip"
    if package_type != "Zip":
        raise UnsupportedConstruct(f"PackageType {package_type}", props.function.where, skipped)

    if props.function.has("FunctionUrlConfig"):
        unsupported.append(
            UnsupportedConstruct(
                "FunctionUrlConfig",
                props.function.at("FunctionUrlConfig"),
                f"the function URL of {logical_id}",
            )
        )
    handler = props.source("Handler").req_str("Handler")
    if "." not in handler:
        raise TemplateError(
            f"Handler {handler!r} must look like module.path.function "
            f"(at {props.source('Handler').at('Handler')})"
        )
    return FunctionSpec(
        logical_id=logical_id,
        function_name=resolver.physical_name(logical_id, props.function.where),
        handler=handler,
        code_dir=_code_dir(props, root, logical_id),
        runtime=props.source("Runtime").req_str("Runtime"),
        timeout=props.source("Timeout").int_in("Timeout", SAM_DEFAULT_TIMEOUT, 1, 900),
        memory_size=props.source("MemorySize").int_in("MemorySize", SAM_DEFAULT_MEMORY, 128, 10_240),
        environment={**_variables(props.globals), **_variables(props.function)},
        provisioned_concurrency=_provisioned_concurrency(props),
        reserved_concurrency=_reserved_concurrency(props),
        **_layers(props, resolver, root, logical_id),
        # Events are passed raw: each event resolves only the properties the local runtime reads.
        events=parse_events(
            logical_id, props.function.raw.get("Events"), resolver, bootstrap_fallback, unsupported
        ),
    )


def _code_dir(props: _WithGlobals, root: Path, logical_id: str) -> Path:
    source = props.source("CodeUri")
    value = source.get("CodeUri") if source.has("CodeUri") else None
    where = source.at("CodeUri")
    if value is None:
        return root.resolve()  # SAM CLI's default: the template's folder
    if not isinstance(value, str) or value.startswith("s3://"):
        raise UnsupportedConstruct(
            "CodeUri in S3 (it must be a local folder)", where, f"function {logical_id}"
        )
    return (root / value).resolve()


_LAYER_CONTENT = {"AWS::Serverless::LayerVersion": "ContentUri", "AWS::Lambda::LayerVersion": "Content"}


def _layers(props: _WithGlobals, resolver: Resolver, root: Path, logical_id: str) -> dict[str, Any]:
    """`Layers` (Globals' first, then the function's, as SAM merges lists): a `!Ref` of a LayerVersion
    in the template is its local content folder; anything else is an ARN from outside the template."""
    raw: list[Any] = []
    for source in (props.globals, props.function):
        value = source.raw.get("Layers")
        if value is not None and not isinstance(value, list):
            raise TemplateError(f"Layers must be a list (at {source.at('Layers')})")
        raw += value or []
    folders: list[Path] = []
    external: list[str] = []
    for i, item in enumerate(raw):
        where = f"Resources.{logical_id}.Properties.Layers[{i}]"
        target = item.get("Ref") if isinstance(item, dict) and set(item) == {"Ref"} else None
        resource = resolver.resources.get(target) if isinstance(target, str) else None
        content_key = _LAYER_CONTENT.get(str(resource.get("Type"))) if isinstance(resource, dict) else None
        if content_key is None:
            external.append(resolver.resolve_text(item, where))
            continue
        assert isinstance(resource, dict) and isinstance(target, str)
        content = Props(resource.get("Properties"), f"Resources.{target}.Properties", resolver).get(
            content_key
        )
        if not isinstance(content, str) or content.startswith("s3://"):
            raise UnsupportedConstruct(
                f"layer {target} with {content_key} in S3 (it must be a local folder)",
                f"Resources.{target}.Properties.{content_key}",
                f"function {logical_id}",
            )
        folder = (root / content).resolve()
        if not folder.is_dir():
            raise TemplateError(f"layer {target}: {content_key} {content!r} is not a folder (at {where})")
        folders.append(folder)
    return {"layers": folders, "external_layers": external}


def _provisioned_concurrency(props: _WithGlobals) -> int:
    """`ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions`; SAM applies it to the alias
    that AutoPublishAlias publishes, and rejects it without one, so do we."""
    source = props.source("ProvisionedConcurrencyConfig")
    if not source.has("ProvisionedConcurrencyConfig"):
        return 0
    if not props.source("AutoPublishAlias").has("AutoPublishAlias"):
        raise TemplateError(
            "ProvisionedConcurrencyConfig needs AutoPublishAlias (SAM provisions the published alias) "
            f"(at {source.at('ProvisionedConcurrencyConfig')})"
        )
    config = source.sub("ProvisionedConcurrencyConfig")
    config.reject_unknown({"ProvisionedConcurrentExecutions"}, "ProvisionedConcurrencyConfig")
    if not config.has("ProvisionedConcurrentExecutions"):
        raise TemplateError(
            f"ProvisionedConcurrentExecutions is required (at {source.at('ProvisionedConcurrencyConfig')})"
        )
    return config.int_in("ProvisionedConcurrentExecutions", 1, 1, 10_000)


def _reserved_concurrency(props: _WithGlobals) -> int | None:
    """`ReservedConcurrentExecutions`: the most execution environments the function may have at once
    (the local runtime's cap for it). 0 throttles every invocation on AWS; that is refused here."""
    source = props.source("ReservedConcurrentExecutions")
    if not source.has("ReservedConcurrentExecutions"):
        return None
    value = source.int_in("ReservedConcurrentExecutions", 1, 0, 10_000)
    if value == 0:
        raise TemplateError(
            "ReservedConcurrentExecutions 0 throttles every invocation; the local runtime does not run "
            f"such a function (at {source.at('ReservedConcurrentExecutions')})"
        )
    return value


def _variables(props: Props) -> dict[str, str]:
    environment = props.sub("Environment")
    variables = environment.opt_dict("Variables") or {}
    where = environment.at("Variables")
    return {
        name: to_text(value, f"{where}.{name}", f"environment variable {name}")
        for name, value in variables.items()
    }
