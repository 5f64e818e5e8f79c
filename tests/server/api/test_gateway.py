"""The HTTP gateway against a real in-process server (auth on), with a real HTTP client.

Core services are reached through the handlers gRPC calls reach (same boundary); a user
service (the workspace tests' ``greeter``: ``demo.Greeter`` registered as ``greeter``)
through the proxy's, which forwards to its node with a call token.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from micro.auth import Access, Resource, Rule
from micro.auth.grpc import GrpcAuth
from tests.micro_tui._greeter import Greeter


@dataclass
class Api:
    url: str
    admin: str  # a micro admin's access token
    user: str  # a plain account of micro
    greeter: Greeter
    server: Any  # server.app.Server


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def request(
    url: str, *, method: str = "GET", body: bytes | str | None = None, headers: dict[str, str] | None = None
) -> Reply:
    data = body.encode() if isinstance(body, str) else body

    def send() -> Reply:
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return Reply(
                    response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
                )
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())

    return await asyncio.to_thread(send)


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(micro_home: Path) -> AsyncIterator[Api]:
    from server.app import Server

    srv = Server(
        data_dir=micro_home / "server",
        address="127.0.0.1:0",
        api_address="127.0.0.1:0",
        api_cors_origins=frozenset({"https://app.example"}),
        profile="test",
    )
    await srv.start()
    login = GrpcAuth(srv.bound_address)
    admin = (await login.token(id="admin", secret="micro", namespace="micro")).access_token
    manage = GrpcAuth(srv.bound_address, token=admin)
    await manage.generate("plain", secret="pw", namespace="micro")
    user = (await login.token(id="plain", secret="pw", namespace="micro")).access_token
    await manage.close()
    await login.close()
    greeter = Greeter()
    await greeter.start(srv.bound_address, admin)
    try:
        yield Api(f"http://{srv.api_bound_address}", admin, user, greeter, srv)
    finally:
        await greeter.stop()
        await srv.stop(grace=0)


async def test_the_root_says_the_version(api: Api) -> None:
    reply = await request(api.url + "/")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert set(reply.json()) == {"version"}


async def test_a_user_service_by_post_get_and_form(api: Api) -> None:
    posted = await request(api.url + "/greeter/greeter/hello", method="POST", body='{"name":"John"}')
    assert (posted.status, posted.json()) == (200, {"message": "Hello John"})
    got = await request(api.url + "/greeter/greeter/hello?name=Jane")
    assert (got.status, got.json()) == (200, {"message": "Hello Jane"})
    form = await request(
        api.url + "/greeter/greeter/hello",
        method="POST",
        body="name=Form",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.json() == {"message": "Hello Form"}
    # the node got a call token minted for it, never a caller's own token
    method, received = api.greeter.received[-1]
    assert (method, received.name) == ("Hello", "Form")


async def test_core_services_with_the_callers_identity(api: Api) -> None:
    token = await request(api.url + "/auth/token", method="POST", body='{"id":"admin","secret":"micro"}')
    assert token.status == 200 and token.json()["token"]["access_token"]
    value = base64.b64encode(b"hello").decode()
    write = await request(
        api.url + "/store/write",
        method="POST",
        body=json.dumps({"record": {"key": "k", "value": value}}),
        headers=bearer(api.admin),
    )
    assert (write.status, write.json()) == (200, {"version": "1"})
    # the token as a cookie works too
    read = await request(api.url + "/store/read?key=k", headers={"Cookie": f"micro-token={api.admin}"})
    assert read.status == 200
    assert read.json()["records"][0]["value"] == value


async def test_the_cookie_acts_only_for_requests_another_site_cannot_make(api: Api) -> None:
    """A browser sends the micro-token cookie with whatever a page makes it request (a link,
    an image, a form): such a request must not act with the cookie's token."""
    cookie = {"Cookie": f"micro-token={api.admin}"}
    write = json.dumps({"record": {"key": "c", "value": base64.b64encode(b"v").decode()}})
    refused = "cannot act with the micro-token cookie"
    for page in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        reply = await request(api.url + "/store/write", method="POST", body=write, headers={**cookie, **page})
        assert reply.status == 403 and refused in reply.json()["detail"], reply.body
    assert (await request(api.url + "/store/read?key=c", headers=bearer(api.admin))).status == 404
    # a link (GET, no Origin) reads with the cookie but changes nothing
    ok = await request(api.url + "/store/write", method="POST", body=write, headers=cookie)
    assert ok.status == 200
    link = await request(api.url + "/store/delete?key=c", headers=cookie)
    assert link.status == 403 and "Store.Delete changes things" in link.json()["detail"], link.body
    assert (await request(api.url + "/store/read?key=c", headers=cookie)).status == 200
    # an allowlisted origin, and the Authorization header (no browser adds it), act as asked
    allowed = {**cookie, "Origin": "https://app.example", "Sec-Fetch-Site": "cross-site"}
    assert (await request(api.url + "/store/write", method="POST", body=write, headers=allowed)).status == 200
    assert (await request(api.url + "/store/delete?key=c", headers=bearer(api.admin))).status == 200
    assert (await request(api.url + "/store/read?key=c", headers=bearer(api.admin))).status == 404


