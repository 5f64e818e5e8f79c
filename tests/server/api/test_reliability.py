"""The gateway against clients that misbehave or crowd it: header floods, slow clients that
would pin connections (slowloris), and many connections at once — with raw sockets, waiting
on the server's answer with a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

from tests.server.api.test_gateway import Api
from tests.server.api.test_gateway import api as api  # the fixture: a server, a test service

READ_SECONDS = 0.5  # the gateway's deadline for a request's head, and for its body


def _gateway(api: Api) -> tuple[str, int]:
    host, _, port = api.url.removeprefix("http://").rpartition(":")
    return host, int(port)


def _shorten(api: Api) -> None:
    gateway = api.server._api._app
    gateway.limits = dataclasses.replace(gateway.limits, read_seconds=READ_SECONDS)


async def _until_closed(reader: asyncio.StreamReader, *, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection; fails after ``timeout``."""
    async with asyncio.timeout(timeout):
        return await reader.read()


async def test_header_floods_are_431_and_never_reach_a_node(api: Api) -> None:
    host, port = _gateway(api)
    start = b"GET /greeter/greeter/hello?name=f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    floods = {
        "one huge header": b"X-Big: " + b"a" * 100_000 + b"\r\n",
        "thousands of small ones": b"".join(b"X-H%d: v\r\n" % i for i in range(4000)),
        "more than a node takes": b"X-Trace: " + b"t" * 5000 + b"\r\n",
    }
    received = len(api.greeter.received)
    for what, flood in floods.items():
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(start + flood + b"\r\n")
        answer = await _until_closed(reader)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 431 "), (what, answer[:200])
        assert b"request headers too large" in answer, what
    assert len(api.greeter.received) == received
    # a head past what the gateway buffers before it is parsed: 431 too, as JSON
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(start + b"X-Slow: " + b"a" * 70_000)  # no end of the line yet
    answer = await _until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    assert json.loads(body)["code"] == 431 and "request headers too large" in json.loads(body)["detail"]


async def test_a_malformed_request_is_a_400_in_json(api: Api) -> None:
    """What h11 cannot parse is answered with the gateway's error JSON, not a text/plain line."""
    host, port = _gateway(api)
    for garbage in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nno colon here\r\n\r\n"):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(garbage)
        answer = await _until_closed(reader)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 400 "), (garbage, answer[:100])
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"content-type: application/json" in head.lower(), head
        error = json.loads(body)
        assert set(error) == {"id", "code", "detail", "status"} and error["code"] == 400, error


async def test_a_slowloris_client_is_cut_off(api: Api) -> None:
    """Headers trickled in a line at a time: the connection is answered 408 and closed once
    the head's deadline passes, however steadily the lines come."""
    _shorten(api)
    host, port = _gateway(api)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /greeter/greeter/hello?name=x HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    received = b""
    for line in range(1000):
        writer.write(b"X-Slow-%d: 1\r\n" % line)
        try:
            async with asyncio.timeout(0.05):  # poll: a line every 50 ms until the server answers
                received = await reader.read()
        except TimeoutError:
            assert time.monotonic() - started < 10, "the slow client was never cut off"
            continue
        break
    writer.close()
    assert received.startswith(b"HTTP/1.1 408 "), received[:100]
    assert time.monotonic() - started >= READ_SECONDS


async def test_a_silent_connection_and_a_slow_body_time_out(api: Api) -> None:
    _shorten(api)
    host, port = _gateway(api)
    reader, silent = await asyncio.open_connection(host, port)
    assert await _until_closed(reader) == b""  # nothing sent: closed without a word
    silent.close()
    reader, writer = await asyncio.open_connection(host, port)
    head = b"POST /greeter/greeter/hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    writer.write(head + b'{"name":')  # and the rest never comes
    answer = await _until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"the request body did not arrive within 0.5s" in answer


async def test_200_concurrent_connections_see_no_error(api: Api) -> None:
    """200 keep-alive connections calling a user service for about 3 s: every request
    answered 200, and every connection served many."""
    host, port = _gateway(api)
    request = b"GET /greeter/greeter/hello?name=load HTTP/1.1\r\nHost: x\r\n\r\n"
    failures: list[bytes] = []
    served: list[int] = []
    deadline = time.monotonic() + 3.0

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        count = 0
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
                body = await reader.readexactly(length)
                if not head.startswith(b"HTTP/1.1 200 ") or body != b'{"message":"Hello load"}':
                    failures.append(head + body)
                count += 1
        finally:
            writer.close()
            served.append(count)

    async with asyncio.timeout(60):
        results = await asyncio.gather(*(client() for _ in range(200)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    assert not failures, failures[:3]
    assert len(served) == 200 and min(served) >= 1, sorted(served)[:10]
