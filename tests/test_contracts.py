"""The generated code in micro/proto/ matches the contracts in proto/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "proto" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_every_contract_keeps_v3_method_paths() -> None:
    from micro.proto.registry import registry_pb2
    from micro.proto.store import store_pb2

    assert store_pb2.DESCRIPTOR.services_by_name["Store"].full_name == "store.Store"
    assert registry_pb2.DESCRIPTOR.services_by_name["Registry"].methods_by_name["GetService"]
