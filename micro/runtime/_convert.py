"""Runtime domain types ⇄ protobuf, shared by the server's handler and the gRPC client."""

from __future__ import annotations

from micro.proto.runtime import runtime_pb2
from micro.runtime import LogBatch, LogRecord, Service

__all__ = ["batch_from_proto", "batch_to_proto", "service_from_proto", "service_to_proto"]


def service_to_proto(service: Service) -> runtime_pb2.Service:
    return runtime_pb2.Service(
        name=service.name,
        version=service.version,
        source=service.source,
        metadata=service.metadata,
        status=service.status,
        error=service.error,
        updated=service.updated,
        instances=service.instances,
        retries=service.retries,
        build=service.build,
    )


def service_from_proto(pb: runtime_pb2.Service) -> Service:
    return Service(
        name=pb.name,
        version=pb.version,
        source=pb.source,
        status=pb.status,
        error=pb.error,
        metadata=dict(pb.metadata),
        updated=int(pb.updated),
        instances=int(pb.instances),
        retries=int(pb.retries),
        build=pb.build,
    )


def batch_to_proto(batch: LogBatch) -> runtime_pb2.LogBatch:
    return runtime_pb2.LogBatch(
        records=[
            runtime_pb2.LogRecord(timestamp=r.ts, message=r.line, stream=r.stream, instance=r.instance)
            for r in batch.records
        ],
        dropped=batch.dropped,
    )


def batch_from_proto(pb: runtime_pb2.LogBatch) -> LogBatch:
    return LogBatch(
        tuple(LogRecord(int(r.timestamp), r.stream, int(r.instance), r.message) for r in pb.records),
        int(pb.dropped),
    )
