"""What a function runs with (layers_and_deps/): its layers on the import path as on Lambda, its
requirements.txt installed into a hash-keyed cache outside surge's environment, the interpreter its
Runtime names (else a warning), AWS_EXECUTION_ENV to match, and a non-Python runtime an error for
that function only."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from infra.runtime.function_env import FunctionSetupError, prepare
from tests.conformance.conftest import HERE, RuntimeFactory

TEMPLATE = HERE / "layers_and_deps" / "template.yaml"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def fake_python313(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `python3.13` on PATH (this machine has none): a marked wrapper around a plain CPython that
    has none of surge's packages."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    plain = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    wrapper = bin_dir / "python3.13"
    wrapper.write_text(f'#!/bin/sh\nSURGE_TEST_FAKE_INTERPRETER=python3.13 exec {plain} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return wrapper


@pytest.mark.timeout(300)
def test_layers_requirements_and_runtimes(
    start_runtime: RuntimeFactory, fake_python313: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SURGE_CACHE_DIR", str(tmp_path / "cache"))
    runtime = start_runtime(TEMPLATE, healthy=False)

    orders = _get(runtime.url + "/orders")
    assert orders["shared"] == "from the shared layer"  # Globals layer, python/ layout
    assert orders["vendored"] == "vendored_pkg"  # python/lib/python3.11/site-packages layout
    assert orders["unidecode"] == "naive cafe"  # from requirements.txt
    assert orders["execution_env"] == "AWS_Lambda_python3.11"
    (deps,) = orders["deps_path"]
    assert deps.startswith(str(tmp_path / "cache" / "function-deps"))
    assert (Path(deps) / "text_unidecode").is_dir()
    assert not any("text_unidecode" in str(p) for p in Path(sys.prefix).glob("lib/*/site-packages/*"))

    newer = _get(runtime.url + "/newer")
    assert newer["fake_interpreter"] == "python3.13"  # the interpreter its Runtime names
    assert newer["execution_env"] == "AWS_Lambda_python3.13"
    assert newer["boto3"] == "boto3" and newer["sees_surge_packages"] is False
    assert newer["shared"] == "from the shared layer"

    (layer_warning,) = [w for w in runtime.warnings if "layer arn:" in w]
    assert layer_warning.startswith("OrdersFunction: layer arn:aws:lambda:us-east-1:017000801446:layer:")
    code, health = runtime.health()
    assert code == 503
    assert health["problems"] == [
        "LegacyNodeFunction: init failed: Runtime nodejs20.x is not supported by the local runtime "
        "(Python runtimes only)"
    ]


def test_a_runtime_without_interpreter_warns_and_names_what_runs_it(tmp_path: Path) -> None:
    environment = prepare("OldFunction", "python3.99", tmp_path, [], cache=tmp_path)
    (warning,) = environment.warnings
    here = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert warning.startswith("OldFunction: Runtime python3.99 has no interpreter") and here in warning
    assert environment.interpreter == sys.executable


def test_a_package_that_cannot_be_installed_names_the_function_and_package(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("surge-conformance-no-such-package==1.0\n")
    with pytest.raises(FunctionSetupError) as failed:
        prepare("BrokenDepsFunction", "python3.11", tmp_path, [], cache=tmp_path / "cache")
    message = str(failed.value)
    assert (
        message.startswith("BrokenDepsFunction: cannot install")
        and "surge-conformance-no-such-package" in message
    )
    assert not list((tmp_path / "cache" / "function-deps").iterdir())  # nothing half-installed is kept
