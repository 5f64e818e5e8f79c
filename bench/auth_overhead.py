"""What the auth interceptor costs: store read ops/s against a server with auth and one
without, in one run (both in this process, same backend). Bar: auth costs under 20% of a
store read's round trip. Prints the figures and the ratio; exits 1 when the bar is missed.

    .venv/bin/python bench/auth_overhead.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

BAR = 0.20


async def reads_per_second(address: str, token: str | None, seconds: float) -> float:
    from micro.store import Record
    from micro.store.grpc import GrpcStore

    store = GrpcStore(address, namespace="micro", token=token)
    try:
        await store.write(Record("bench", b"x" * 100))
        for _ in range(200):  # warm up: channel, caches
            await store.read("bench")
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            for _ in range(50):
                await store.read("bench")
            count += 50
        return count / (time.perf_counter() - start)
    finally:
        await store.close()


async def main(seconds: float) -> int:
    from server.app import Server

    with tempfile.TemporaryDirectory() as tmp:
        from micro import settings

        settings.use(settings.Paths(home=tmp))
        plain = Server(data_dir=Path(tmp, "plain"), address="127.0.0.1:0", auth=False)
        guarded = Server(data_dir=Path(tmp, "auth"), address="127.0.0.1:0")
        await plain.start()
        await guarded.start()
        try:
            token = (await guarded.auth.token(id="admin", secret="micro")).access_token
            # alternate so that machine noise hits both sides alike
            without: list[float] = []
            with_auth: list[float] = []
            for _ in range(3):
                without.append(await reads_per_second(plain.bound_address, None, seconds / 3))
                with_auth.append(await reads_per_second(guarded.bound_address, token, seconds / 3))
        finally:
            await guarded.stop(grace=0)
            await plain.stop(grace=0)
    base, auth = max(without), max(with_auth)
    overhead = (1 / auth - 1 / base) * base  # extra time per read, as a share of a plain read
    print(f"store read without auth: {base:8.0f} ops/s ({1e6 / base:6.0f} µs)")
    print(f"store read with auth:    {auth:8.0f} ops/s ({1e6 / auth:6.0f} µs)")
    print(f"auth overhead: {overhead:.1%} of a store read round trip (bar: < {BAR:.0%})")
    return 0 if overhead < BAR else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    sys.exit(asyncio.run(main(parser.parse_args().seconds)))
