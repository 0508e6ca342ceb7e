"""The local HTTP API: API Gateway's request/response mapping, routing and failures, with real workers."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from infra.runtime.http_api import HttpApiServer, PortInUseError
from infra.runtime.workers import FunctionRuntime, WorkerInvoker
from infra.template.models import HttpApiEventSpec

CODE = str(Path(__file__).parent / "functions")


def _route(fid: str, method: str, path: str, kind: str = "HttpApi") -> HttpApiEventSpec:
    return HttpApiEventSpec(f"{fid}{method}", fid, kind, method, path)  # type: ignore[arg-type]


ROUTES = [
    _route("Probe", "POST", "/coupons/{couponId}/issue"),
    _route("Probe", "GET", "/coupons/{couponId}"),
    _route("Probe", "ANY", "/files/{proxy+}"),
    _route("Slow", "GET", "/slow"),
    _route("Short", "GET", "/short"),
    _route("Rest", "GET", "/rest/{id}", kind="Api"),
    _route("Rest", "POST", "/rest/{id}", kind="Api"),
]


@pytest.fixture(scope="module")
def invoker():
    def fn(fid: str, timeout: float = 10, concurrency: int = 10) -> FunctionRuntime:
        return FunctionRuntime(fid, f"surge-{fid}", "http_probe.handler", CODE, timeout, 128, {}, concurrency)

    functions = {
        "Probe": fn("Probe"),
        "Slow": fn("Slow"),
        "Short": fn("Short", timeout=1),
        "Rest": fn("Rest"),
    }
    inv = WorkerInvoker(functions, log=lambda f, line: None)
    yield inv
    inv.close()


@pytest.fixture(scope="module")
def server(invoker):
    extra = {"/_surge/health": lambda: (200, {"healthy": True})}
    srv = HttpApiServer(ROUTES, invoker, port=0, extra_routes=extra, integration_timeout_s=3)
    srv.start()
    yield srv
    srv.stop()


def call(server, method, path, body=b"", headers=None, header_list=None):
    """(status, headers as a list of pairs, body bytes); header_list allows duplicate headers."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest(method, path)
    pairs = list((headers or {}).items()) + list(header_list or [])
    for name, value in pairs:
        conn.putheader(name, value)
    if body or method in ("POST", "PUT", "PATCH"):
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body or None)
    response = conn.getresponse()
    result = response.status, response.getheaders(), response.read()
    conn.close()
    return result


def echoed(server, method, path, **kwargs):
    status, _, body = call(server, method, path, **kwargs)
    assert status == 200, body
    return json.loads(body)


def respond(server, response):
    """Make the probe return `response` as its function result."""
    body = json.dumps(response).encode()
    headers = {"x-probe-action": "respond", "content-type": "application/json"}
    return call(server, "POST", "/coupons/c1/issue", body, headers)


# ---- request mapping, payload 2.0 ----------------------------------------------------------------


def test_v2_event_has_route_path_parameters_query_headers_and_context(server):
    event = echoed(
        server,
        "POST",
        "/coupons/c%2042/issue?a=1&b=x%20y&a=2&empty=",
        body=b'{"n": 1}',
        headers={"Content-Type": "application/json", "User-Agent": "probe/1"},
        header_list=[("X-Multi", "one"), ("X-Multi", "two")],
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /coupons/{couponId}/issue"
    assert event["rawPath"] == "/coupons/c%2042/issue"
    assert event["rawQueryString"] == "a=1&b=x%20y&a=2&empty="
    assert event["pathParameters"] == {"couponId": "c 42"}
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y", "empty": ""}
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert all(name == name.lower() for name in event["headers"])
    assert event["body"] == '{"n": 1}' and event["isBase64Encoded"] is False
    assert "stageVariables" not in event and "cookies" not in event
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/coupons/c%2042/issue",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "probe/1",
    }
    assert context["routeKey"] == "POST /coupons/{couponId}/issue"
    assert context["stage"] == "$default"
    assert context["domainName"] == "127.0.0.1"
    assert {"accountId", "apiId", "domainPrefix", "requestId", "time", "timeEpoch"} <= context.keys()
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60


def test_v2_without_query_or_body_leaves_those_fields_out(server):
    event = echoed(server, "GET", "/coupons/c1")
    assert "queryStringParameters" not in event and "body" not in event
    assert event["isBase64Encoded"] is False


def test_request_cookies_become_the_cookies_list_not_a_header(server):
    event = echoed(server, "GET", "/coupons/c1", header_list=[("Cookie", "a=1; b=2"), ("Cookie", "c=3")])
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]


