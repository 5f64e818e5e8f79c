"""A descriptor pool from a registered ``FileDescriptorSet`` (the registry's own helper)."""

from __future__ import annotations

from micro.registry.schema import pool_from_descriptor_set

__all__ = ["pool_from_descriptor_set"]