@pytest.mark.parametrize(
    ("who", "code"),
    [("anonymous", 401), ("user", 403), ("garbage", 401), ("admin", 200)],
)
async def test_core_services_keep_their_permissions(api: Api, who: str, code: int) -> None:
    token = {"anonymous": "", "user": api.user, "garbage": "not.a.jwt", "admin": api.admin}[who]
    reply = await request(
        api.url + "/store/list", method="POST", body="{}", headers=bearer(token) if token else {}
    )
    assert reply.status == code, reply.body
    if code != 200:
        error = reply.json()
        assert set(error) == {"id", "code", "detail", "status"} and error["code"] == code


async def test_a_token_of_one_namespace_naming_another_is_refused(api: Api) -> None:
    # over HTTP the auth service answers Token and Inspect only: namespaces are made over gRPC
    create = await request(
        api.url + "/auth/namespaces/create", method="POST", body='{"name":"beta"}', headers=bearer(api.admin)
    )
    assert create.status == 404, create.body
    manage = GrpcAuth(api.greeter._registry.address, token=api.admin)  # type: ignore[union-attr]
    await manage.create_namespace("beta")
    await manage.close()
    reply = await request(
        api.url + "/store/list",
        method="POST",
        body="{}",
        headers={**bearer(api.user), "Micro-Namespace": "beta"},
    )
    assert reply.status == 403


async def test_a_repeated_micro_namespace_is_400(api: Api) -> None:
    """Two ``Micro-Namespace`` headers do not say which namespace the call acts in: refused as
    the call boundary refuses a repeated ``micro-namespace``, never acted on with the first."""
    host, _, port = api.url.removeprefix("http://").rpartition(":")

    def send(path: str) -> tuple[int, Any]:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            connection.putrequest("GET", path)
            connection.putheader("Authorization", f"Bearer {api.admin}")
            connection.putheader("Micro-Namespace", "micro")
            connection.putheader("Micro-Namespace", "beta")
            connection.endheaders()
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    for path in ("/store/read?key=k", "/openapi.json"):
        status, error = await asyncio.to_thread(send, path)
        assert (status, error["code"]) == (400, 400), (path, error)
        assert "Micro-Namespace" in error["detail"]


async def test_rules_apply_to_user_services(api: Api) -> None:
    manage = GrpcAuth(api.greeter._registry.address, token=api.admin)  # type: ignore[union-attr]
    await manage.create_rule(
        Rule("accounts-only", "*", Resource("service", "greeter", "*"), Access.GRANTED, priority=1)
    )
    await manage.delete_rule("default")
    await manage.close()
    anonymous = await request(api.url + "/greeter/greeter/hello?name=x")
    assert anonymous.status == 401
    user = await request(api.url + "/greeter/greeter/hello?name=x", headers=bearer(api.user))
    assert (user.status, user.json()) == (200, {"message": "Hello x"})


