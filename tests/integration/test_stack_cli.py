"""`surge stack` as a user drives it: detach, env, status, refusing a second start, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.stack.process import pid_alive

REPO = Path(__file__).resolve().parents[2]


def _surge(state_dir: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SURGE_STATE_DIR": str(state_dir)}
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        cwd=REPO,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def _java_pids_of(state_dir: Path) -> list[int]:
    """Java processes whose logs go to this state dir: the ones this test's stack started."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        targets = set()
        for fd in fds:
            try:
                targets.add(os.readlink(fd))
            except OSError:  # a busy JVM closes files while we look: skip that fd, not the process
                continue
        if cmdline and cmdline[0].endswith(b"java") and any(str(state_dir) in t for t in targets):
            pids.append(int(entry.name))
    return pids


def test_detach_env_status_down_leaves_nothing_running(tmp_path: Path):
    up = _surge(tmp_path, "stack", "up", "--detach")
    assert up.returncode == 0, up.stderr
    try:
        assert len(_java_pids_of(tmp_path)) == 2

        env = _surge(tmp_path, "stack", "env").stdout.splitlines()
        values = dict(line.split("=", 1) for line in env)
        assert values["KAFKA_BOOTSTRAP_SERVERS"].startswith("127.0.0.1:")
        assert values["AWS_ENDPOINT_URL_DYNAMODB"].startswith("http://127.0.0.1:")
        assert values["AWS_ENDPOINT_URL_DYNAMODBSTREAMS"] == values["AWS_ENDPOINT_URL_DYNAMODB"]

        status = _surge(tmp_path, "stack", "status")
        assert status.returncode == 0
        assert status.stdout.count("healthy") == 2

        again = _surge(tmp_path, "stack", "up", "--detach")
        assert again.returncode == 1
        assert "already up" in again.stderr
    finally:
        down = _surge(tmp_path, "stack", "down")
    assert down.returncode == 0
    assert _java_pids_of(tmp_path) == []
    assert _surge(tmp_path, "stack", "status").returncode == 1


def test_killing_the_foreground_stack_kills_its_services(tmp_path: Path):
    env = {**os.environ, "SURGE_STATE_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "stack", "up", "--no-provision"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            if "surge stack is up" in line or time.monotonic() > deadline:
                break
        services = _java_pids_of(tmp_path)
        assert len(services) == 2
    finally:
        proc.send_signal(signal.SIGKILL)  # no chance to clean up: the kernel must take the JVMs down
        proc.wait()
    deadline = time.monotonic() + 30
    while any(pid_alive(p) for p in services) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(pid_alive(p) for p in services)


def test_a_port_in_use_is_named_in_the_error(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _surge(tmp_path, "stack", "up", "--no-provision", "--kafka-port", str(port))
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "already in use" in result.stderr
    assert _java_pids_of(tmp_path) == []


@pytest.mark.parametrize("command", ["env", "down"])
def test_commands_without_a_running_stack_say_so(tmp_path: Path, command: str):
    result = _surge(tmp_path, "stack", command)
    assert "not running" in (result.stdout + result.stderr)


def test_a_killed_bench_stops_the_detached_stack_it_started(tmp_path: Path):
    """`surge bench` runs a detached stack, which outlives its parent by design; a `kill` of the bench
    must still stop it (its temporary state dir lives under TMPDIR, here tmp_path)."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    bench = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "bench", "--only", "runtime", "--scale", "0.05"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert bench.stdout is not None
        for line in bench.stdout:
            if line.startswith("[runtime]"):
                break
        assert len(_java_pids_of(tmp_path)) == 2, "the bench's stack is not up"
        bench.send_signal(signal.SIGTERM)
        bench.wait(timeout=120)
        deadline = time.monotonic() + 30
        while _java_pids_of(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _java_pids_of(tmp_path) == [], "the killed bench left its stack running"
    finally:
        bench.kill()
        for pid in _java_pids_of(tmp_path):
            os.kill(pid, signal.SIGKILL)
