"""A filter keystroke in the services area with 500 services vs 50 (fake facade, Pilot).

Each keystroke is timed from the key press until the app has re-rendered (the filtered list
is in place and the screen refreshed); median of 40 keystrokes each. Bar: 500 services
within 2x of 50. Exits non-zero on a miss.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time

BAR = 2.0
CORE_SERVICES = 9  # what the fake facade registers before the extra ones
KEYS = "svc-00" + "\b" * 6  # type a prefix, then delete it: the list shrinks and grows back


async def keystrokes(total: int, rounds: int = 4) -> list[float]:
    from micro_tui import app as app_module
    from micro_tui.app import MicroApp
    from micro_tui.fake import FakeFacade
    from micro_tui.widgets.service_list import ServiceList

    app_module.PING_SECONDS = 3600.0
    app = MicroApp(FakeFacade(extra_services=total - CORE_SERVICES))
    times: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        while len(services.names) < total:
            await pilot.pause(0.02)
        await pilot.press("slash")
        for _ in range(rounds):
            for key in KEYS:
                started = time.perf_counter()
                await pilot.press("backspace" if key == "\b" else key)
                await pilot.pause()  # let the screen refresh
                times.append(time.perf_counter() - started)
    return times


def main() -> int:
    with tempfile.TemporaryDirectory() as home:
        from micro import settings

        settings.use(settings.Paths(home=home))
        small = asyncio.run(keystrokes(50))
        large = asyncio.run(keystrokes(500))
    s, big = statistics.median(small), statistics.median(large)
    ratio = big / s
    print(f"filter keystroke, 50 services:  median {s * 1000:.1f} ms ({len(small)} keys)")
    print(f"filter keystroke, 500 services: median {big * 1000:.1f} ms ({len(large)} keys)")
    print(f"ratio {ratio:.2f}x (bar {BAR:.1f}x): {'ok' if ratio <= BAR else 'MISS'}")
    return 0 if ratio <= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