def test_binary_and_form_request_bodies_are_base64(server):
    data = bytes(range(256))
    event = echoed(
        server, "POST", "/coupons/c1/issue", body=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == data
    # Real HTTP APIs base64-encode form bodies and bodies without a Content-Type as well.
    form = echoed(
        server,
        "POST",
        "/coupons/c1/issue",
        body=b"a=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form["isBase64Encoded"] is True and base64.b64decode(form["body"]) == b"a=1"
    text = echoed(
        server, "POST", "/coupons/c1/issue", body="héllo".encode(), headers={"Content-Type": "text/plain"}
    )
    assert text["isBase64Encoded"] is False and text["body"] == "héllo"


def test_greedy_path_parameter_takes_the_rest_of_the_path_for_any_method(server):
    event = echoed(server, "DELETE", "/files/a/b/c.txt")
    assert event["routeKey"] == "ANY /files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}


# ---- request mapping, payload 1.0 (Api) ------------------------------------------------------------


def test_rest_api_event_is_payload_1_0(server):
    status, _, body = call(
        server,
        "POST",
        "/rest/7?x=1&x=2",
        body=b"plain",
        headers={"Content-Type": "text/plain"},
        header_list=[("X-Multi", "one"), ("X-Multi", "two")],
    )
    assert status == 200
    event = json.loads(body)
    assert "version" not in event
    assert event["resource"] == "/rest/{id}"
    assert event["path"] == "/rest/7"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"id": "7"}
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["headers"]["X-Multi"] == "two"
    assert event["multiValueHeaders"]["X-Multi"] == ["one", "two"]
    assert event["body"] == "plain" and event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    assert event["requestContext"]["resourcePath"] == "/rest/{id}"
    assert event["requestContext"]["httpMethod"] == "POST"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"


def test_rest_api_response_merges_multi_value_headers(server):
    response = {
        "statusCode": 201,
        "headers": {"X-One": "1"},
        "multiValueHeaders": {"X-Two": ["a", "b"]},
        "body": "ok",
    }
    status, headers, body = call(
        server,
        "POST",
        "/rest/1",
        json.dumps(response).encode(),
        {"x-probe-action": "respond", "content-type": "application/json"},
    )
    assert (status, body) == (201, b"ok")
    assert ("X-One", "1") in headers
    assert [v for k, v in headers if k == "X-Two"] == ["a", "b"]


def test_rest_api_function_error_is_502_as_in_api_gateway(server):
    status, _, body = call(server, "GET", "/rest/1", headers={"x-probe-action": "raise"})
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    status, _, _ = call(
        server,
        "POST",
        "/rest/1",
        b'"no statusCode"',
        {"x-probe-action": "respond", "content-type": "application/json"},
    )
    assert status == 502


# ---- response mapping ------------------------------------------------------------------------------


def test_response_status_headers_cookies_and_body(server):
    status, headers, body = respond(
        server,
        {
            "statusCode": 418,
            "headers": {"X-Answer": 42, "Content-Type": "text/plain"},
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            "body": "teapot",
        },
    )
    assert (status, body) == (418, b"teapot")
    assert ("X-Answer", "42") in headers and ("Content-Type", "text/plain") in headers
    assert [v for k, v in headers if k == "Set-Cookie"] == ["a=1; Path=/", "b=2; HttpOnly"]
    assert any(k == "apigw-requestid" for k, _ in headers)


def test_base64_response_body_is_decoded(server):
    data = bytes(range(256))
    status, _headers, body = respond(
        server, {"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(data).decode()}
    )
    assert (status, body) == (200, data)


def test_v2_response_without_status_code_is_200_json(server):
    status, headers, body = respond(server, {"coupon": "c1"})
    assert (status, json.loads(body)) == (200, {"coupon": "c1"})
    assert ("Content-Type", "application/json") in headers
    status, _, body = respond(server, "just text")
    assert (status, body) == (200, b"just text")


@pytest.mark.parametrize(
    "response",
    [
        {"statusCode": "teapot"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "isBase64Encoded": True, "body": "***"},
        {"statusCode": 200, "cookies": "a=1"},
    ],
)
def test_malformed_response_is_500(server, response, caplog):
    status, _, body = respond(server, response)
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert "malformed" in caplog.text


# ---- routing -----------------------------------------------------------------------------------------


def test_unknown_route_is_404(server):
    status, _, body = call(server, "GET", "/nowhere")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})


def test_wrong_method_is_405_with_allow(server):
    status, headers, body = call(server, "DELETE", "/coupons/c1/issue")
    assert (status, json.loads(body)) == (405, {"message": "Method Not Allowed"})
    assert ("Allow", "POST") in headers


