"""`surge local up` as a child process (for the demo, benchmarks and end-to-end tests): started with its
own state dir, waited for until healthy, stopped with SIGTERM so it shuts down cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from common.config import Endpoints
from infra.stack.errors import StackError
from infra.stack.process import free_port, tail


class RuntimeProcess:
    def __init__(
        self,
        template: Path,
        state_dir: Path,
        *,
        endpoints: Endpoints | None = None,
        extra_args: list[str] | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.extra_env = dict(env or {})
        self.template = template
        self.state_dir = state_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = state_dir / "logs" / f"runtime-{self.port}.log"
        self.functions_log = state_dir / "logs" / f"functions-{self.port}.log"
        args = ["--template", str(template), "--port", str(self.port), "--log-file", str(self.functions_log)]
        if endpoints is None:
            args.append("--stack")
        else:
            args += ["--kafka", endpoints.require_kafka(), "--dynamodb", endpoints.dynamodb or ""]
        self.argv = [sys.executable, "-m", "infra.cli", "local", "up", *args, *(extra_args or [])]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> RuntimeProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.extra_env, "SURGE_STATE_DIR": str(self.state_dir)}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(f"surge local up exited ({self.process.returncode}):\n{tail(self.log_path)}")
            if self.healthy():
                return self
            time.sleep(0.2)
        self.stop()
        raise StackError(f"surge local up was not healthy after {timeout:.0f}s:\n{tail(self.log_path)}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/_surge/health", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_surge/status", timeout=10) as response:
            status: dict[str, Any] = json.load(response)
            return status

    def endpoints(self) -> Endpoints:
        return Endpoints.from_env(self.status()["endpoints"])

    def stop(self, timeout: float = 60.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """No clean shutdown: what a crash looks like to the event sources."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> RuntimeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
