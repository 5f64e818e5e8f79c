"""The servicer context of a call the gateway makes in-process.

The gateway calls the server's own method handlers — the same wrapped handlers gRPC calls
reach, so the call boundary, the Stats counters and the error mapping are the gRPC side's,
not a copy — and hands them this object instead of grpc's context: the request's metadata
(from its HTTP headers), its deadline, and the status a handler ends the call with.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import grpc

from micro.auth.boundary import Verified

__all__ = ["Aborted", "GatewayContext"]


class Aborted(grpc.aio.AbortError):  # type: ignore[misc]
    """A handler ended the call with a status (``context.abort``); grpc's own abort error, so
    the handler wrappers let it through as they do grpc's."""

    def __init__(self, code: grpc.StatusCode, details: str, trailers: Sequence[tuple[str, Any]]) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.trailers = tuple(trailers)


class GatewayContext:
    """What handlers (and the wrappers around them) use of ``grpc.aio.ServicerContext``."""

    def __init__(
        self,
        metadata: Sequence[tuple[str, str]],
        *,
        timeout: float | None,
        peer: str,
        verified: Verified | None = None,
        established: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._metadata = tuple(metadata)
        #: the verdict on the request's token, made once by the gateway: the server's
        #: admission of the call takes it instead of verifying the token again
        self.verified = verified
        #: called when the handler sends its response headers: the call is established (a
        #: server stream's HTTP response starts then, not at its first message)
        self._established = established
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._peer = peer
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._trailers: tuple[tuple[str, Any], ...] = ()
        self.cancelled_ = False

    # -- what the call carries ----------------------------------------------------------
    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def peer(self) -> str:
        return self._peer

    def cancelled(self) -> bool:
        return self.cancelled_

    def done(self) -> bool:
        return self.cancelled_

    def auth_context(self) -> dict[str, Any]:
        return {}

    # -- how the handler ends it --------------------------------------------------------
    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Sequence[tuple[str, Any]] = ()
    ) -> NoReturn:
        if trailing_metadata:
            self._trailers = tuple(trailing_metadata)
        self._code, self._details = code, details
        raise Aborted(code, details, self._trailers)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    def set_trailing_metadata(self, metadata: Sequence[tuple[str, Any]]) -> None:
        self._trailers = tuple(metadata)

    def trailing_metadata(self) -> tuple[tuple[str, Any], ...]:
        return self._trailers

    async def send_initial_metadata(self, metadata: Sequence[tuple[str, Any]]) -> None:
        if self._established is not None:
            await self._established()

    def set_compression(self, compression: Any) -> None:
        return None

    def disable_next_message_compression(self) -> None:
        return None

    def failure(self) -> Aborted | None:
        """The status the handler set without aborting (``set_code``), as an :class:`Aborted`."""
        if self._code is None or self._code == grpc.StatusCode.OK:
            return None
        return Aborted(self._code, self._details, self._trailers)