def test_extra_routes_answer_before_template_routes(server):
    status, _, body = call(server, "GET", "/_surge/health")
    assert (status, json.loads(body)) == (200, {"healthy": True})


def test_default_route_takes_everything_unmatched(invoker):
    routes = [
        _route("Probe", "GET", "/known"),
        HttpApiEventSpec("All", "Probe", "HttpApi", "ANY", "$default"),
    ]
    srv = HttpApiServer(routes, invoker, port=0)
    srv.start()
    try:
        event = echoed(
            srv, "PUT", "/anything/at/all", body=b"{}", headers={"Content-Type": "application/json"}
        )
        assert event["routeKey"] == "$default"
        assert echoed(srv, "POST", "/known", body=b"")["routeKey"] == "$default"  # wrong method too
        assert echoed(srv, "GET", "/known")["routeKey"] == "GET /known"
    finally:
        srv.stop()


# ---- failures, timeouts, concurrency ---------------------------------------------------------------


def test_raising_handler_is_500_and_the_server_keeps_serving(server):
    for _ in range(3):
        status, _, body = call(server, "GET", "/coupons/c1", headers={"x-probe-action": "raise"})
        assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert echoed(server, "GET", "/coupons/c1")["routeKey"] == "GET /coupons/{couponId}"


def test_function_timeout_is_500_and_integration_timeout_is_503(server):
    # The function's own Timeout (1 s): Lambda reports a function error, API Gateway answers 500.
    status, _, _ = call(server, "GET", "/short", headers={"x-probe-action": "sleep", "x-probe-seconds": "2"})
    assert status == 500
    # Still running at the integration timeout (3 s in this fixture): 503, as an HTTP API answers.
    started = time.monotonic()
    status, _, body = call(
        server, "GET", "/slow", headers={"x-probe-action": "sleep", "x-probe-seconds": "4"}
    )
    assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})
    assert time.monotonic() - started < 3.9


def test_concurrent_requests_are_served_concurrently(server):
    echoed(server, "GET", "/coupons/c1")  # one warm worker; the others start during the burst
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda _: call(
                    server, "GET", "/slow", headers={"x-probe-action": "sleep", "x-probe-seconds": "0.5"}
                ),
                range(8),
            )
        )
    elapsed = time.monotonic() - started
    assert [status for status, _, _ in results] == [200] * 8
    assert len({json.loads(body)["pid"] for _, _, body in results}) == 8
    assert elapsed < 2.5, elapsed


def test_keep_alive_serves_several_requests_on_one_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", "/coupons/c1")
            response = conn.getresponse()
            assert response.status == 200
            response.read()
    finally:
        conn.close()