@pytest.mark.parametrize(
    ("path", "body", "code", "detail"),
    [
        ("/nosuch/call", "{}", 404, 'Service "nosuch" not found'),
        ("/greeter/greeter/nosuch", "{}", 404, "Endpoint Greeter.Nosuch not found"),
        ("/greeter/greeter/hello", '{"name":', 400, "malformed JSON"),
        ("/greeter/greeter/hello", "[1]", 400, "must be a JSON object"),
        (
            "/greeter/greeter/hello",
            '{"nmae":"x"}',
            400,
            'unknown field "nmae" (demo.HelloRequest has: name, times)',
        ),
        ("/greeter/greeter/hello", '{"name":5}', 400, 'field "name": expected a string, got 5'),
        ("/greeter/greeter/hello", '{"name":"error"}', 400, "name must not be 'error'"),
        ("/greeter/greeter/hello?a..b=1", "", 400, "invalid query field"),
        pytest.param(
            "/greeter/greeter/hello", "[" * 100_000 + "]" * 100_000, 400, "nested too deeply", id="deep-list"
        ),
        pytest.param(
            "/greeter/greeter/hello",
            '{"a":' * 50_000 + "1" + "}" * 50_000,
            400,
            "nested too deeply",
            id="deep-obj",
        ),
    ],
)
async def test_client_mistakes_are_4xx_json_naming_the_problem(
    api: Api, path: str, body: str, code: int, detail: str
) -> None:
    reply = await request(api.url + path, method="POST", body=body)
    assert reply.status == code, reply.body
    error = reply.json()
    assert error["code"] == code and detail in error["detail"]


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        (
            "/greeter/greeter/hello",
            '{"name":{"first":"x"}}',
            'field "name": expected a string, got an object',
        ),
        ("/greeter/greeter/hello?times=many", "", 'field "times": expected a 32-bit integer, got "many"'),
        (
            "/greeter/greeter/cook",
            '{"items":[{},{"label":"a","cuont":1}]}',
            'unknown field "items[1].cuont" (demo.Inner has: label, count)',
        ),
        ("/greeter/greeter/cook", '{"color":"PURPLE"}', 'field "color": expected one of COLOR_UNSPECIFIED'),
        (
            "/greeter/greeter/cook",
            '{"labels":{"a":"b"}}',
            'field "labels[a]": expected a 32-bit integer, got "b"',
        ),
        ("/greeter/greeter/cook", '{"when":"yesterday"}', 'field "when": expected an RFC 3339 time text'),
        ("/greeter/greeter/cook", '{"text":"a","number":1}', 'fields "text" and "number" are both of oneof'),
    ],
)
async def test_a_body_that_does_not_fit_the_request_is_one_line_naming_the_field(
    api: Api, path: str, body: str, detail: str
) -> None:
    """Not protobuf's parser's words (``expected string or bytes-like object, got 'dict'``,
    ``Available Fields(except extensions)``): the field's path and what was wrong with it,
    as the CLI says it (the same codec)."""
    reply = await request(api.url + path, method="POST", body=body)
    assert reply.status == 400, reply.body
    error = reply.json()
    assert error["detail"].startswith(f"Error creating request: {detail}"), error["detail"]
    assert "\n" not in error["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [(b"name=%ff", "form is not valid UTF-8"), (b"a..b=1", "invalid form field 'a..b'")],
)
async def test_a_bad_form_body_is_400_naming_the_form_not_the_query(
    api: Api, body: bytes, detail: str
) -> None:
    """A mistake in a form-encoded body says so: "query" would send the user to the URL."""
    reply = await request(
        api.url + "/greeter/greeter/hello",
        method="POST",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 400, reply.body
    assert reply.json()["detail"] == detail


async def test_a_gateway_bug_is_a_500_in_json_without_its_text(api: Api) -> None:
    """An exception the gateway did not expect is logged and answered with the error JSON,
    never uvicorn's text/plain page nor the exception's own words."""
    gateway = api.server._api._app

    def broken(method: str, metadata: Any) -> Any:
        raise RuntimeError("secret internals")

    gateway.dispatch = broken
    reply = await request(api.url + "/greeter/greeter/hello?name=x")
    assert reply.status == 500, reply.body
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()
    assert (error["code"], error["detail"]) == (500, "internal error")
    assert b"secret" not in reply.body


def _raw_exchange(host: str, head: bytes, chunks: list[bytes]) -> bytes:
    """Send ``head`` then ``chunks`` (stopping quietly when the server has answered and closed)
    and return what the server sent."""
    address, _, port = host.rpartition(":")
    with socket.create_connection((address, int(port)), timeout=30) as sock:
        sock.sendall(head)
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except OSError:
                break
        received = b""
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            received += data
            if b"\r\n\r\n" in received and b'"code":' in received:
                break
    return received


async def test_a_request_target_in_absolute_form_is_routed_by_its_path(api: Api) -> None:
    """``GET http://host/greeter/greeter/hello`` (how clients talk to a proxy; HTTP/1.1 servers
    must take it) calls the same endpoint as its path alone."""
    host = api.url.removeprefix("http://")
    target = f"http://{host}/greeter/greeter/hello?name=Abs"
    head = f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    answer = await asyncio.to_thread(_raw_exchange, host, head.encode(), [])
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {"message": "Hello Abs"}


async def test_a_body_over_the_limit_is_413_declared_or_not(api: Api) -> None:
    host = api.url.removeprefix("http://")
    declared = b"POST /greeter/greeter/hello HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"
    answer = await asyncio.to_thread(_raw_exchange, host, declared, [])
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    # chunked: counted as it arrives, refused once past the limit
    chunked = b"POST /greeter/greeter/hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 65536
    body = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 80  # 5 MiB
    answer = await asyncio.to_thread(_raw_exchange, host, chunked, body)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/greeter/greeter/hello", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"),
        ("BREW", "/store/read", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"),
        ("POST", "/", "GET, HEAD, OPTIONS"),
        ("DELETE", "/", "GET, HEAD, OPTIONS"),
        ("POST", "/openapi.json", "GET, HEAD, OPTIONS"),
        ("PUT", "/openapi.json", "GET, HEAD, OPTIONS"),
    ],
)
async def test_a_method_a_path_does_not_take_is_405_saying_which_it_takes(
    api: Api, method: str, path: str, allow: str
) -> None:
    """``/`` and ``/openapi.json`` are documents to GET, not services: another method there is
    405 with ``Allow``, not a 404 for a service named ``openapi.json``."""
    reply = await request(api.url + path, method=method, body="{}", headers=bearer(api.admin))
    assert reply.status == 405, reply.body
    assert reply.headers["allow"] == allow
    error = reply.json()
    assert error["code"] == 405 and method in error["detail"]


