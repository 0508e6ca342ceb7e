"""Child processes that cannot outlive surge, free ports, and readable start-up failures."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from infra.stack.errors import StackError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Linux delivers SIGTERM to the child when the process that started it dies, even by SIGKILL,
    # so a crashed or killed surge never leaves a JVM behind.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_port_free(port: int, service: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers bind: a listener makes it fail, a stopped server's TIME_WAIT sockets do not
        # (a restart on the same port must not wait a minute for them).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise StackError(
                f"port {port} for {service} is already in use on 127.0.0.1; "
                f"stop what holds it or choose another port"
            ) from exc


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def proc_field(path: str, key: str) -> str | None:
    """The value of `key` in a /proc file of `key: value` lines (status, meminfo, cpuinfo), or None
    when the file or the key is not there."""
    try:
        with open(path) as lines:
            for line in lines:
                name, colon, value = line.partition(":")
                if colon and name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM: the highest resident set size the process reached."""
    kib = proc_field(f"/proc/{pid}/status", "VmHWM")  # e.g. "104856 kB"
    return int(kib.split()[0]) / 1024 if kib else None


class ManagedProcess:
    """One service process: output goes to a log file, and it dies with its parent."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, cwd: Path | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists():  # keep the previous run's log for diagnosis, start a fresh one
            self.log_path.replace(self.log_path.with_suffix(self.log_path.suffix + ".previous"))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                code = self.process.returncode if self.process else None
                raise StackError(
                    f"{self.name} exited with code {code} while starting ({what}).\n"
                    f"Last lines of {self.log_path}:\n{tail(self.log_path)}"
                )
            if ready():
                return
            time.sleep(0.1)
        self.stop()
        raise StackError(
            f"{self.name} was not ready after {timeout:.0f}s ({what}).\n"
            f"Last lines of {self.log_path}:\n{tail(self.log_path)}"
        )

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def run_checked(argv: Sequence[str], what: str, cwd: Path | None = None) -> None:
    """Run a set-up command; on failure show its output, since that is where the cause is."""
    try:
        result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise StackError(f"{what} needs `{argv[0]}`, which is not installed or not on PATH") from exc
    if result.returncode != 0:
        output = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise StackError(f"{what} failed (exit {result.returncode}): {' '.join(argv)}\n{output}")
