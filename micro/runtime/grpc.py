"""The runtime over gRPC: the CLI's client of ``runtime.Runtime`` and ``runtime.Source``."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable, AsyncIterator

from micro._grpc import call_metadata, rpc_errors
from micro._grpc_client import GrpcClient
from micro.proto.runtime import runtime_pb2, runtime_pb2_grpc
from micro.runtime import LogBatch, Runtime, Service
from micro.runtime._convert import batch_from_proto, service_from_proto

__all__ = ["GrpcRuntime"]

SERVICE = "runtime"


class GrpcRuntime(GrpcClient, Runtime):
    """A :class:`~micro.runtime.Runtime` served by the runtime service at ``address``."""

    def _md(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(namespace=self.namespace, token=self._token, service=SERVICE)

    async def upload(self, name: str, chunks: AsyncIterable[bytes], *, namespace: str = "") -> str:
        async def requests() -> AsyncIterator[runtime_pb2.UploadRequest]:
            first = True
            async for chunk in chunks:
                if first:
                    yield runtime_pb2.UploadRequest(name=name, namespace=namespace, data=chunk)
                    first = False
                else:
                    yield runtime_pb2.UploadRequest(data=chunk)
            if first:
                yield runtime_pb2.UploadRequest(name=name, namespace=namespace)

        # an upload has no deadline: its size, not the server, decides how long it takes
        with rpc_errors(self.address):
            response = await self._stub(runtime_pb2_grpc.SourceStub).Upload(requests(), metadata=self._md())
        return str(response.id)

    async def create(
        self,
        service: Service,
        *,
        upload: str = "",
        subfolder: str = "",
        env: builtins.list[str] | None = None,
        instances: int = 1,
        namespace: str = "",
        command: builtins.list[str] | None = None,
        args: builtins.list[str] | None = None,
        secrets: dict[str, str] | None = None,
    ) -> Service:
        """As :meth:`Runtime.create`; ``secrets`` serve the build only (``git.username`` and
        ``git.password`` for the clone of a git source) and are never stored."""
        request = runtime_pb2.CreateRequest(
            service=runtime_pb2.Service(name=service.name, version=service.version, source=service.source),
            options=runtime_pb2.CreateOptions(
                upload=upload,
                subfolder=subfolder,
                env=env or [],
                instances=instances,
                namespace=namespace,
                command=command or [],
                args=args or [],
                secrets=secrets or {},
            ),
        )
        response = await self._call(runtime_pb2_grpc.RuntimeStub, "Create", request, metadata=self._md())
        return service_from_proto(response.service)

    async def read(self, name: str = "", *, namespace: str = "") -> builtins.list[Service]:
        request = runtime_pb2.ReadRequest(options=runtime_pb2.ReadOptions(service=name, namespace=namespace))
        response = await self._call(runtime_pb2_grpc.RuntimeStub, "Read", request, metadata=self._md())
        return [service_from_proto(s) for s in response.services]

    async def update(
        self,
        name: str,
        *,
        upload: str = "",
        subfolder: str = "",
        instances: int = 0,
        env: builtins.list[str] | None = None,
        namespace: str = "",
        secrets: dict[str, str] | None = None,
    ) -> Service:
        request = runtime_pb2.UpdateRequest(
            service=runtime_pb2.Service(name=name),
            options=runtime_pb2.UpdateOptions(
                namespace=namespace,
                instances=instances,
                upload=upload,
                subfolder=subfolder,
                env=env or [],
                set_env=env is not None,
                secrets=secrets or {},
            ),
        )
        response = await self._call(runtime_pb2_grpc.RuntimeStub, "Update", request, metadata=self._md())
        return service_from_proto(response.service)

    async def delete(self, name: str, *, namespace: str = "") -> None:
        request = runtime_pb2.DeleteRequest(
            service=runtime_pb2.Service(name=name), options=runtime_pb2.DeleteOptions(namespace=namespace)
        )
        await self._call(runtime_pb2_grpc.RuntimeStub, "Delete", request, metadata=self._md())

    async def logs(
        self, name: str, *, count: int = 15, follow: bool = False, since: float = 0, namespace: str = ""
    ) -> AsyncIterator[LogBatch]:
        request = runtime_pb2.LogsRequest(
            service=name,
            count=count,
            stream=follow,
            since=int(since),
            options=runtime_pb2.LogsOptions(namespace=namespace),
        )
        # a follow has no deadline; the last lines alone have the unary one
        call = self._stub(runtime_pb2_grpc.RuntimeStub).Logs(
            request, metadata=self._md(), timeout=None if follow else self._timeout
        )
        try:
            with rpc_errors(self.address):
                async for batch in call:
                    yield batch_from_proto(batch)
        finally:
            call.cancel()
