"""``@service.subscribe`` and ``micro.events`` in a real service process against a real
server: a group's events reach the handler once, a handler that raises nacks (the event comes
back, then goes to ``<topic>.dead``), and publishing from inside a service works."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from micro.events.grpc import GrpcStream
from tests._poll import eventually_sync
from tests.e2e.conftest import MicroServer, run_micro
from tests.e2e.test_framework import start_service  # noqa: F401 - the fixture

T = TypeVar("T")

SERVICE = textwrap.dedent(
    """
    import logging
    import micro

    log = logging.getLogger("billing")
    service = micro.Service("billing")

    @service.subscribe("fw-orders", group="billing", ack_wait=0.5, retry_limit=1)
    async def on_order(event):
        order = event.json()
        if order.get("fail"):
            raise RuntimeError("cannot bill this one")
        log.info("BILLED %s attempt %s", order["id"], event.attempt)
        await micro.events.publish("fw-billed", {"id": order["id"]})

    service.run()
    """
)


def test_subscribe_handles_each_event_nacks_on_raise_and_dead_letters(
    shared_server: MicroServer,
    start_service: Any,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    (tmp_path / "billing.py").write_text(SERVICE)
    service = start_service(["billing.py"], cwd=tmp_path, proxy=shared_server.address)

    def call(use: Callable[[GrpcStream], Awaitable[T]]) -> T:
        async def body() -> T:
            stream = GrpcStream(shared_server.address, token=shared_server.token())
            try:
                return await use(stream)
            finally:
                await stream.close()

        return asyncio.run(body())

    def subscribed() -> bool:
        return any(g.name == "billing" and g.consumers == 1 for g in call(lambda s: s.groups("fw-orders")))

    eventually_sync(subscribed, "the service joined group billing", timeout=20)
    # the CLI publishes; the service handles and publishes in turn
    for order in ('{"id": 1}', '{"id": 2, "fail": true}', '{"id": 3}'):
        result = run_micro("events", "publish", "fw-orders", order, server=shared_server)
        assert result.returncode == 0, result.stderr

    def billed() -> list[int]:
        return sorted(e.json()["id"] for e in call(lambda s: s.read("fw-billed")))

    eventually_sync(lambda: billed() == [1, 3], "orders 1 and 3 billed", timeout=20)
    eventually_sync(
        lambda: bool(call(lambda s: s.read("fw-orders.dead"))), "order 2 dead-lettered", timeout=20
    )
    [letter] = call(lambda s: s.read("fw-orders.dead"))
    assert letter.json() == {"id": 2, "fail": True}
    assert letter.metadata["micro-dead-reason"] == "nacked"
    assert letter.metadata["micro-dead-attempts"] == "2"
    assert sum("handling event 1 of fw-orders failed" in line for line in service.lines) == 2  # twice
    assert billed() == [1, 3]  # each good event handled once
