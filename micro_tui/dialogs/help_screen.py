"""``?``: the bindings that apply on the screen underneath, with their ids."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

__all__ = ["HelpScreen"]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss(None)", "Close", id="help.close"),
    ]

    def __init__(self, under: Screen[object]) -> None:
        super().__init__()
        self.under = under

    def _table(self) -> Table:
        table = Table(box=None, expand=True, show_header=True, header_style="bold")
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("action")
        table.add_column("id", style="dim")
        seen: set[str] = set()
        # bindings with ids (ours, remappable) first, in key order; then the widgets' own
        ordered = sorted(self.under.active_bindings.items(), key=lambda kv: (kv[1].binding.id is None, kv[0]))
        for key, active in ordered:
            binding = active.binding
            label = binding.description or binding.action
            if binding.system or not label or (binding.id or key) in seen:
                continue
            seen.add(binding.id or key)
            # Text, not markup: a remapped key can be "[" and a label can quote a name
            table.add_row(Text(self.app.get_key_display(binding)), Text(label), Text(binding.id or ""))
        table.add_row(":", "command bar: :svc :call :env :ns :theme :saved :q", "app.command")
        return table

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog") as box:
            box.border_title = f"help · {self.under.name or type(self.under).__name__}"
            yield Static(self._table())
            yield Label(
                'Remap any binding by id in MICRO_HOME/keymap.toml, e.g.  "services.filter" = "f"',
                classes="hint",
            )
