"""Failed logins, delayed: exponential backoff per (account, client address), and a looser
one per account.

The per-client limit stops guessing from one address early; the per-account one only bites
when many addresses guess at once, and stays short, so nobody can lock ``admin`` out from a
single address. A throttled attempt is answered 429 ``Too many attempts, try again in Ns``
without looking at the secret (a right one included: the answer must not tell), and does not
count as a failure. Nothing here looks at whether the account exists: an unknown id gets
exactly the answers and delays a known one would.

State lives in the store (table ``throttle`` of the auth database), so servers sharing a
store share it. Callers choose the keys (any id, many addresses), so they are hashed into a
fixed number of slots per limit: the state never holds more than ``2 × SLOTS`` records,
each forgotten ``WINDOW`` seconds after its last failure. Two keys landing in one slot
share its counter, which can only make the throttle stricter, never looser; only the key
that opened a slot clears it by logging in.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from micro import errors
from micro.store import Record, Store

__all__ = ["PER_ACCOUNT", "PER_CLIENT", "SLOTS", "WINDOW", "Limit", "LoginThrottle"]

SLOTS = 1 << 16
WINDOW = 900.0  # seconds a slot remembers its failures after the last one


@dataclass(frozen=True, slots=True)
class Limit:
    """``free`` failures pass; failure ``n >= free`` delays the next attempt by
    ``2 ** (n - free)`` seconds, at most ``max_delay``."""

    kind: str
    free: int
    max_delay: float

    def delay(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return float(min(self.max_delay, 2 ** min(failures - self.free, 32)))


PER_CLIENT = Limit("client", free=5, max_delay=900.0)
PER_ACCOUNT = Limit("account", free=30, max_delay=60.0)


class LoginThrottle:
    """The throttle of one auth backend; ``clock`` gives unix seconds (injected by tests)."""

    def __init__(
        self, store: Store, clock: Callable[[], float], *, database: str, table: str = "throttle"
    ) -> None:
        self.store = store
        self.clock = clock
        self.database = database
        self.table = table

    @staticmethod
    def _slots(namespace: str, id: str, client: str) -> list[tuple[Limit, str, str]]:
        """(limit, record key, exact key hash) for each limit."""
        found = []
        for limit, parts in ((PER_CLIENT, (namespace, id, client)), (PER_ACCOUNT, (namespace, id))):
            exact = hashlib.sha256("\0".join((limit.kind, *parts)).encode()).hexdigest()
            slot = int(exact[:8], 16) % SLOTS
            found.append((limit, f"{limit.kind}/{slot:05x}", exact[:32]))
        return found

    async def _get(self, key: str, now: float) -> dict[str, Any] | None:
        try:
            records = await self.store.read(key, database=self.database, table=self.table)
        except errors.NotFound:
            return None
        data = json.loads(records[0].value)
        if not isinstance(data, dict) or float(data.get("expires", 0)) <= now:
            return None
        return data

    async def check(self, namespace: str, id: str, client: str) -> None:
        """Raise TooManyRequests while a login of ``id`` from ``client`` must wait."""
        now = self.clock()
        wait = 0.0
        for _, key, _ in self._slots(namespace, id, client):
            data = await self._get(key, now)
            if data is not None:
                wait = max(wait, float(data.get("until", 0)) - now)
        if wait > 0:
            raise errors.TooManyRequests(f"Too many attempts, try again in {math.ceil(wait)}s")

    async def failed(self, namespace: str, id: str, client: str) -> None:
        """Count a failed login."""
        now = self.clock()
        for limit, key, exact in self._slots(namespace, id, client):
            data = await self._get(key, now) or {"key": exact, "failures": 0}
            failures = int(data.get("failures", 0)) + 1
            until = now + limit.delay(failures)
            record = {
                "key": data.get("key", exact),
                "failures": failures,
                "until": until,
                "expires": until + WINDOW,
            }
            value = json.dumps(record).encode()
            await self.store.write(
                Record(key, value, until - now + WINDOW), database=self.database, table=self.table
            )

    async def succeeded(self, namespace: str, id: str, client: str) -> None:
        """A good login clears the slots this key opened."""
        now = self.clock()
        for _, key, exact in self._slots(namespace, id, client):
            data = await self._get(key, now)
            if data is not None and data.get("key") == exact:
                await self.store.delete(key, database=self.database, table=self.table)
