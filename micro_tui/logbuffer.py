"""The log area's buffer, UI-free: lines in, batches out, bounded, nothing lost silently.

Lines arrive from the runtime in chunks (:class:`~micro_tui.slices.logs.LogChunk`) and wait
in :attr:`LogBuffer.pending` until the screen's next :meth:`LogBuffer.drain` (every 50–100 ms:
one write per line manages a few hundred lines a second, one per batch tens of thousands).
What was drained is kept, the last :attr:`LogBuffer.limit` entries of it; older ones are
*evicted* (they were shown; not a loss). A *drop* is a line that never reached the screen:
one the server says it dropped (its follower fell behind), or one that arrived but could not
be written because more than :attr:`LogBuffer.limit` lines waited (a long pause). Each drop
shows as a "dropped N lines" marker where it happened, and :attr:`LogBuffer.dropped` counts
them all, so that every line received is either shown or counted.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from micro_tui.slices.logs import LogChunk, LogLine

__all__ = [
    "DEFAULT_LIMIT",
    "Batch",
    "Entry",
    "LineFilter",
    "LogBuffer",
    "clock",
    "saved_line",
    "source",
]

DEFAULT_LIMIT = 10_000

Kind = Literal["line", "dropped", "note"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the log: a line, a "dropped N lines" marker or a note ("retrying…");
    ``seq`` orders every entry ever added to its buffer."""

    seq: int
    kind: Kind
    service: str
    text: str
    instance: int = 0
    ts: int = 0
    stream: str = ""
    count: int = 0
    """Lines a ``dropped`` marker stands for."""


@dataclass(slots=True)
class Batch:
    """What one :meth:`LogBuffer.drain` hands the screen: new ``entries`` to write, and the
    lowest ``seq`` still kept (entries below it were evicted)."""

    entries: list[Entry] = field(default_factory=list)
    oldest: int = 0


class LineFilter:
    """``/`` in the log: a case-insensitive regex over a line's text, ``!`` inverts; a bad
    regex matches literally. Markers and notes always show."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.invert = text.startswith("!")
        pattern = text[1:] if self.invert else text
        try:
            self.rx = re.compile(pattern, re.IGNORECASE)
        except re.error:
            self.rx = re.compile(re.escape(pattern), re.IGNORECASE)

    def keeps(self, entry: Entry) -> bool:
        if entry.kind != "line":
            return True
        return (self.rx.search(entry.text) is not None) != self.invert

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the pattern matches ``text`` (none when inverted: the shown lines do not
        match), for highlighting."""
        if self.invert or not self.rx.pattern:
            return []
        return [m.span() for m in self.rx.finditer(text) if m.end() > m.start()]