async def test_cors_echoes_only_allowed_origins(api: Api) -> None:
    allowed = await request(
        api.url + "/greeter/greeter/hello", method="OPTIONS", headers={"Origin": "https://app.example"}
    )
    assert allowed.status == 204
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "Micro-Namespace" in allowed.headers["access-control-allow-headers"]
    other = await request(
        api.url + "/greeter/greeter/hello", method="OPTIONS", headers={"Origin": "https://evil.example"}
    )
    assert other.status == 204
    assert "access-control-allow-origin" not in other.headers
    call = await request(
        api.url + "/greeter/greeter/hello?name=x", headers={"Origin": "https://evil.example"}
    )
    assert call.status == 200 and "access-control-allow-origin" not in call.headers


async def test_a_server_stream_is_ndjson_flushed_as_it_comes(api: Api) -> None:
    api.greeter.step = asyncio.Event()
    host = api.url.removeprefix("http://")
    connection = http.client.HTTPConnection(host, timeout=30)

    def open_stream() -> http.client.HTTPResponse:
        connection.request("GET", "/greeter/greeter/stream?name=Ann&times=3")
        return connection.getresponse()

    api.greeter.step.set()  # the first reply only
    response = await asyncio.to_thread(open_stream)
    assert response.status == 200
    assert response.getheader("content-type") == "application/x-ndjson"
    first = await asyncio.to_thread(response.readline)
    assert json.loads(first) == {"message": "Hello Ann #1"}  # before the stream has ended
    lines = []
    for _ in range(2):
        api.greeter.step.set()
        lines.append(json.loads(await asyncio.to_thread(response.readline)))
    assert lines == [{"message": "Hello Ann #2"}, {"message": "Hello Ann #3"}]
    assert await asyncio.to_thread(response.read) == b""
    connection.close()


