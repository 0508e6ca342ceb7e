"""Function specs: Globals merging, SAM defaults, CodeUri resolution and unsupported function shapes."""

from __future__ import annotations

from collections.abc import Callable

from infra.template import SamTemplate, load_template
from tests.unit.template.conftest import TEMPLATES, LoadText, with_function


def test_globals_fill_in_and_function_overrides() -> None:
    tpl = load_template(TEMPLATES / "globals.yaml")
    uses = tpl.functions["UsesGlobals"]
    assert uses.handler == "shared.handler"
    assert uses.runtime == "python3.12"
    assert (uses.timeout, uses.memory_size) == (20, 256)
    assert uses.code_dir == (TEMPLATES.parent / "code").resolve()
    assert uses.environment == {"SHARED": "from-globals", "OVERRIDDEN": "from-function", "OWN": "mine"}
    assert uses.events == []

    own = tpl.functions["OverridesAll"]
    assert own.function_name == "custom-name"
    assert own.handler == "pkg.mod.fn"
    assert own.runtime == "python3.11"
    assert (own.timeout, own.memory_size) == (900, 10240)
    assert own.code_dir == TEMPLATES / "other" / "dir"
    assert own.code_dir.is_absolute()
    assert own.environment == {"SHARED": "from-globals", "OVERRIDDEN": "from-globals"}


def test_sam_defaults() -> None:
    tpl = load_template(TEMPLATES / "defaults.yaml")
    fn = tpl.functions["Minimal"]
    assert (fn.timeout, fn.memory_size, fn.environment, fn.events) == (3, 128, {}, [])
    assert fn.function_name == "surge-Minimal"
    assert tpl.topics == []


def test_code_uri_relative_to_template_folder_not_cwd(load_text: LoadText, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir("/")
    tpl = load_text(with_function())
    assert tpl.functions["Fn"].code_dir == tmp_path / "src"
    assert tpl.root == tmp_path and tpl.path == tmp_path / "template.yaml"


def _unsupported(template: SamTemplate) -> list[str]:
    return [str(problem) for problem in template.unsupported]


def test_code_uri_s3_is_listed_as_unsupported(load_text: LoadText) -> None:
    tpl = load_text(with_function().replace("CodeUri: src/", "CodeUri: {Bucket: b, Key: k}"))
    (message,) = _unsupported(tpl)
    assert "CodeUri" in message and "S3" in message and "Resources.Fn.Properties.CodeUri" in message
    assert tpl.functions == {} and tpl.unsupported[0].skipped == "function Fn"
    tpl = load_text(with_function().replace("CodeUri: src/", "CodeUri: s3://bucket/key.zip"))
    assert "S3" in _unsupported(tpl)[0]


def test_plain_lambda_function_is_listed_as_unsupported(load_text: LoadText) -> None:
    text = with_function(extra="  Plain:\n    Type: AWS::Lambda::Function\n    Properties: {}\n")
    (message,) = _unsupported(load_text(text))
    assert "AWS::Lambda::Function Plain" in message and "is not supported by the local runtime" in message


def test_inline_code_and_function_urls_are_listed(load_text: LoadText) -> None:
    tpl = load_text(with_function("InlineCode: print(1)"))
    assert "InlineCode" in _unsupported(tpl)[0] and tpl.functions == {}
    tpl = load_text(with_function("FunctionUrlConfig: {AuthType: NONE}"))
    (problem,) = tpl.unsupported
    assert (
        "FunctionUrlConfig" in str(problem) and problem.where == "Resources.Fn.Properties.FunctionUrlConfig"
    )
    assert set(tpl.functions) == {"Fn"}  # the function itself still runs


def test_missing_handler_and_bad_ranges(load_error: Callable[..., str]) -> None:
    assert "Handler is required" in load_error(with_function().replace("Handler: app.handler", ""))
    assert "Timeout" in load_error(with_function("Timeout: 0"))
    assert "MemorySize" in load_error(with_function("MemorySize: 64"))


def test_environment_values_must_be_scalars(load_error: Callable[..., str]) -> None:
    message = load_error(with_function("Environment: {Variables: {BAD: [1, 2]}}"))
    assert "environment variable BAD" in message


def test_provisioned_concurrency_is_read_with_its_alias(load_text: LoadText) -> None:
    tpl = load_text(
        with_function(
            "AutoPublishAlias: live\nProvisionedConcurrencyConfig:\n  ProvisionedConcurrentExecutions: 4\n"
        )
    )
    assert tpl.functions["Fn"].provisioned_concurrency == 4
    assert load_text(with_function()).functions["Fn"].provisioned_concurrency == 0


def test_provisioned_concurrency_without_alias_or_count_is_an_error(load_error: Callable[..., str]) -> None:
    message = load_error(
        with_function("ProvisionedConcurrencyConfig:\n  ProvisionedConcurrentExecutions: 4\n")
    )
    assert "AutoPublishAlias" in message and "ProvisionedConcurrencyConfig" in message
    message = load_error(with_function("AutoPublishAlias: live\nProvisionedConcurrencyConfig: {}\n"))
    assert "ProvisionedConcurrentExecutions is required" in message
    message = load_error(
        with_function(
            "AutoPublishAlias: live\nProvisionedConcurrencyConfig:\n  ProvisionedConcurrentExecutions: 0\n"
        )
    )
    assert "ProvisionedConcurrentExecutions" in message


def test_reserved_concurrency_caps_the_functions_environments(load_text: LoadText) -> None:
    from infra.runtime.app import concurrency_cap

    capped = load_text(with_function("ReservedConcurrentExecutions: 3\n")).functions["Fn"]
    assert capped.reserved_concurrency == 3
    assert concurrency_cap(capped, 10) == 3  # --max-concurrency 10, but never more than reserved
    assert concurrency_cap(capped, 2) == 2
    plain = load_text(with_function()).functions["Fn"]
    assert plain.reserved_concurrency is None and concurrency_cap(plain, 10) == 10


def test_reserved_concurrency_zero_or_not_a_count_is_an_error(load_error: Callable[..., str]) -> None:
    assert "throttles every invocation" in load_error(with_function("ReservedConcurrentExecutions: 0\n"))
    assert "ReservedConcurrentExecutions must be an integer" in load_error(
        with_function("ReservedConcurrentExecutions: many\n")
    )
