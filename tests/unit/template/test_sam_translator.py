"""Runs the SAM translator offline on template.yaml, like `sam validate` does, to catch invalid event properties."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import boto3
import pytest
from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
from samtranslator.public.exceptions import InvalidDocumentException  # type: ignore[import-untyped]
from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

from infra.template.yaml_loader import read_template_file
from tests.unit.template.conftest import TEMPLATES
from tests.unit.template.test_real_template import load_real


def translate(raw: dict[str, Any]) -> dict[str, Any]:
    """SAM-translates a template without network access: no managed-policy lookups, S3 CodeUris."""
    template = copy.deepcopy(raw)
    # The translator only accepts S3 code locations; `sam validate` swaps local paths the same way.
    for scope in [template.get("Globals", {}).get("Function", {})] + [
        r.get("Properties", {})
        for r in template.get("Resources", {}).values()
        if r.get("Type") == "AWS::Serverless::Function"
    ]:
        if isinstance(scope.get("CodeUri"), str):
            scope["CodeUri"] = "s3://bucket/code.zip"
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        plugins=[],
        boto_session=boto3.Session(region_name="us-east-1"),
    )
    try:
        return translator.translate(
            sam_template=template, parameter_values={}, get_managed_policy_map=lambda: {}
        )
    except InvalidDocumentException as exc:
        causes = "; ".join(cause.message for cause in exc.causes)
        pytest.fail(f"SAM translator rejected the template: {causes}")


def test_real_template_translates() -> None:
    tpl = load_real()
    resources = translate(tpl.raw)["Resources"]
    mappings = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    [properties] = [
        m["Properties"] for m in mappings if m["Properties"].get("Topics") == ["coupon.issue-requested"]
    ]
    assert properties["Topics"] == ["coupon.issue-requested"]
    assert properties["SelfManagedKafkaEventSourceConfig"] == {"ConsumerGroupId": "coupon-issuer"}
    assert properties["DestinationConfig"]["OnFailure"]["Destination"] == "kafka://coupon.issue-requested.dlt"


@pytest.mark.parametrize("name", ["events.yaml", "globals.yaml", "intrinsics.yaml"])
def test_test_templates_translate(name: str) -> None:
    # Our test templates should be valid SAM too, so the specs they assert are realistic.
    translate(read_template_file(TEMPLATES / name))


def test_translator_catches_invalid_kafka_event(tmp_path: Path) -> None:
    raw = read_template_file(TEMPLATES / "events.yaml")
    del raw["Resources"]["Worker"]["Properties"]["Events"]["SelfManaged"]["Properties"][
        "SourceAccessConfigurations"
    ]
    translator = Translator(None, Parser(), plugins=[], boto_session=boto3.Session(region_name="us-east-1"))
    raw["Resources"]["Worker"]["Properties"]["CodeUri"] = "s3://bucket/code.zip"
    with pytest.raises(InvalidDocumentException):
        translator.translate(sam_template=raw, parameter_values={}, get_managed_policy_map=lambda: {})