async def test_a_quiet_stream_answers_its_status_once_established(api: Api) -> None:
    """A watch with nothing to say yet still answers 200 at once (a core service's, in the
    server, and a user service's through the proxy, once its node sent its headers)."""
    host = api.url.removeprefix("http://")

    def status_of(path: str, headers: dict[str, str]) -> tuple[http.client.HTTPConnection, Any]:
        connection = http.client.HTTPConnection(host, timeout=10)  # fails, not hangs, without
        connection.request("GET", path, headers=headers)
        return connection, connection.getresponse()

    watch, response = await asyncio.to_thread(status_of, "/config/watch?path=quiet", bearer(api.admin))
    assert (response.status, response.getheader("content-type")) == (200, "application/x-ndjson")
    watch.close()
    api.greeter.step = asyncio.Event()  # no reply until set
    api.greeter.announce = True
    stream, response = await asyncio.to_thread(status_of, "/greeter/greeter/stream?name=Ann&times=1", {})
    assert response.status == 200
    api.greeter.step.set()
    assert json.loads(await asyncio.to_thread(response.readline)) == {"message": "Hello Ann #1"}
    stream.close()


async def test_a_stream_that_fails_before_its_headers_is_an_error_status(api: Api) -> None:
    """An error before the stream is established is the call's status, every time (not a 200
    whose only line is the error: the node's empty headers come just before its status)."""
    for _ in range(10):
        reply = await request(api.url + "/greeter/greeter/stream?name=error&times=1")
        assert reply.status == 400, reply.body
        assert reply.json()["detail"] == "name must not be 'error'"


async def test_head_calls_only_side_effect_free_endpoints(api: Api) -> None:
    """HEAD is GET without the body: it must not change anything, so an endpoint not marked
    side-effect free answers 405 (saying which methods it takes) without being called."""
    calls = len(api.greeter.received)
    refused = await request(api.url + "/greeter/greeter/hello?name=x", method="HEAD")
    assert refused.status == 405
    assert refused.headers["allow"] == "DELETE, GET, OPTIONS, PATCH, POST, PUT"
    assert refused.headers["content-type"] == "application/json"
    assert len(api.greeter.received) == calls  # not called
    write = json.dumps({"record": {"key": "h", "value": base64.b64encode(b"v").decode()}})
    await request(api.url + "/store/write", method="POST", body=write, headers=bearer(api.admin))
    delete = await request(api.url + "/store/delete?key=h", method="HEAD", headers=bearer(api.admin))
    assert delete.status == 405
    # side-effect free: answered as GET is, without the body (a stream's once established)
    read = await request(api.url + "/store/read?key=h", method="HEAD", headers=bearer(api.admin))
    assert (read.status, read.headers["content-type"], read.body) == (200, "application/json", b"")
    assert int(read.headers["content-length"]) > 0
    watch = await request(api.url + "/config/watch?path=h", method="HEAD", headers=bearer(api.admin))
    assert (watch.status, watch.headers["content-type"], watch.body) == (200, "application/x-ndjson", b"")
    missing = await request(api.url + "/store/read?key=nosuch", method="HEAD", headers=bearer(api.admin))
    assert missing.status == 404


async def test_a_client_that_leaves_a_stream_ends_it_on_the_node(api: Api) -> None:
    api.greeter.step = asyncio.Event()
    host = api.url.removeprefix("http://")
    connection = http.client.HTTPConnection(host, timeout=30)

    def open_stream() -> http.client.HTTPResponse:
        connection.request("GET", "/greeter/greeter/stream?name=Ann&times=1000")
        return connection.getresponse()

    api.greeter.step.set()
    response = await asyncio.to_thread(open_stream)
    await asyncio.to_thread(response.readline)
    connection.close()
    async with asyncio.timeout(30):
        await api.greeter.cancelled.wait()


# -- WebSocket ---------------------------------------------------------------------------------


def ws_url(api: Api, path: str) -> str:
    return "ws://" + api.url.removeprefix("http://") + path


