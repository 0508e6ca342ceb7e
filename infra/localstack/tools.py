"""The emulator (ministack) and the SAM CLI, each pinned and installed into its own Python 3.11 venv
under the cache, outside surge's own environment: their dependency trees would fight surge's (and
each other's), and ministack runs the deployed handlers with its own interpreter, which must be the
Lambda runtime's Python (3.11)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.paths import cache_dir
from infra.stack.errors import StackError

LAMBDA_PYTHON = "python3.11"


@dataclass(frozen=True)
class Tool:
    name: str
    packages: tuple[str, ...]
    executable: str

    @property
    def key(self) -> str:
        return hashlib.sha256("\n".join(self.packages).encode()).hexdigest()[:12]


# aws-sam-translator beside ministack: its CloudFormation engine expands the SAM transform with it.
MINISTACK = Tool("ministack", ("ministack==1.5.33", "aws-sam-translator==1.115.0"), "ministack")
SAM_CLI = Tool("sam-cli", ("aws-sam-cli==1.170.0", "cfn-lint==1.58.0"), "sam")


def tool_dir(tool: Tool) -> Path:
    return cache_dir() / "localstack" / f"{tool.name}-{tool.key}"


def tool_bin(tool: Tool, executable: str | None = None) -> Path:
    return tool_dir(tool) / "bin" / (executable or tool.executable)


def ensure_tool(tool: Tool) -> Path:
    """The tool's venv, installed on first use (a lock keeps two checkouts from racing)."""
    venv = tool_dir(tool)
    marker = venv / ".installed"
    if marker.exists():
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{tool.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return venv
        python = shutil.which(LAMBDA_PYTHON)
        if python is None:
            raise StackError(
                f"{tool.name} needs {LAMBDA_PYTHON} on PATH (the Lambda runtime's Python); install it first"
            )
        print(
            f"surge: installing {', '.join(tool.packages)} into {venv} (first time only, 1-3 min) ...",
            file=sys.stderr,
            flush=True,
        )
        shutil.rmtree(venv, ignore_errors=True)
        uv = _uv()
        if uv:
            _run([uv, "venv", "--quiet", "--python", python, str(venv)], tool)
            env = {**os.environ, "VIRTUAL_ENV": str(venv)}
            _run([uv, "pip", "install", "--quiet", *tool.packages], tool, env)
        else:
            _run([python, "-m", "venv", str(venv)], tool)
            _run([str(venv / "bin" / "pip"), "install", "--quiet", *tool.packages], tool)
        marker.touch()
        print(f"surge: {tool.name} installed", file=sys.stderr, flush=True)
    return venv


def _uv() -> str | None:
    """uv (much faster than pip): the one `make install` put in the checkout, else one on PATH."""
    local = Path.cwd() / ".surge" / "tools" / "bin" / "uv"
    return str(local) if local.exists() else shutil.which("uv")


def _run(argv: list[str], tool: Tool, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        output = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise StackError(f"installing {tool.name} failed: {' '.join(argv)}\n{output}")