class LogBuffer:
    """Pending lines, the kept window of the last :attr:`limit` entries, and the counts."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = max(2, limit)
        self.kept: deque[Entry] = deque(maxlen=self.limit)
        self.pending: deque[Entry] = deque()
        self.paused = False
        """While paused, :meth:`drain` writes nothing: lines wait (up to :attr:`limit`)."""
        self.received = 0
        """Lines received (markers and notes are not lines)."""
        self.dropped = 0
        """Lines that never reached the screen: reported by the server or not written."""
        self.reported = 0
        """Lines the server reported as dropped (part of :attr:`dropped`)."""
        self.evicted = 0
        """Entries that left the kept window for newer ones (shown before: not drops)."""
        self._seq = 0
        self._waiting_lines = 0
        self._unwritten = 0  # lines pushed out of pending since the last drain
        self._unwritten_seq = 0  # the newest of them: its marker takes its place (and seq)

    def _entry(self, kind: Kind, service: str, text: str, *, count: int = 0) -> Entry:
        self._seq += 1
        return Entry(self._seq, kind, service, text, count=count)

    @property
    def lines(self) -> int:
        """Every line of the follow: received, or reported dropped by the server. Of these,
        :attr:`dropped` never reached the screen; every other one was written."""
        return self.received + self.reported

    @property
    def waiting(self) -> int:
        """Lines received and not yet written (while paused, they pile up here)."""
        return self._waiting_lines

    def add(self, chunk: LogChunk) -> None:
        """Take one chunk of a follow: its dropped count as a marker, its lines, its state."""
        if chunk.dropped:
            self.dropped += chunk.dropped
            self.reported += chunk.dropped
            self.pending.append(
                self._entry("dropped", chunk.service, _dropped_text(chunk.dropped), count=chunk.dropped)
            )
        if chunk.lines:
            self.add_lines(chunk.lines)
        if chunk.state == "retrying":
            self.note(chunk.service, f"{chunk.service}: {chunk.detail}")

    def add_lines(self, lines: Iterable[LogLine]) -> None:
        pending, seq, added = self.pending, self._seq, 0
        for line in lines:
            seq += 1
            added += 1
            pending.append(Entry(seq, "line", line.service, line.text, line.instance, line.ts, line.stream))
        self._seq = seq
        self.received += added
        self._waiting_lines += added
        self._trim()

    def note(self, service: str, text: str) -> None:
        """A line about the follow (not a log line): written with the next batch."""
        self.pending.append(self._entry("note", service, text))
        self._trim()

    def _trim(self) -> None:
        """More waiting than the window holds: the oldest cannot be written, ever (one place
        is left for the marker saying so)."""
        pending, room = self.pending, max(1, self.limit - 1)
        while len(pending) > room:
            gone = pending.popleft()
            self._unwritten_seq = gone.seq
            if gone.kind == "line":
                self._unwritten += 1
                self._waiting_lines -= 1
                self.dropped += 1
            elif gone.kind == "dropped":  # the server's marker goes too: its count joins ours
                self._unwritten += gone.count

    def drain(self, *, force: bool = False) -> Batch:
        """The entries to write now (none while paused, unless ``force``), oldest first,
        after a marker for the lines that could not be written; they join the kept window."""
        if (self.paused and not force) or not (self.pending or self._unwritten):
            return Batch([], self.oldest)
        entries: list[Entry] = []
        if self._unwritten:
            count, self._unwritten = self._unwritten, 0
            entries.append(self._marker(count))
        entries.extend(self.pending)
        self.pending.clear()
        self._waiting_lines = 0
        kept = self.kept
        overflow = len(kept) + len(entries) - self.limit
        if overflow > 0:
            self.evicted += min(overflow, len(kept))
        kept.extend(entries)
        return Batch(entries, self.oldest)

    def _marker(self, count: int) -> Entry:
        # before what waited (the lost lines were the oldest of it), in the place of the
        # newest lost one: seqs stay in order
        text = _dropped_text(count) + " (more waited than the buffer holds)"
        return Entry(self._unwritten_seq, "dropped", "", text, count=count)

    @property
    def oldest(self) -> int:
        return self.kept[0].seq if self.kept else self._seq + 1

    def clear(self) -> None:
        """Forget what is kept and waiting (the counts stay)."""
        self.kept.clear()
        self.pending.clear()
        self._waiting_lines = 0
        self._unwritten = 0

    def shown(self, keep: LineFilter | None) -> list[Entry]:
        """The kept entries ``keep`` keeps (all without a filter), oldest first."""
        if keep is None:
            return list(self.kept)
        return [e for e in self.kept if keep.keeps(e)]


def _dropped_text(count: int) -> str:
    return f"dropped {count:,} line{'' if count == 1 else 's'}"


def clock(ts: int, *, utc: bool = False) -> str:
    """``HH:MM:SS.mmm`` of unix nanoseconds ``ts`` (local time unless ``utc``)."""
    seconds = ts // 1_000_000_000
    parts = time.gmtime(seconds) if utc else time.localtime(seconds)
    return time.strftime("%H:%M:%S", parts) + f".{ts // 1_000_000 % 1000:03d}"


def saved_line(entry: Entry) -> str:
    """``entry`` as a line of a saved file: RFC 3339 UTC time, service/instance, text."""
    if entry.kind != "line":
        return f"-- {entry.text} --"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(entry.ts // 1_000_000_000))
    return f"{stamp}.{entry.ts % 1_000_000_000:09d}Z {source(entry)} {entry.text}"


def source(entry: Entry) -> str:
    """``service/instance`` (``service`` for the runtime's lines about every instance)."""
    return entry.service if entry.instance < 0 else f"{entry.service}/{entry.instance}"