async def test_a_bidi_stream_over_a_websocket(api: Api) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(ws_url(api, "/greeter/greeter/chat")) as socket_:
        for name in ("a", "b", "c"):
            await socket_.send(json.dumps({"name": name}))
            assert json.loads(await socket_.recv()) == {"message": f"Hello {name}"}
        await socket_.send("null")  # the end of the requests
        with pytest.raises(ConnectionClosed) as closed:
            await socket_.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


async def test_a_server_stream_and_a_unary_call_over_a_websocket(api: Api) -> None:
    from websockets.asyncio.client import connect

    async with connect(ws_url(api, "/greeter/greeter/stream")) as socket_:
        await socket_.send(json.dumps({"name": "Ann", "times": 2}))
        got = [json.loads(await socket_.recv()) for _ in range(2)]
    assert got == [{"message": "Hello Ann #1"}, {"message": "Hello Ann #2"}]
    async with connect(ws_url(api, "/greeter/greeter/hello")) as socket_:
        await socket_.send(json.dumps({"name": "Bo"}))
        assert json.loads(await socket_.recv()) == {"message": "Hello Bo"}


async def test_websocket_errors_are_a_last_frame_and_a_close_code(api: Api) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(ws_url(api, "/greeter/greeter/hello")) as socket_:
        await socket_.send('{"name":"error"}')
        frame = json.loads(await socket_.recv())
        assert frame["error"]["code"] == 400 and "name must not be 'error'" in frame["error"]["detail"]
        with pytest.raises(ConnectionClosed) as closed:
            await socket_.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    async with connect(ws_url(api, "/nosuch")) as socket_:
        assert json.loads(await socket_.recv())["error"]["code"] == 404


