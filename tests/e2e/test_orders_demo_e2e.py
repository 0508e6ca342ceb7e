"""Conservation under a surge, through the demo's own code (`surge demo orders` at a smaller scale):
users with points place orders for products of limited stock; some pay, some are refused for points,
some cancel, some time out (and give their stock back), some are refunded, while the data platform
fails for 30 s. Stock and points are conserved, every order ends terminal, the outbox drains, one
notification per payment, and afterwards the platform has every order.completed."""

from __future__ import annotations

import argparse
from pathlib import Path

from common.config import Endpoints
from infra.demo import orders
from infra.runtime.app import LocalRuntime
from tests.conftest import REPO


def short_timeout_template(tmp_path: Path, seconds: int) -> Path:
    text = (REPO / "template.yaml").read_text().replace("CodeUri: functions/", f"CodeUri: {REPO}/functions/")
    default = "    Default: 900\n    MinValue: 1\n    Description: A RESERVED order"
    assert default in text
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(default, default.replace("900", str(seconds))))
    return path


class InProcess:
    """The demo's target protocol over a LocalRuntime running in this process."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime
        self.url = runtime.url

    def endpoints(self) -> Endpoints:
        return self.runtime.endpoints

    def status(self) -> dict:
        return self.runtime.status()


def test_an_orders_surge_conserves_stock_and_points_and_loses_nothing(stack, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SURGE_SCHEDULE_SPEEDUP", "10")  # the every-minute sweeps every 6 s
    template = short_timeout_template(tmp_path, seconds=15)
    runtime = LocalRuntime(
        template, stack.endpoints, port=0, state_dir=tmp_path / "runtime", log=lambda fid, line: None
    )
    parser = argparse.ArgumentParser()
    orders.add_arguments(parser)
    args = parser.parse_args(
        [
            *("--users", "80", "--orders", "300", "--products", "6", "--stock", "40", "--points", "600"),
            *("--outage", "30", "--payment-timeout", "15", "--template", str(template)),
        ]
    )
    try:
        runtime.start()
        runtime.wait_healthy()
        result = orders.surge(InProcess(runtime), args)
    finally:
        runtime.stop()
    print(orders.report(result))
    assert result.ok(), orders.report(result)
    statuses = result.state.by_status()
    # Every path of the saga was taken.
    for status in ("COMPLETED", "REFUNDED", "CANCELLED (OUT_OF_STOCK)", "CANCELLED (CANCELLED_BY_USER)"):
        assert statuses[status] > 0, statuses
    assert statuses["CANCELLED (PAYMENT_TIMEOUT)"] >= len(result.left_unpaid) > 0, statuses
    assert result.payment_refused > 0  # some users ran out of points
    # The data platform failed for 30 s while orders completed; afterwards it has every order.completed.
    assert result.platform["refused"] > 0 and result.platform_missing() == 0
    assert sum(result.state.notifications.values()) == len(result.paid)
