"""The gateway against tools and malformed input: its OpenAPI document validates as OpenAPI
3.1, schemathesis finds no 5xx and no response outside the document, and Hypothesis-made
paths, headers and bodies never get a 5xx (nor grow the server's memory without bound).

Each generator runs a bounded number of examples (no shrinking past the first failure's
report, no example database), so the file takes seconds.
"""

from __future__ import annotations

import asyncio
import json
import socket
import tracemalloc
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from micro.auth.grpc import GrpcAuth
from tests.server.api.test_gateway import Api, bearer, request
from tests.server.api.test_gateway import api as api  # the fixture: a server, a test service

FUZZ = settings(
    max_examples=60,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


async def _service_token(api: Api) -> str:
    """A token of a service account: what a test service's own client would carry."""
    manage = GrpcAuth(api.server.bound_address, token=api.admin)
    try:
        await manage.generate("fuzzer", secret="pw", type="service", scopes=["service"], namespace="micro")
    finally:
        await manage.close()
    login = GrpcAuth(api.server.bound_address)
    try:
        return (await login.token(id="fuzzer", secret="pw", namespace="micro")).access_token
    finally:
        await login.close()


async def test_the_openapi_document_is_valid_openapi_3_1(api: Api) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV31SpecValidator

    reply = await request(api.url + "/openapi.json", headers=bearer(api.admin))
    spec = reply.json()
    assert spec["openapi"] == "3.1.0"
    assert "/greeter/cook" in spec["paths"] and "/store/read" in spec["paths"]
    validate(spec, cls=OpenAPIV31SpecValidator)  # raises, naming the first problem


async def test_schemathesis_finds_no_5xx_and_no_schema_violation(api: Api) -> None:
    """The test service's JSON endpoints (the kitchen-sink ``Cook``: nested and recursive
    messages, enums, maps, repeated fields, well-known types) with valid and invalid data,
    called with a service account's token."""
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    token = await _service_token(api)
    spec = (await request(api.url + "/openapi.json", headers=bearer(token))).json()
    schema = schemathesis.openapi.from_dict(spec)
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path in ("/greeter/hello", "/greeter/cook") and result.ok().method in ("get", "post")
    ]
    assert len(operations) == 4, [(o.method, o.path) for o in operations]
    cases = st.one_of(*(operation.as_strategy(mode) for operation in operations for mode in GenerationMode))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    checks.append(response_schema_conformance)
    calls: list[int] = []

    @settings(FUZZ, max_examples=40)
    @given(case=cases)
    def run(case: Any) -> None:
        response = case.call(base_url=api.url, headers=bearer(token), timeout=30)
        calls.append(response.status_code)
        case.validate_response(response, checks=checks)

    await asyncio.to_thread(run)
    assert 200 in calls and any(400 <= code < 500 for code in calls), sorted(set(calls))


# -- Hypothesis over raw requests ---------------------------------------------------------------

_TOKENS = st.sampled_from(["", "a", "greeter", "store", "auth", "..", "%2e%2e", "%00", "v1", "-", "ü"])
_PATHS = st.lists(st.one_of(_TOKENS, st.text(st.characters(codec="ascii"), max_size=12)), max_size=6).map(
    lambda parts: "/" + "/".join(parts)
)
_HEADER_NAMES = st.sampled_from(
    ["micro-namespace", "authorization", "cookie", "content-type", "origin", "x-custom", "grpc-timeout", "te"]
)
_HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
_BODIES = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode()),
)


def _send(host: str, port: int, raw: bytes) -> bytes:
    """One raw HTTP exchange; returns the status line's code (b"" when the server closed)."""
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(raw)
        received = b""
        while b"\r\n" not in received:
            data = sock.recv(4096)
            if not data:
                break
            received += data
    return received.split(b" ", 2)[1] if received.startswith(b"HTTP/1.1 ") else b""


async def test_malformed_paths_headers_and_bodies_never_get_a_5xx(api: Api) -> None:
    host, _, port = api.url.removeprefix("http://").rpartition(":")
    answered: list[bytes] = []

    @settings(FUZZ, max_examples=40)
    @given(
        method=st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"HEAD", b"BREW"]),
        path=_PATHS,
        query=st.text(st.characters(codec="ascii", exclude_characters=" #\r\n"), max_size=30),
        headers=st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=4),
        body=_BODIES,
    )
    def run(method: bytes, path: str, query: str, headers: list[tuple[str, str]], body: bytes) -> None:
        from urllib.parse import quote

        target = quote(path, safe="/%") + ("?" + query if query else "")
        lines = [method + b" " + target.encode() + b" HTTP/1.1", b"Host: fuzz", b"Connection: close"]
        lines += [f"{name}: {value}".encode("latin-1") for name, value in headers]
        lines.append(b"Content-Length: %d" % len(body))
        code = _send(host, int(port), b"\r\n".join(lines) + b"\r\n\r\n" + body)
        answered.append(code)
        assert not code.startswith(b"5"), (code, method, target, headers, body)

    tracemalloc.start()
    try:
        await asyncio.to_thread(run)  # warm: caches and first-use allocations
        before = tracemalloc.get_traced_memory()[0]
        await asyncio.to_thread(run)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert any(code.startswith(b"4") for code in answered)
    assert grown < 4 * 1024 * 1024, f"the server kept {grown} bytes over 40 requests"
