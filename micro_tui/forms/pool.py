"""A descriptor pool from a registered ``FileDescriptorSet`` (the registry's schema helper
when it exists, else a small local equivalent)."""

from __future__ import annotations

from typing import Any

__all__ = ["pool_from_descriptor_set"]


def pool_from_descriptor_set(data: bytes) -> Any:
    """A fresh ``DescriptorPool`` holding every file of the serialized set."""
    try:
        from micro.registry.schema import pool_from_descriptor_set as shared
    except ImportError:
        shared = None
    if shared is not None:
        return shared(data)
    from google.protobuf import descriptor_pb2, descriptor_pool

    fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    pool = descriptor_pool.DescriptorPool()
    pending = list(fds.file)
    # add files after their dependencies, whatever order the set lists them in
    added: set[str] = set()
    while pending:
        progressed = False
        for fdp in list(pending):
            if all(dep in added for dep in fdp.dependency):
                pool.Add(fdp)
                added.add(fdp.name)
                pending.remove(fdp)
                progressed = True
        if not progressed:
            for fdp in pending:
                pool.Add(fdp)
            break
    return pool
