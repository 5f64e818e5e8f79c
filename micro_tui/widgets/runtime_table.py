"""``micro status`` as a table that changes in place: a poll rewrites only the cells that
changed (an age ticking, a status moving on), so the table never flickers or loses its
cursor; rows are made again only when services come or go."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from micro.runtime import Service
from micro_tui.slices.runtime import age

__all__ = ["COLUMNS", "RuntimeTable"]

COLUMNS = ("name", "version", "source", "status", "instances", "restarts", "age")
SOURCE_WIDTH = (12, 48)
"""The source column's narrowest and widest: what the other columns leave of the width."""
OTHER_COLUMNS = 68


def _source(text: str, width: int) -> str:
    """A long source's end (where its name is), not its start."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]


class RuntimeTable(DataTable[Any]):
    """One row per service, keyed by its name."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.services: dict[str, Service] = {}

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

    def _status(self, status: str) -> Text:
        theme = self.app.current_theme
        color = {"running": theme.success, "error": theme.error}.get(status, theme.warning)
        return Text(status, style=color or "")

    def _cells(self, service: Service, now: float) -> tuple[Text, ...]:
        return (
            Text(service.name),
            Text(service.version),
            Text(_source(service.source, self._source_width())),
            self._status(service.status),
            Text(str(service.instances), justify="right"),
            Text(str(service.retries), justify="right"),
            Text(age(service.updated, now), justify="right"),
        )

    def _source_width(self) -> int:
        low, high = SOURCE_WIDTH
        return max(low, min(high, self.size.width - OTHER_COLUMNS))

    def on_resize(self) -> None:
        if self.services:
            self.show(list(self.services.values()))  # the source column fits the new width

    @property
    def highlighted(self) -> Service | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.services.get(str(key))

    def select(self, name: str) -> bool:
        if name not in self.services:
            return False
        self.move_cursor(row=list(self.services).index(name), animate=False)
        return True

    def show(self, services: list[Service], now: float | None = None) -> None:
        now = time.time() if now is None else now
        rows = {s.name: self._cells(s, now) for s in services}
        before = list(self.services)
        self.services = {s.name: s for s in services}
        if before == list(rows):
            for key, cells in rows.items():
                for column, cell in zip(self.columns, cells, strict=True):
                    if self.get_cell(key, column) != cell:
                        self.update_cell(key, column, cell)
            return
        chosen = before[self.cursor_row] if self.row_count and 0 <= self.cursor_row < len(before) else None
        self.clear()
        for key, cells in rows.items():
            self.add_row(*cells, key=key)
        if chosen in rows:
            self.move_cursor(row=list(rows).index(chosen), animate=False)
