"""ministack as a child process: started from its own venv, healthy when `/_localstack/health` answers
(the same probe as LocalStack's), stopped with every Lambda worker process it spawned."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from infra.localstack.tools import MINISTACK, ensure_tool, tool_bin
from infra.stack.errors import StackError
from infra.stack.process import ensure_port_free, tail

DEFAULT_PORT = 4566
# Credentials the emulator accepts (any); set only when the user configured none.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def healthy(endpoint: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=timeout) as response:
            return response.status == 200 and "services" in json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False


class Ministack:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, *, port: int, log_dir: Path, data_dir: Path, timeout: float = 60.0) -> Ministack:
        ensure_tool(MINISTACK)
        ensure_port_free(port, "ministack")
        log_dir.mkdir(parents=True, exist_ok=True)
        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / "ministack.log"
        # No service endpoint of the caller's (e.g. a DynamoDB Local) may leak into the deployed functions.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
        env = {
            **inherited,
            "GATEWAY_PORT": str(port),
            "BIND_HOST": "127.0.0.1",
            # its Lambda workers, detached-mode log and S3 data stay in our state dir
            "TMPDIR": str(data_dir),
            "S3_DATA_DIR": str(data_dir / "s3"),
        }
        with open(log_path, "wb") as log:
            # Its own process group, so `stop` also reaches the Lambda worker processes it forks.
            process = subprocess.Popen(
                [str(tool_bin(MINISTACK))],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        emulator = cls(process, port, log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"ministack exited with code {process.returncode}:\n{tail(log_path)}")
            if healthy(emulator.endpoint):
                return emulator
            time.sleep(0.2)
        emulator.stop()
        raise StackError(f"ministack was not healthy after {timeout:.0f}s:\n{tail(log_path)}")

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        stop_group(self.process.pid, timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)


def stop_group(pgid: int, timeout: float = 15.0) -> None:
    """SIGTERM the process group, SIGKILL whatever is left after `timeout`."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def group_alive(pgid: int) -> bool:
    """True while a live (non-zombie) process is in the group."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False
