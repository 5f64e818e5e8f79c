"""The sending side of an open client or bidi stream on the invoke screen."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input

from micro_tui.forms import FormError, FormModel, JsonSyntaxError

__all__ = ["SendBox"]


class SendBox(Horizontal):
    """A JSON box (``enter`` sends one message; empty sends the form) and "Close send".

    :meth:`open` starts the stream's request messages; each :meth:`push` sends one more
    (``echo`` shows it), :meth:`close_send` ends them, :meth:`finish` when the call ended.
    """

    def __init__(
        self,
        model: FormModel | None,
        *,
        echo: Callable[[str], None],
        send_form: Callable[[], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self._echo = echo
        self._send_form = send_form
        self._outbox: asyncio.Queue[str | None] | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="message JSON, enter sends (empty: the form)", id="send-box", disabled=True)
        yield Button("Close send", id="close-send", compact=True, disabled=True)

    @property
    def is_open(self) -> bool:
        return self._outbox is not None

    def open(self) -> AsyncIterator[str]:
        """The request messages of a new stream, until :meth:`close_send`."""
        outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._outbox = outbox
        self._controls(True)
        return self._messages(outbox)

    @staticmethod
    async def _messages(outbox: asyncio.Queue[str | None]) -> AsyncIterator[str]:
        while (item := await outbox.get()) is not None:
            yield item

    def push(self, request: str) -> None:
        """Send one message on the open stream (and echo it)."""
        if self._outbox is None:
            return
        self._outbox.put_nowait(request)
        self._echo("> " + json.dumps(json.loads(request)))

    def close_send(self) -> None:
        """End the sending side; the replies may go on."""
        if self._outbox is not None:
            self._outbox.put_nowait(None)
            self._outbox = None
            self._echo("> (send closed)")
            self._controls(False)

    def finish(self) -> None:
        """The call ended: nothing more can be sent."""
        self._outbox = None
        self._controls(False)

    def _controls(self, enabled: bool) -> None:
        self.query_one("#send-box", Input).disabled = not enabled
        self.query_one("#close-send", Button).disabled = not enabled

    @on(Input.Submitted, "#send-box")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self._send_form()
            return
        if self.model is not None:
            try:
                FormModel(self.model.descriptor, self.model.pool).from_json(text)
            except JsonSyntaxError as exc:
                self.notify(str(exc), title="Invalid JSON", severity="error", markup=False)
                return
            except FormError as exc:
                self.notify(str(exc), title="Invalid message", severity="error", markup=False)
                return
        else:
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                self.notify(
                    f"{exc.msg} at column {exc.colno}", title="Invalid JSON", severity="error", markup=False
                )
                return
        self.push(json.dumps(json.loads(text)))
        event.input.value = ""

    @on(Button.Pressed, "#close-send")
    def _close_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.close_send()