def _read_until_blank_line(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_expect_100_continue_is_answered_before_the_body_is_sent(server):
    """A client (curl does, for bodies over 1 KB) may wait for `100 Continue` before it sends."""
    body = b'{"userId": "u1"}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /coupons/c1/issue HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert _read_until_blank_line(sock).startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        answer = _read_until_blank_line(sock)
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_an_unknown_method_is_501(server):
    """Refused by the parser before any route is looked at; the answer must still reach the client."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"BREW /coupons/c1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_until_blank_line(sock).startswith(b"HTTP/1.1 501 ")


def _read_response(sock: socket.socket, buffered: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """(head, body, what was read beyond them) of one response read off a raw socket."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-response"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return head, rest[:length], rest[length:]


def test_pipelined_requests_are_answered_in_the_order_they_came(server):
    """Requests sent back to back on one connection (HTTP/1.1 pipelining) are answered in order, even
    when the first takes longest."""
    slow = b"GET /slow HTTP/1.1\r\nHost: x\r\nx-probe-action: sleep\r\nx-probe-seconds: 0.4\r\n\r\n"
    quick = b"GET /coupons/%d HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(slow + quick % 1 + quick % 2)
        head, body, rest = _read_response(sock)
        assert head.startswith(b"HTTP/1.1 200 ") and json.loads(body)["slept"] == 0.4
        for n in (1, 2):
            head, body, rest = _read_response(sock, rest)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert json.loads(body)["rawPath"] == f"/coupons/{n}"


def test_a_request_that_cannot_be_parsed_is_400_and_the_connection_closes(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /coupons/c1 HTTP/1.1\r\nHost: x\r\nContent-Length: twelve\r\n\r\n")
        head, body, _ = _read_response(sock)
        assert head.startswith(b"HTTP/1.1 400 ") and json.loads(body) == {"message": "Bad Request"}
        assert sock.recv(1) == b""  # closed


def test_head_gets_the_headers_and_no_body(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("HEAD", "/coupons/c1")
        response = conn.getresponse()
        assert response.status == 405  # the route has GET only, and HEAD is not GET
        assert response.read() == b""
        conn.request("GET", "/coupons/c1")  # the connection is still in step
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(invoker):
    srv = HttpApiServer(ROUTES, invoker, port=0, idle_timeout_s=0.5)
    srv.start()
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(b"GET /coupons/c1 HTTP/1.1\r\nHost: x\r\n\r\n")
            head, _, _ = _read_response(sock)
            assert head.startswith(b"HTTP/1.1 200 ")
            started = time.monotonic()
            assert sock.recv(1) == b""  # the server closed it
            assert 0.3 < time.monotonic() - started < 5
    finally:
        srv.stop()


def test_a_request_target_or_headers_past_their_limits_are_refused(server):
    """Bounded as http.server bounded them: a 64 KB target, 64 KB or 100 headers."""
    cases = [
        (b"GET /coupons/" + b"x" * (65 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /coupons/c1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * (65 * 1024) + b"\r\n\r\n", 431),
        (b"GET /coupons/c1 HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(101)) + b"\r\n", 431),
    ]
    for raw, status in cases:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(raw)
            head, _, _ = _read_response(sock)
            assert head.startswith(b"HTTP/1.1 %d " % status), head[:40]
    many = [(f"X-{n}", "v") for n in range(90)]  # under the limits: served
    assert call(server, "GET", "/coupons/c1", header_list=many)[0] == 200


def test_a_body_past_the_discard_limit_is_refused_without_reading_it(server):
    """A Content-Length far over the limit is answered at once: the client need not send 64 MB."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /coupons/c1/issue HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (1 << 30))
        head, body, _ = _read_response(sock)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(body) == {"message": "Request Entity Too Large"}


def test_chunked_request_body_is_read(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        chunks = iter([b'{"a": ', b"1}"])
        conn.request(
            "POST", "/coupons/c1/issue", chunks, {"Content-Type": "application/json"}, encode_chunked=True
        )
        event = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    assert event["body"] == '{"a": 1}'


def test_body_over_10_mb_is_413(server):
    status, _, body = call(server, "POST", "/coupons/c1/issue", body=b"x" * (10 * 1024 * 1024 + 1))
    assert (status, json.loads(body)) == (413, {"message": "Request Entity Too Large"})


def test_status_counts_requests_per_route_and_status(server):
    before = server.status()
    call(server, "GET", "/nowhere")
    echoed(server, "GET", "/coupons/c9")
    after = server.status()
    assert after["type"] == "HttpApi" and after["state"] == "listening" and server.ready()
    route = "GET /coupons/{couponId}"
    assert after["routes"][route]["requests"] == before["routes"][route]["requests"] + 1
    assert after["status_codes"]["404"] == before["status_codes"].get("404", 0) + 1


def test_port_in_use_is_a_clear_error(invoker):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        srv = HttpApiServer(ROUTES, invoker, port=port)
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port}.*already in use"):
            srv.start()


def test_waiting_for_a_busy_environment_counts_toward_the_integration_timeout():
    """Timeout 1 s fits the 3 s integration timeout, so the request first waits in its own thread for
    the one environment (at most 1 s); still busy then, it goes on in a thread of its own, and the 503
    comes at 3 s from the start, not 3 s after the wait."""
    hold = FunctionRuntime("Hold", "surge-Hold", "http_probe.handler", CODE, 1, 128, {}, 1)
    invoker = WorkerInvoker({"Hold": hold}, log=lambda f, line: None)
    srv = HttpApiServer([_route("Hold", "GET", "/hold")], invoker, port=0, integration_timeout_s=3)
    srv.start()
    sleepy = {"x-probe-action": "sleep", "x-probe-seconds": "0.9"}
    try:
        assert call(srv, "GET", "/hold")[0] == 200  # its environment is warm
        with ThreadPoolExecutor(4) as pool:
            busy = [pool.submit(call, srv, "GET", "/hold", b"", sleepy) for _ in range(4)]  # ~3.6 s of work
            time.sleep(0.2)
            started = time.monotonic()
            status, _, _ = call(srv, "GET", "/hold")
            elapsed = time.monotonic() - started
            assert status == 503 and 2.5 < elapsed < 3.6, (status, elapsed)
            [future.result() for future in busy]
    finally:
        srv.stop()
        invoker.close()
