"""The HTTP API gateway, served by uvicorn in the server's own event loop.

:class:`~server.api.gateway.Gateway` is the ASGI application; :func:`serve` binds its address
(port 0 supported: the bound one is returned) and runs it until :meth:`Served.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from micro import errors
from server.api.gateway import MAX_HEADER_BYTES, Dispatch, Gateway, Identify, Limits

__all__ = ["Dispatch", "Gateway", "Identify", "Limits", "Served", "serve"]


@dataclass
class Served:
    """A running gateway: its bound address, stopped with :meth:`stop`."""

    address: str
    _server: object
    _task: asyncio.Task[None]
    _app: Gateway

    async def stop(self) -> None:
        self._server.should_exit = True  # type: ignore[attr-defined]
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._app.close()


def _bind(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise errors.BadRequest(f"invalid API address {address!r}: expected host:port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on sockets that say they
    # are TCP, and without it every response written in two parts (headers, then body)
    # waited for the client's delayed ACK — 40 ms a request
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
    except OSError as exc:
        sock.close()
        raise errors.Unavailable(f"cannot listen on {address}: {exc.strerror or exc}") from None
    sock.set_inheritable(False)
    return sock


def _guarded(app: Gateway) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol with a deadline on each request's head.

    uvicorn closes a connection left idle between requests, but one that trickles a
    request's headers a byte at a time (slowloris), or opens and sends nothing, it would
    keep forever. Here a connection has ``app.limits.read_seconds`` from when it opens, or
    its last response ended, to send a whole request head: past it the gateway answers 408
    (when some of it came) and closes it. The body has its own deadline
    (:meth:`Gateway._body`).

    A request h11 cannot parse is answered with the gateway's error JSON (uvicorn's own
    answer is a text/plain line): 431 for a head longer than h11 buffers, else 400.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    late = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"

    class Guarded(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _waiting: object = None  # the request cycle when the wait for a head began
        _partial = False  # some of the awaited head came

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await_head()

        def data_received(self, data: bytes) -> None:
            if self._timer is not None:
                self._partial = True
            super().data_received(data)
            self._check_head()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._await_head()
            self._check_head()  # a pipelined request may have started already

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel()
            super().connection_lost(exc)

        def _await_head(self) -> None:
            self._cancel()
            self._waiting, self._partial = self.cycle, False
            self._timer = self.loop.call_later(app.limits.read_seconds, self._too_slow)

        def _check_head(self) -> None:
            if self._timer is not None and self.cycle is not self._waiting:
                self._cancel()  # the head is in: a request started

        def _cancel(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def send_400_response(self, msg: str) -> None:
            if len(self.conn.trailing_data[0]) > MAX_HEADER_BYTES:  # h11's "buffer too long"
                refusal = errors.MicroError(
                    f"request headers too large (limit {MAX_HEADER_BYTES} bytes)", code=431
                )
            else:
                refusal = errors.BadRequest("malformed HTTP request")
            body = refusal.to_json().encode()
            head = (
                f"HTTP/1.1 {refusal.code} {refusal.status}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
            )
            self.transport.write(head.encode() + body)
            self.transport.close()

        def _too_slow(self) -> None:
            self._timer = None
            if not self.transport.is_closing():
                if self._partial:
                    self.transport.write(late)
                self.transport.close()

    return Guarded


async def serve(app: Gateway, address: str, *, tls: tuple[str, str] | None = None) -> Served:
    """Serve ``app`` at ``address`` (``host:port``) in the running loop; over HTTPS with
    ``tls`` (certificate and key PEM files: the gRPC side's pair).

    Raises:
        Unavailable: the address cannot be bound (in use, not this host's).
    """
    import uvicorn

    ready = asyncio.Event()

    class _Embedded(uvicorn.Server):
        # the micro server owns the process's signals
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            ready.set()

    # the micro server says where it listens; uvicorn's own lines would repeat it
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)

    sock = _bind(address)
    config = uvicorn.Config(
        app,
        http=_guarded(app),
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        date_header=False,
        timeout_keep_alive=5,  # idle connections go after 5 s
        timeout_graceful_shutdown=2,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,  # header floods
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    server = _Embedded(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiter.cancel()
        sock.close()
        raise errors.Unavailable(f"cannot serve HTTP on {address}")
    host, port = sock.getsockname()[:2]
    bound = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return Served(bound, server, task, app)
