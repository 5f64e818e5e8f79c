"""Where a service finds its platform, and state kept per running event loop.

A service learns everything from ``MICRO_*`` variables (set by the runtime, or by hand; read
through :mod:`micro.settings`):
``MICRO_PROXY`` (the server's gRPC address), ``MICRO_NAMESPACE``, ``MICRO_SERVICE_NAME`` /
``MICRO_SERVICE_VERSION`` and its credentials (``MICRO_AUTH_FILE``, ``MICRO_AUTH_ID`` +
``MICRO_AUTH_SECRET`` or ``MICRO_TOKEN``; the auth feature plugs in through
:data:`token_provider`). A server serving TLS is reached with ``MICRO_PROXY_TLS=1``, and
``MICRO_PROXY_CA`` (a PEM file) when its certificate is not signed by a system-trusted CA.

Clients ask :func:`tls_for` how to dial an address (the CLI and workspace register their
environment's address with :func:`use_tls`) and :func:`call_deadline` for the deadline of
unary calls that set none (the CLI's ``--timeout``; services set none).

gRPC channels belong to the event loop that created them, so module-level clients keep
theirs in :func:`loop_state`: one bag per running loop, closed when that loop shuts down
(``asyncio.run`` and pytest's per-test loops call ``shutdown_asyncgens``, which runs the
closers while the loop still runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from micro import settings

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_PROXY",
    "LoopState",
    "authenticate",
    "call_deadline",
    "loop_state",
    "namespace",
    "proxy_address",
    "service_name",
    "set_call_deadline",
    "tls_for",
    "token",
    "token_provider",
    "use_tls",
]

log = logging.getLogger(__name__)

DEFAULT_PROXY = "127.0.0.1:8081"
DEFAULT_NAMESPACE = "micro"

# The auth feature sets this to a function returning a current access token (or None); it
# is asked before MICRO_TOKEN so that refreshed service credentials win.
token_provider: Callable[[], str | None] | None = None

# The name of the service running in this process (set by micro.Service), sent as
# ``micro-from-service`` on outgoing calls.
_current_service = ""


def proxy_address() -> str:
    return settings.client().proxy or DEFAULT_PROXY


# addresses to dial over TLS, each with the CA file to trust ("" = the system's roots)
_tls: dict[str, str] = {}


def use_tls(address: str, ca: str = "") -> None:
    """Dial ``address`` over TLS from now on, trusting ``ca`` (a PEM file; "" = system roots)."""
    _tls[address] = ca


def tls_for(address: str) -> str | None:
    """How to dial ``address``: None for plaintext, else the CA file to trust ("" = system roots).

    Addresses registered with :func:`use_tls` first; then the proxy's address when
    ``MICRO_PROXY_TLS`` is true or ``MICRO_PROXY_CA`` names a file. Nodes of services are
    always dialled in plaintext (they listen on loopback or a private network).
    """
    if address in _tls:
        return _tls[address]
    client = settings.client()
    if (client.proxy_tls or client.proxy_ca) and address == proxy_address():
        return client.proxy_ca
    return None


# the deadline of unary calls that set none, in seconds (None: no deadline)
_call_deadline: float | None = None


def set_call_deadline(seconds: float | None) -> None:
    """Give every unary call made from now on without a deadline of its own this one (the
    CLI's ``--timeout``; channels opened before keep theirs)."""
    global _call_deadline
    _call_deadline = seconds


def call_deadline(fallback: float | None = None) -> float | None:
    """The deadline set with :func:`set_call_deadline`, else ``fallback``."""
    return _call_deadline if _call_deadline is not None else fallback


def namespace() -> str:
    return settings.client().namespace or DEFAULT_NAMESPACE


def token() -> str | None:
    """The access token outgoing calls carry, or None."""
    if token_provider is not None:
        value = token_provider()
        if value:
            return value
    if _session.access:
        return _session.access
    return settings.client().token or None


class _Session:
    """The service's own token pair, from its account's id and secret."""

    access = ""
    refresh = ""
    expiry = 0.0
    account: tuple[str, str] | None = None


_session = _Session()
REFRESH_BEFORE_SECONDS = 120.0


def credentials() -> tuple[str, str] | None:
    """The service account's (id, secret): ``MICRO_AUTH_FILE`` or ``MICRO_AUTH_ID``/``_SECRET``.

    ``MICRO_AUTH_FILE`` names a JSON file ``{"id": "...", "secret": "..."}`` (0600, written
    by the runtime). None when neither is set.
    """
    identity = settings.service()
    path = identity.auth_file
    if path:
        from micro import errors

        try:
            data = json.loads(Path(path).read_text())
            return str(data["id"]), str(data["secret"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise errors.Unauthorized(
                f"cannot read the credentials in MICRO_AUTH_FILE {path}: {exc}"
            ) from exc
    account, secret = identity.auth_id, identity.auth_secret
    if account and secret:
        return account, secret
    return None


async def authenticate(*, force: bool = False) -> None:
    """Get (or refresh, when it expires within two minutes) the service's access token.

    Nothing to do without credentials (``MICRO_TOKEN`` is then used as it is).
    """
    account = credentials()
    if account is None:
        return
    if not force and _session.access and _session.expiry - time.time() > REFRESH_BEFORE_SECONDS:
        return
    from micro import errors
    from micro.auth.grpc import GrpcAuth

    auth = GrpcAuth(proxy_address(), namespace=namespace())
    try:
        pair = None
        if _session.refresh and _session.account == account:
            with contextlib.suppress(errors.Unauthorized, errors.Forbidden, errors.NotFound):
                pair = await auth.token(refresh_token=_session.refresh, namespace=namespace())
        if pair is None:
            pair = await auth.token(id=account[0], secret=account[1], namespace=namespace())
    finally:
        await auth.close()
    _session.access, _session.refresh = pair.access_token, pair.refresh_token
    _session.expiry = float(pair.expiry or time.time() + 900)
    _session.account = account


def service_name() -> str:
    """The name of the service this process runs ("" outside a service)."""
    return _current_service


def set_service_name(name: str) -> None:
    global _current_service
    _current_service = name


class LoopState:
    """Values cached for one event loop, and closers run when that loop shuts down."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._sentinel: AsyncIterator[None] | None = None

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(closer)

    async def aclose(self) -> None:
        closers, self._closers = self._closers, []
        self.values.clear()
        for closer in reversed(closers):
            try:
                await closer()
            except Exception:  # a closer failing must not keep the others from running
                log.debug("closing a loop-bound client failed", exc_info=True)


_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopState] = weakref.WeakKeyDictionary()


async def _sentinel(state: LoopState) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await state.aclose()


class _Closing(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=_Closing)


def loop_client(key: str, build: Callable[[str, str, str | None], C]) -> C:
    """The running loop's module-level client ``key`` (``micro.store``, ``micro.events``…):
    ``build(proxy address, namespace, token)`` on first use and again once the service's
    token was refreshed; each is closed with the loop."""
    state = loop_state()
    current = token()
    client, client_token = state.values.get(key, (None, None))
    if client is None or client_token != current:
        client = build(proxy_address(), namespace(), current)
        state.values[key] = (client, current)
        state.on_close(client.close)
    return client  # type: ignore[no-any-return]


def loop_state() -> LoopState:
    """The state of the running loop (created on first use)."""
    loop = asyncio.get_running_loop()
    state = _states.get(loop)
    if state is None:
        state = LoopState()
        _states[loop] = state
        # An async generator started inside the loop is registered with it (the loop's
        # first-iteration hook) and closed by loop.shutdown_asyncgens(): the one hook
        # asyncio offers to run code at the end of asyncio.run while the loop still runs.
        gen = _sentinel(state)
        step = gen.__anext__()
        with contextlib.suppress(StopIteration):
            step.send(None)  # type: ignore[attr-defined]
        state._sentinel = gen
    return state
