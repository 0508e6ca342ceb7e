"""The accept bench's baselines: the least a server can do for each route, in one process.

- `issue`: a ThreadingHTTPServer that, per POST, publishes one record with one shared confluent-kafka
  producer (the library and settings of the API function's publisher: acks=all, idempotent, linger 0,
  Nagle off) and answers 202 with a request id once the broker acknowledged. One thread serves the
  producer's delivery reports, so the records of concurrent requests share produce requests.
- `read`: the same server doing one consistent GetItem per GET with one shared boto3 client, 200
  with the item or 202 PENDING when there is none (what `GET /coupon-requests/{id}` answers).

No routing, validation, event building, logging or process hop: what is left is the price of HTTP
in Python plus the service call, which surge's runtime is measured against.

Run as `python -m infra.bench.baseline_http issue|read --port P ...`; prints "ready" when it serves.
"""

from __future__ import annotations

import argparse
import json
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    answer: Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload = self.server.answer(self.path, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _reply


def issue_answer(bootstrap: str, topic: str) -> Any:
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 0,
            "socket.nagle.disable": True,
        }
    )

    def serve_delivery_reports() -> None:
        while True:
            producer.poll(0.1)

    threading.Thread(target=serve_delivery_reports, name="delivery-reports", daemon=True).start()

    def answer(path: str, body: bytes) -> tuple[int, Any]:
        coupon_id = path.split("/")[2] if path.count("/") >= 3 else "bench"
        request_id = str(uuid.uuid4())
        user = json.loads(body or b"{}").get("userId", "")
        record = {
            "requestId": request_id,
            "couponId": coupon_id,
            "userId": user,
            "requestedAt": datetime.now(UTC).isoformat(),
        }
        acked = threading.Event()
        failure: list[Any] = []

        def on_delivery(error: Any, _message: Any) -> None:
            if error is not None:
                failure.append(error)
            acked.set()

        producer.produce(
            topic, key=coupon_id.encode(), value=json.dumps(record).encode(), on_delivery=on_delivery
        )
        if not acked.wait(10) or failure:
            return 503, {"message": f"not acknowledged: {failure or 'timeout'}"}
        return 202, {"requestId": request_id, "status": "PENDING"}

    return answer


def read_answer(table: str) -> Any:
    import boto3
    from botocore.config import Config

    # A fixed User-Agent as in functions/common/dynamodb.py, so both sides pay the same client CPU per call.
    client = boto3.client("dynamodb", config=Config(user_agent="surge-baseline"))

    def answer(path: str, _body: bytes) -> tuple[int, Any]:
        request_id = path.rsplit("/", 1)[-1]
        key = {"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}}
        item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        if item is None:
            return 202, {"requestId": request_id, "status": "PENDING"}
        return 200, {k: next(iter(v.values())) for k, v in item.items()}

    return answer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["issue", "read"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kafka", default="")
    parser.add_argument("--topic", default="coupon.issue-requested")
    parser.add_argument("--table", default="")
    args = parser.parse_args()
    server = _Server(("127.0.0.1", args.port), _Handler)
    server.answer = issue_answer(args.kafka, args.topic) if args.mode == "issue" else read_answer(args.table)
    if args.mode == "issue":
        server.answer("/coupons/warmup/issue", b"{}")  # connect and fetch metadata before timing
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
