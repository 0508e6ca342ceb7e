"""Apache Kafka 4 in KRaft mode (one combined broker+controller), jars from Maven Central."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from infra.paths import PACKAGE_DIR, cache_dir
from infra.stack.errors import StackError
from infra.stack.java import java_executable
from infra.stack.process import ManagedProcess, ensure_port_free, free_port, port_accepts, run_checked

POM = PACKAGE_DIR / "maven" / "pom.xml"

# Settings fit for one developer machine: topics are created explicitly (from template.yaml), a
# single replica everywhere, and no delay before the first consumer group rebalance.
_LOCAL_SETTINGS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "inter.broker.listener.name": "PLAINTEXT",
    "auto.create.topics.enable": "false",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "10",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "log.retention.hours": "168",
}

_LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = OUT
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
logger.startup.name = org.apache.kafka.common.utils.AppInfoParser
logger.startup.level = INFO
"""


def kafka_libs() -> Path:
    """The broker's jars, resolved once per POM content into the cache."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    libs = cache_dir() / f"kafka-{digest}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise StackError("Maven (`mvn`) is required to fetch Apache Kafka's jars from Maven Central")
    staging = libs.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    print(f"Fetching Apache Kafka jars with Maven into {libs.parent} ...", flush=True)
    run_checked(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ],
        "resolving Apache Kafka with Maven",
    )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    marker.touch()
    return libs


@dataclass
class KafkaBroker:
    """A running broker. `data_dir=None` means a temporary directory removed on stop."""

    port: int
    controller_port: int
    data_dir: Path
    log_path: Path
    temporary: bool
    process: ManagedProcess = field(repr=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, *, port: int | None = None, data_dir: Path | None = None, log_dir: Path) -> KafkaBroker:
        broker = cls.launch(port=port, data_dir=data_dir, log_dir=log_dir)
        broker.wait_ready()
        return broker

    @classmethod
    def launch(
        cls, *, port: int | None = None, data_dir: Path | None = None, log_dir: Path, heap_mb: int = 768
    ) -> KafkaBroker:
        """Format storage if new and start the process; `wait_ready` waits for it to serve."""
        java = java_executable()
        libs = kafka_libs()
        if port is not None:
            ensure_port_free(port, "Kafka")
        port = port or free_port()
        controller_port = free_port()
        temporary = data_dir is None
        data = Path(tempfile.mkdtemp(prefix="surge-kafka-")) if data_dir is None else data_dir.resolve()
        log_dir.mkdir(parents=True, exist_ok=True)
        config_dir = data / "config"
        logs = data / "logs"
        config_dir.mkdir(parents=True, exist_ok=True)
        settings = dict(_LOCAL_SETTINGS)
        settings.update(
            {
                "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
                "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
                "log.dirs": str(logs),
            }
        )
        properties = config_dir / "server.properties"
        properties.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        log4j = config_dir / "log4j2.properties"
        log4j.write_text(_LOG4J2)
        classpath = f"{libs}/*"
        jvm = [
            java,
            f"-Xms{heap_mb // 2}m",
            f"-Xmx{heap_mb}m",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
        ]
        log_path = log_dir / "kafka.log"
        if not (logs / "meta.properties").exists():
            cluster_id = _kafka_cluster_id()
            run_checked(
                # `--cluster-id=ID`, not `-t ID`: a base64url id starts with "-" one time in 64, and
                # the tool's argument parser then takes it for an option ("expected one argument").
                [
                    *jvm,
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(properties),
                ],
                "formatting Kafka storage",
            )
        process = ManagedProcess("Kafka", [*jvm, "kafka.Kafka", str(properties)], log_path)
        process.start()
        return cls(port, controller_port, data, log_path, temporary, process)

    def wait_ready(self, timeout: float = 90.0) -> None:
        try:
            self.process.wait_until(self.started, timeout, f"serving on 127.0.0.1:{self.port}")
        except BaseException:
            self.stop()
            raise

    def started(self) -> bool:
        # The broker logs this once both the controller and the broker listener are serving.
        try:
            logged = "Kafka Server started" in self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return False
        return logged and port_accepts(self.port)

    def stop(self) -> None:
        self.process.stop()
        if self.temporary:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def _kafka_cluster_id() -> str:
    # Kafka wants a base64url-encoded UUID of 22 characters, which is what `random-uuid` prints.
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
