"""localstack/docker-compose.yml cannot run here (no Docker engine): its structure is checked instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "localstack" / "docker-compose.yml"


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_services_and_their_ports() -> None:
    services = compose()["services"]
    assert set(services) == {"localstack", "kafka", "kafka-ui", "surge-deploy", "surge-bridge"}
    assert "4566:4566" in services["localstack"]["ports"]
    assert "8080:8080" in services["kafka-ui"]["ports"]
    assert "3000:3000" in services["surge-bridge"]["ports"]
    assert services["kafka-ui"]["environment"]["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == "kafka:9092"


def test_images_are_pinned_and_kafka_is_the_official_image_in_kraft_mode() -> None:
    services = compose()["services"]
    for name in ("localstack", "kafka", "kafka-ui"):
        image = services[name]["image"]
        assert ":" in image and not image.endswith(":latest"), image
    assert services["localstack"]["image"].startswith("localstack/localstack:")
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(kafka["environment"]["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "ZOOKEEPER" not in " ".join(kafka["environment"]).upper()


def test_lambda_containers_can_reach_kafka_and_localstack_can_run_them() -> None:
    localstack = compose()["services"]["localstack"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in localstack["volumes"]
    assert localstack["environment"]["LAMBDA_DOCKER_NETWORK"] == f"{compose()['name']}_default"


def test_surge_services_mount_the_repository_and_run_the_init_scripts_on_template_yaml() -> None:
    services = compose()["services"]
    for name, script in (("surge-deploy", "deploy.sh"), ("surge-bridge", "bridge.sh")):
        service = services[name]
        assert "..:/surge" in service["volumes"]
        assert service["command"] == ["sh", f"localstack/init/{script}"]
        assert service["environment"]["AWS_ENDPOINT_URL"] == "http://localstack:4566"
        text = (REPO / "localstack" / "init" / script).read_text()
        assert "--template template.yaml" in text and "surge localstack" in text
    assert (COMPOSE.parent / ".." / "template.yaml").resolve() == REPO / "template.yaml"
    assert (
        services["surge-bridge"]["depends_on"]["surge-deploy"]["condition"]
        == "service_completed_successfully"
    )
