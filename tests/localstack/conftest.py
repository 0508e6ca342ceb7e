"""One LocalStack-compatible deployment for this directory's tests, made with the real commands:
`surge localstack up --detach` (ministack + Apache Kafka), `deploy` (sam build + sam deploy of
template.yaml) and `bridge --detach`, in a temporary state dir on free ports; `down` at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.stack.process import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Deployed:
    state_dir: Path
    env: dict[str, str]
    endpoint: str
    kafka: str
    bridge_url: str
    up: dict

    def surge(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "infra.cli", "localstack", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert not check or result.returncode == 0, (
            f"surge localstack {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        )
        return result

    def state(self, name: str) -> dict:
        return json.loads((self.state_dir / "localstack" / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    state_dir = tmp_path_factory.mktemp("localstack-state")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["SURGE_STATE_DIR"] = str(state_dir)
    partial = Deployed(state_dir, env, "", "", "", {})
    try:
        partial.surge("up", "--detach", "--port", str(free_port()))
        up = partial.state("up")
        partial.surge("deploy", "--stack-name", "surge")
        partial.surge("bridge", "--detach", "--stack-name", "surge", "--http-port", "0")
        yield Deployed(
            state_dir, env, up["endpoint"], up["kafka_bootstrap_servers"], partial.state("bridge")["url"], up
        )
    finally:
        subprocess.run(
            [sys.executable, "-m", "infra.cli", "localstack", "down"],
            cwd=REPO,
            env=env,
            timeout=120,
            check=False,
        )
