"""Prefix listing on the SQLite store: 100 keys among 1,000,000 vs among 1,000.

A prefix is a range on the primary key, so the cost should depend on what is listed, not
on how much is stored. Bar: the large table within 3x of the small one.

    .venv/bin/python bench/store_prefix.py [--records 1000000] [--repeat 300]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BAR = 3.0
MATCHES = 100
PREFIX = "key/0500000/"  # in the middle of the key space


def rows(total: int) -> Iterator[tuple[str, str, str, bytes, int]]:
    """``total`` filler keys plus the ``MATCHES`` keys under PREFIX, in key order."""
    value = b"v" * 64
    for i in range(total):
        key = f"key/{i * (1_000_000 // total):07}"
        yield "micro", "micro", key, value, 1
        if key == PREFIX[:-1]:
            for j in range(MATCHES):
                yield "micro", "micro", f"{PREFIX}{j:03}", value, 1


async def build(path: Path, total: int) -> None:
    from micro.store import Record
    from server.store.sqlite import SqliteStore

    store = SqliteStore(path)
    await store.write(Record("schema", b""))  # creates the file and its table
    await store.delete("schema")
    await store.close()
    with sqlite3.connect(path) as db:  # a bulk load; the store's own writes are one per commit
        db.executemany(
            "INSERT INTO records (db, tbl, key, value, version) VALUES (?, ?, ?, ?, ?)", rows(total)
        )


async def timings(path: Path, repeat: int) -> dict[str, float]:
    """Median seconds of a prefix list and a prefix read over the store at ``path``."""
    from server.store.sqlite import SqliteStore

    store = SqliteStore(path)
    try:
        assert len(await store.list(prefix=PREFIX)) == MATCHES
        out: dict[str, float] = {}
        for name in ("list", "read"):
            samples = []
            for _ in range(repeat):
                start = time.perf_counter()
                if name == "list":
                    found = len(await store.list(prefix=PREFIX))
                else:
                    found = len(await store.read(PREFIX, prefix=True))
                samples.append(time.perf_counter() - start)
                assert found == MATCHES
            out[name] = statistics.median(samples)
        return out
    finally:
        await store.close()


async def main(records: int, repeat: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "small.db", Path(tmp) / "large.db"
        started = time.perf_counter()
        await build(small, 1_000)
        await build(large, records)
        print(f"built 1,000 and {records:,} records in {time.perf_counter() - started:.1f} s")
        # interleave the two so that machine noise hits both alike
        runs = [(await timings(small, repeat), await timings(large, repeat)) for _ in range(3)]
    missed = 0
    for name in ("list", "read"):
        small_s = min(r[0][name] for r in runs)
        large_s = min(r[1][name] for r in runs)
        ratio = large_s / small_s
        ok = ratio <= BAR
        missed += not ok
        print(
            f"prefix {name} of {MATCHES} keys: among 1,000 {small_s * 1e6:7.1f} us,"
            f" among {records:,} {large_s * 1e6:7.1f} us, ratio {ratio:4.2f}x"
            f"  {'meets' if ok else 'MISSES'} the bar (<= {BAR:.0f}x)"
        )
    return missed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    sys.exit(1 if asyncio.run(main(args.records, args.repeat)) else 0)
