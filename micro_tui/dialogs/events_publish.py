"""The publish form: topic, JSON payload, metadata; the equivalent ``micro events publish``
line is shown as it is typed (and is what ``c`` copies and the app logs once it ran)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static, TextArea

from micro.errors import MicroError
from micro_tui.actions import cli_line
from micro_tui.slices.events import parse_metadata, parse_payload

__all__ = ["Publication", "PublishDialog", "publish_words"]


@dataclass(frozen=True, slots=True)
class Publication:
    """What to publish: ``payload`` as compact JSON."""

    topic: str
    payload: str
    metadata: dict[str, str]

    @property
    def cli(self) -> str:
        return cli_line(*publish_words(self.topic, self.payload, self.metadata))


def publish_words(topic: str, payload: str, metadata: dict[str, str]) -> list[str]:
    words = ["events", "publish", topic, payload]
    for key, value in metadata.items():
        words += ["-m", f"{key}={value}"]
    return words


class PublishDialog(ModalScreen[Publication | None]):
    """``ctrl+s`` publishes (the form's answer, checked), ``escape`` cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "publish", "Publish", priority=True, id="events_publish.publish"),
        Binding("escape", "dismiss(None)", "Cancel", id="events_publish.cancel"),
    ]

    def __init__(self, topic: str = "", payload: str = "{}") -> None:
        super().__init__()
        self.topic, self.payload = topic, payload

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="events-publish"):
            yield Label("Publish an event", classes="title")
            yield Input(self.topic, placeholder="topic", id="publish-topic")
            yield TextArea(self.payload, id="publish-payload", soft_wrap=True, show_line_numbers=False)
            yield Input("", placeholder="metadata: key=value,key2=value2", id="publish-metadata")
            yield Static("", id="publish-cli", markup=False, classes="cli-line")
            yield Static("", id="publish-error", markup=False)
            yield Label("ctrl+s publishes · escape cancels · tab moves", classes="hint")

    def on_mount(self) -> None:
        self._show()
        (self.query_one("#publish-payload") if self.topic else self.query_one("#publish-topic")).focus()

    def _read(self) -> Publication:
        from micro.events import check_topic

        topic = self.query_one("#publish-topic", Input).value.strip()
        check_topic(topic)
        payload = parse_payload(self.query_one("#publish-payload", TextArea).text)
        metadata = parse_metadata(self.query_one("#publish-metadata", Input).value)
        return Publication(topic, payload, metadata)

    def _show(self) -> Publication | None:
        """The CLI line of what the form holds, or why it cannot be published yet."""
        error, line = self.query_one("#publish-error", Static), self.query_one("#publish-cli", Static)
        try:
            publication = self._read()
        except MicroError as exc:
            error.update(exc.detail)
            return None
        error.update("")
        line.update(publication.cli)
        return publication

    @on(Input.Changed)
    @on(TextArea.Changed)
    def _changed(self) -> None:
        self._show()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_publish()

    def action_publish(self) -> None:
        publication = self._show()
        if publication is not None:
            self.dismiss(publication)
