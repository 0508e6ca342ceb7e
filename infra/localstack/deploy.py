"""`sam build` + `sam deploy` of a SAM template into the emulator, with the real SAM CLI.

The SAM CLI (and the boto3 calls here) reach the emulator through the standard `AWS_ENDPOINT_URL`;
nothing LocalStack-specific (no `samlocal`, no localstack-client) is needed, so the same code talks to
ministack, a real LocalStack or, without the variable, AWS.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from infra.localstack.emulator import LOCAL_CREDENTIALS
from infra.localstack.tools import SAM_CLI, ensure_tool, tool_bin
from infra.paths import cache_dir
from infra.stack.errors import StackError
from infra.stack.process import tail
from infra.stack.resources import ensure_topics
from infra.template import load_template
from infra.template.yaml_loader import read_template_file

ARTIFACT_BUCKET = "surge-sam-artifacts"
REGION = "us-east-1"


def aws_env(endpoint: str) -> dict[str, str]:
    """The variables that point boto3 and the SAM CLI at the emulator."""
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}
    if not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")):
        env.update(LOCAL_CREDENTIALS)
    return env


def client(service: str, endpoint: str) -> Any:
    env = aws_env(endpoint)
    return boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        region_name=REGION,
    ).client(service, endpoint_url=endpoint)  # type: ignore[call-overload]


@dataclass(frozen=True)
class Deployment:
    stack_name: str
    endpoint: str
    functions: dict[str, str]  # logical id -> deployed function name
    tables: dict[str, str]  # logical id -> table name
    seconds: float


def local_parameters(kafka_bootstrap_servers: str) -> dict[str, str]:
    """What the deployed functions need locally: the local broker, plaintext (no SASL secret)."""
    return {"KafkaBootstrapServers": kafka_bootstrap_servers, "KafkaSaslMechanism": "NONE"}


def deploy(
    template: Path,
    *,
    endpoint: str,
    stack_name: str,
    kafka_bootstrap_servers: str,
    work_dir: Path,
    parameter_overrides: Mapping[str, str] | None = None,
    log: Any = print,
) -> Deployment:
    started = time.monotonic()
    ensure_tool(SAM_CLI)
    template = template.absolute()
    parameters = {**local_parameters(kafka_bootstrap_servers), **(parameter_overrides or {})}
    declared = load_template(template).parameters
    parameters = {k: v for k, v in parameters.items() if k in declared}
    parameters.update(signing_key_secrets(template, endpoint, stack_name, work_dir, parameters))
    build_dir = work_dir / "build" / stack_name
    log_path = work_dir / "logs" / f"sam-{stack_name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env = {**inherited, **aws_env(endpoint), "SAM_CLI_TELEMETRY": "0"}

    topics = load_template(template, parameters, stack_name=stack_name).topics
    created = ensure_topics(kafka_bootstrap_servers, topics)
    log(f"  topics on {kafka_bootstrap_servers}: {len(topics)} declared, created {created or 'none'}")

    log(f"  sam build {template.name} (log: {log_path}) ...")
    _sam(
        [
            "build",
            "--template-file",
            str(template),
            "--build-dir",
            str(build_dir),
            "--cached",
            "--cache-dir",
            str(cache_dir() / "localstack" / "sam-build-cache" / stack_name),
        ],
        env,
        log_path,
        cwd=template.parent,
    )
    s3 = client("s3", endpoint)
    if ARTIFACT_BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    log(f"  sam deploy --stack-name {stack_name} to {endpoint} ...")
    _sam(
        [
            "deploy",
            "--template-file",
            str(build_dir / "template.yaml"),
            "--stack-name",
            stack_name,
            "--s3-bucket",
            ARTIFACT_BUCKET,
            "--region",
            REGION,
            "--capabilities",
            "CAPABILITY_IAM",
            "CAPABILITY_AUTO_EXPAND",
            "--no-confirm-changeset",
            "--no-fail-on-empty-changeset",
            "--parameter-overrides",
            *(f"{key}={value}" for key, value in parameters.items()),
        ],
        env,
        log_path,
        cwd=template.parent,
    )
    deployment = describe(endpoint, stack_name, time.monotonic() - started)
    log(f"  stack {stack_name} deployed in {deployment.seconds:.0f}s: {len(deployment.functions)} functions")
    return deployment


def signing_key_secret_name(parameter: str, stack_name: str) -> str:
    """QueueTokenKeys, stack "surge" -> "surge-queue-token-keys-surge"."""
    return f"surge-{re.sub(r'(?<!^)(?=[A-Z])', '-', parameter).lower()}-{stack_name}"


def signing_key_secrets(
    template: Path, endpoint: str, stack_name: str, work_dir: Path, overrides: Mapping[str, str]
) -> dict[str, str]:
    """{Parameter: secret ARN} for the template's `LocalSigningKeys` not given as parameters: the key
    document the local runtime would generate, stored once per stack in the emulator's Secrets Manager
    as `surge-<parameter-in-kebab-case>-<stack>` (the name the template's read policy allows)."""
    from infra.runtime.signing_keys import declared_signing_keys, ensure_key_file

    secrets = client("secretsmanager", endpoint)
    arns: dict[str, str] = {}
    for key in declared_signing_keys(read_template_file(template)):
        if key.parameter in overrides:
            continue
        name = signing_key_secret_name(key.parameter, stack_name)
        try:
            arns[key.parameter] = secrets.describe_secret(SecretId=name)["ARN"]
        except secrets.exceptions.ResourceNotFoundException:
            document = ensure_key_file(work_dir / "keys" / stack_name / f"{key.parameter}.json").read_text()
            arns[key.parameter] = secrets.create_secret(Name=name, SecretString=document)["ARN"]
    return arns


def describe(endpoint: str, stack_name: str, seconds: float = 0.0) -> Deployment:
    """The deployed stack's function and table names, from its resources."""
    cloudformation = client("cloudformation", endpoint)
    functions: dict[str, str] = {}
    tables: dict[str, str] = {}
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name)
    for page in pages:
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::Lambda::Function":
                functions[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
            elif resource["ResourceType"] == "AWS::DynamoDB::Table":
                tables[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
    return Deployment(stack_name, endpoint, functions, tables, seconds)


def _sam(args: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> None:
    sam = str(tool_bin(SAM_CLI))
    with open(log_path, "a") as log:
        log.write(f"\n$ sam {' '.join(args)}\n")
        log.flush()
        result = subprocess.run(
            [sam, *args], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        raise StackError(
            f"sam {args[0]} failed (exit {result.returncode}); last lines of {log_path}:\n{tail(log_path)}"
        )
