"""A real test service for the workspace's pilot tests: ``demo.Greeter`` (the kitchen-sink
proto) served by grpc.aio on a free port and registered, with its schema, in a real server's
registry. Every handler records the request message it received."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from micro import errors
from micro._grpc import abort
from micro.registry.grpc import GrpcRegistry
from micro.registry.schema import describe, pool_from_descriptor_set
from micro_tui._sample_proto import descriptor_set_bytes


class Greeter:
    """``Hello`` (400 for the name ``error``), ``Cook`` (echo), ``Stream`` (``times`` replies,
    one per :attr:`step` when set; 400 for the name ``error`` before any; its response
    headers first when :attr:`announce`), ``Chat`` (bidi: one reply per message)."""

    def __init__(self) -> None:
        from google.protobuf import message_factory

        pool = pool_from_descriptor_set(descriptor_set_bytes())
        self.descriptor = pool.FindServiceByName("demo.Greeter")
        self.types = {
            m.name: (
                message_factory.GetMessageClass(m.input_type),
                message_factory.GetMessageClass(m.output_type),
            )
            for m in self.descriptor.methods
        }
        self.received: list[tuple[str, Any]] = []
        self.step: asyncio.Event | None = None
        self.announce = False  # Stream sends its headers before its first reply
        self.cancelled = asyncio.Event()
        self.address = ""
        self._server: Any = None
        self._registry: GrpcRegistry | None = None
        self._entry: Any = None

    def _request(self, method: str, raw: bytes) -> Any:
        message = self.types[method][0].FromString(raw)
        self.received.append((method, message))
        return message

    def _reply(self, method: str, **fields: Any) -> bytes:
        return bytes(self.types[method][1](**fields).SerializeToString())

    async def hello(self, raw: bytes, context: Any) -> bytes:
        request = self._request("Hello", raw)
        if request.name == "error":
            await abort(context, errors.BadRequest("name must not be 'error'"))
        if request.name.isascii() and request.name.isprintable():  # gRPC refuses other values
            context.set_trailing_metadata((("x-greeted", request.name),))  # for the Headers pane
        return self._reply("Hello", message=f"Hello {request.name}")

    async def cook(self, raw: bytes, context: Any) -> bytes:
        return bytes(self._request("Cook", raw).SerializeToString())

    async def stream(self, raw: bytes, context: Any) -> AsyncIterator[bytes]:
        request = self._request("Stream", raw)
        if request.name == "error":
            await abort(context, errors.BadRequest("name must not be 'error'"))
        if self.announce:
            await context.send_initial_metadata(())
        try:
            for i in range(request.times):
                if self.step is not None:
                    await self.step.wait()
                    self.step.clear()
                yield self._reply("Stream", message=f"Hello {request.name} #{i + 1}")
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def chat(self, requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        async for raw in requests:
            yield self._reply("Chat", message=f"Hello {self._request('Chat', raw).name}")

    async def start(self, server_address: str, token: str) -> None:
        handlers = {
            "Hello": grpc.unary_unary_rpc_method_handler(self.hello),
            "Cook": grpc.unary_unary_rpc_method_handler(self.cook),
            "Stream": grpc.unary_stream_rpc_method_handler(self.stream),
            "Chat": grpc.stream_stream_rpc_method_handler(self.chat),
        }
        self._server = grpc.aio.server()
        self._server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("demo.Greeter", handlers)]
        )
        port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        self.address = f"127.0.0.1:{port}"
        self._entry = describe("greeter", [self.descriptor], address=self.address)
        self._registry = GrpcRegistry(server_address, namespace="micro", token=token)
        await self._registry.register(self._entry)

    async def register(self) -> None:
        """Register again (after :meth:`deregister`)."""
        assert self._registry is not None
        await self._registry.register(self._entry)

    async def deregister(self) -> None:
        assert self._registry is not None
        await self._registry.deregister(self._entry)

    async def stop(self) -> None:
        if self._registry is not None:
            await self._registry.close()
        if self._server is not None:
            await self._server.stop(0)
