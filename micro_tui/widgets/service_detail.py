"""A service's versions, nodes and endpoints."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from micro_tui.facade import EndpointInfo, ServiceVersion

__all__ = ["ServiceDetail"]


# the streaming kind comes before the type names, which can be long enough to push it off
COLUMNS = ("endpoint", "kind", "request", "response")


class ServiceDetail(Vertical):
    """Summary (versions, nodes) above a table of endpoints; ``enter`` posts ``Invoked``."""

    class Invoked(Message):
        def __init__(self, version: ServiceVersion, endpoint: EndpointInfo) -> None:
            super().__init__()
            self.version = version
            self.endpoint = endpoint

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.versions: list[ServiceVersion] = []
        self._rows: list[tuple[ServiceVersion, EndpointInfo]] = []

    def compose(self) -> ComposeResult:
        # scrolls (with a scrollbar) rather than cut: many versions or nodes are all there
        with VerticalScroll(id="summary-box") as box:
            box.border_title = "details"
            yield Static("Select a service.", id="summary", classes="muted")
        table: DataTable[Any] = DataTable(id="endpoints", cursor_type="row", zebra_stripes=True)
        table.border_title = "endpoints"
        yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)

    def show_message(self, message: str) -> None:
        self.versions = []
        self._rows = []
        self.query_one("#summary", Static).update(Text(message, style="dim"))
        self.query_one("#summary-box").border_title = "details"
        self.query_one(DataTable).clear()

    def show(self, versions: list[ServiceVersion]) -> None:
        self.versions = versions
        summary = Text()
        for version in versions:
            summary.append(version.name, style="bold")
            summary.append(f"  version {version.version}", style="dim")
            if version.metadata:
                summary.append(
                    "  " + ", ".join(f"{k}={v}" for k, v in sorted(version.metadata.items())), style="dim"
                )
            summary.append("\n")
            for node in version.nodes:
                summary.append("  node ", style="dim")
                summary.append(node.id)
                summary.append(f"  {node.address}\n")
            if not version.nodes:
                summary.append("  no nodes\n", style="dim")
        summary.rstrip()
        box = self.query_one("#summary-box")
        box.border_title = f"details · {len(versions)} versions" if len(versions) > 1 else "details"
        box.scroll_home(animate=False)
        self.query_one("#summary", Static).update(
            summary if summary.plain else Text("no versions", style="dim")
        )
        rows: list[tuple[Text, Text, Text, Text]] = []  # Text: a str cell is parsed as markup
        self._rows = []
        for version in versions:
            for endpoint in version.endpoints:
                label = endpoint.name if len(versions) == 1 else f"{endpoint.name} ({version.version})"
                kind = Text(endpoint.streaming, style="dim" if endpoint.streaming == "unary" else "bold")
                rows.append((Text(label), kind, Text(endpoint.request_type), Text(endpoint.response_type)))
                self._rows.append((version, endpoint))
        table = self.query_one(DataTable)
        table.clear(columns=True)
        # widths given, not measured: DataTable measures auto-width columns when idle, and a
        # row painted before that keeps its cells cut to the header's widths
        for i, name in enumerate(COLUMNS):
            table.add_column(name, width=max([len(name), *(row[i].cell_len for row in rows)]))
        table.add_rows(rows)

    @property
    def selected(self) -> tuple[ServiceVersion, EndpointInfo] | None:
        table = self.query_one(DataTable)
        if not self._rows or table.cursor_row is None or table.cursor_row >= len(self._rows):
            return None
        return self._rows[table.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        chosen = self.selected
        if chosen is not None:
            self.post_message(self.Invoked(*chosen))