@pytest.mark.parametrize("path", ["/greeter/greeter/chat", "/greeter/greeter/hello"])
@pytest.mark.parametrize(("frame", "detail"), [("{bad", "malformed JSON"), ("[1]", "must be a JSON object")])
async def test_a_malformed_websocket_frame_is_a_400_frame_and_close(
    api: Api, path: str, frame: str, detail: str
) -> None:
    """A frame that is not a JSON object ends the socket with the 400 frame and close 4400 —
    a client stream's too (its requests are read by the handler), never a bare abnormal close."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(ws_url(api, path)) as socket_:
        await socket_.send(frame)
        error = json.loads(await socket_.recv())["error"]
        assert error["code"] == 400 and detail in error["detail"], error
        with pytest.raises(ConnectionClosed) as closed:
            await socket_.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_a_websocket_from_a_page_of_another_origin_is_refused(api: Api) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    headers = {"Origin": "https://evil.example", "Cookie": f"micro-token={api.admin}"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url(api, "/greeter/greeter/hello"), additional_headers=headers):
            pass
    assert refused.value.response.status_code == 403  # at the handshake, before any call
    allowed = {"Origin": "https://app.example"}
    async with connect(ws_url(api, "/greeter/greeter/hello"), additional_headers=allowed) as socket_:
        await socket_.send('{"name":"Cy"}')
        assert json.loads(await socket_.recv()) == {"message": "Hello Cy"}


# -- schemas and tokens: read and verified once ------------------------------------------------


async def test_schemas_are_kept_until_the_registry_says_the_service_changed(api: Api) -> None:
    from dataclasses import replace

    from micro.registry import Node
    from tests._poll import eventually

    cache = api.server._api._app.schemas
    hello = api.url + "/greeter/greeter/hello?name=x"
    assert (await request(hello)).status == 200
    reads = cache.reads
    compiled = (await cache.service("micro", "greeter"))[0]
    for _ in range(3):
        assert (await request(hello)).status == 200
    assert cache.reads == reads  # no timer: nothing read again while nothing changed

    # another node of the same version: read again, the compiled schema reused
    entry = api.greeter._entry
    other = replace(entry, nodes=[Node(id="greeter-2", address=api.greeter.address)])
    await api.greeter._registry.register(other)  # type: ignore[union-attr]
    await eventually(lambda: "greeter" not in cache._domains["micro"].services, "the node change seen")
    assert (await request(hello)).status == 200
    assert cache.reads == reads + 1
    assert (await cache.service("micro", "greeter"))[0] is compiled

    # gone: the next request says so at once, no stale schema answers
    await api.greeter._registry.deregister(replace(entry, nodes=[]))  # type: ignore[union-attr]
    await eventually(lambda: "greeter" not in cache._domains["micro"].services, "the removal seen")
    gone = await request(hello)
    assert (gone.status, gone.json()["detail"]) == (404, 'Service "greeter" not found')
    spec = (await request(api.url + "/openapi.json")).json()
    assert not any(path.startswith("/greeter/") for path in spec["paths"])
    await api.greeter.register()
    await eventually(lambda: "greeter" not in cache._domains["micro"].services, "the return seen")
    assert (await request(hello)).status == 200
    spec = (await request(api.url + "/openapi.json")).json()
    assert "/greeter/hello" in spec["paths"]


async def test_a_namespaces_document_shows_a_service_registered_after_it_was_served(api: Api) -> None:
    from micro.registry.schema import describe
    from tests._poll import eventually

    manage = GrpcAuth(api.greeter._registry.address, token=api.admin)  # type: ignore[union-attr]
    await manage.create_namespace("beta")
    await manage.close()
    headers = {**bearer(api.admin), "Micro-Namespace": "beta"}
    before = (await request(api.url + "/openapi.json", headers=headers)).json()
    assert "/store/read" in before["paths"] and not any(p.startswith("/hello2/") for p in before["paths"])
    entry = describe("hello2", [api.greeter.descriptor], address=api.greeter.address)
    await api.server.backends.registry.register(entry, domain="beta")

    async def shown() -> bool:
        spec = (await request(api.url + "/openapi.json", headers=headers)).json()
        return "/hello2/greeter/hello" in spec["paths"]

    await eventually(shown, "the new service in beta's document")


@pytest.mark.parametrize("path", ["/store/list", "/greeter/greeter/hello"])
async def test_a_requests_token_is_verified_once(
    api: Api, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from micro.auth.boundary import Boundary

    checked: list[str | None] = []
    caller = Boundary.caller

    async def counting(self: Boundary, token: str | None) -> Any:
        checked.append(token)
        return await caller(self, token)

    monkeypatch.setattr(Boundary, "caller", counting)
    reply = await request(api.url + path, method="POST", body="{}", headers=bearer(api.admin))
    assert reply.status == 200, reply.body
    assert checked == [f"Bearer {api.admin}"]


async def test_the_gateways_connections_send_without_delay(api: Api) -> None:
    """TCP_NODELAY on every connection: a response goes out in two writes (headers, body),
    and without it the second waits for the client's delayed ACK (40 ms a request)."""
    from tests._poll import eventually

    host, _, port = api.url.removeprefix("http://").rpartition(":")
    _, writer = await asyncio.open_connection(host, int(port))
    try:
        state = api.server._api._server.server_state
        await eventually(lambda: bool(state.connections), "the connection accepted")
        for protocol in state.connections:
            sock = protocol.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_namespaces_document_is_served_to_whoever_may_list_its_services(api: Api) -> None:
    """/openapi.json names every endpoint of a namespace: the registry's ListServices rule
    decides who gets it (micro's is public; another namespace's needs one of its accounts)."""
    manage = GrpcAuth(api.greeter._registry.address, token=api.admin)  # type: ignore[union-attr]
    await manage.create_namespace("beta")
    await manage.generate("beta-svc", secret="pw", namespace="beta", type="service")
    await manage.generate("mallory", secret="pw", namespace="micro", type="service")
    login = GrpcAuth(api.greeter._registry.address)
    beta_service = (await login.token(id="beta-svc", secret="pw", namespace="beta")).access_token
    micro_service = (await login.token(id="mallory", secret="pw", namespace="micro")).access_token
    await login.close()
    await manage.close()
    url = api.url + "/openapi.json"
    assert (await request(url)).status == 200  # micro's: public, as its service list is
    beta = {"Micro-Namespace": "beta"}
    assert (await request(url, headers=beta)).status == 401
    for token in (api.user, micro_service):
        refused = await request(url, headers={**bearer(token), **beta})
        assert refused.status == 403, refused.body
        assert set(refused.json()) == {"id", "code", "detail", "status"}
    served = await request(url, headers={**bearer(beta_service), **beta})
    assert served.status == 200 and "/store/read" in served.json()["paths"]
