"""Helpers for the template tests: small templates are files under templates/ or written inline."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.template import SamTemplate, TemplateError, load_template

TEMPLATES = Path(__file__).resolve().parent / "templates"
REAL_TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"

HEADER = "Transform: AWS::Serverless-2016-10-31\n"
# A function that is valid on its own; tests add properties/events to it.
FUNCTION = """
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
"""

LoadText = Callable[..., SamTemplate]


@pytest.fixture
def load_text(tmp_path: Path) -> LoadText:
    """Writes YAML text (dedented) to a temp template.yaml and loads it."""

    def load(text: str, **kwargs: Any) -> SamTemplate:
        path = tmp_path / "template.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return load_template(path, **kwargs)

    return load


@pytest.fixture
def load_error(load_text: LoadText) -> Callable[..., str]:
    """Loads text that must fail and returns the TemplateError message."""

    def load(text: str, **kwargs: Any) -> str:
        with pytest.raises(TemplateError) as info:
            load_text(text, **kwargs)
        return str(info.value)

    return load


def with_function(properties: str = "", events: str = "", extra: str = "") -> str:
    """A template with the `Fn` function plus function properties, events and extra resources (any indent)."""
    text = HEADER + "Resources:" + FUNCTION
    if properties:
        text += textwrap.indent(textwrap.dedent(properties), " " * 6)
    if events:
        text += "      Events:\n" + textwrap.indent(textwrap.dedent(events), " " * 8)
    return text + textwrap.indent(textwrap.dedent(extra), "  ")
