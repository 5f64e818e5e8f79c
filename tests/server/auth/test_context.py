"""One "current call" context: the server's boundary and the framework's services share it."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

import micro.auth
from micro import _context
from micro.auth import Account
from micro.auth.boundary import Caller
from server.auth import context as ctx


class _Context:
    def time_remaining(self) -> None:
        return None

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()


async def test_the_caller_the_boundary_set_is_the_framework_s_current_call() -> None:
    alice = Account("alice", issuer="team")

    async def handler() -> tuple[Any, ...]:
        ctx.set_caller(Caller(alice, "team", token="t"))
        return ctx.current(), ctx.account(), micro.auth.account(), micro.auth.call_namespace()

    caller, account, framework_account, namespace = await asyncio.create_task(handler())
    assert caller is not None and caller.token == "t"
    assert account is alice and framework_account is alice and namespace == "team"
    assert ctx.current() is None  # set in the handler's task only


async def test_a_framework_handler_inside_the_boundary_keeps_its_caller() -> None:
    async def behavior(request: Any, context: Any) -> Any:
        return ctx.current(), micro.auth.account()

    inner = grpc.unary_unary_rpc_method_handler(behavior)
    wrapped = _context.serving(inner, None, namespace="micro", service="svc")

    async def handler() -> Any:
        ctx.set_caller(Caller(Account("bob"), "micro", token="t"))
        return await wrapped.unary_unary(None, _Context())

    caller, account = await asyncio.create_task(handler())
    assert caller is not None and caller.token == "t"
    assert account is None  # the service checked nobody: its own view of the caller
