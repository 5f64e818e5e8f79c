"""A request the invoke screen cannot build says which field and what was wrong in one
line, the line ``micro call`` and the gateway print (micro.client.dynamic's describer), not
protobuf's parser text (``invalid literal for int() with base 10``, ``Available Fields``)."""

from __future__ import annotations

import pytest
from textual.widgets import TabbedContent, TextArea

from micro_tui._sample_proto import descriptor_set_bytes
from micro_tui.app import MicroApp
from micro_tui.fake import FakeFacade
from micro_tui.forms import FormError, FormModel, pool_from_descriptor_set
from tests.micro_tui.test_pilot import open_endpoint, until


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('{"i64": "soon"}', '(request): field "i64": expected a 64-bit integer, got "soon"'),
        ('{"inner": {"label": 5}}', '(request): field "inner.label": expected a string, got 5'),
    ],
)
def test_json_the_form_cannot_load_names_the_field(text: str, line: str) -> None:
    pool = pool_from_descriptor_set(descriptor_set_bytes())
    form = FormModel(pool.FindMessageTypeByName("demo.Kitchen"), pool)
    with pytest.raises(FormError) as info:
        form.from_json(text)
    assert str(info.value) == line


async def test_sending_json_with_an_unknown_field_names_it_as_literal_text() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        screen.query_one("#request-tabs", TabbedContent).active = "json"
        editor = screen.query_one("#json-editor", TextArea)
        await until(pilot, lambda: editor.region.width > 0)
        # a key that reads as markup is shown as typed, never styled or dropped
        editor.text = '{"x[b]y": "bob"}'
        await pilot.press("ctrl+j")
        await until(pilot, lambda: any(n.title == "Invalid request" for n in app._notifications))
        shown = next(n for n in app._notifications if n.title == "Invalid request")
        assert shown.message == '(request): unknown field "x[b]y" (demo.HelloRequest has: name, times)'
        assert shown.markup is False
        assert fake.calls.received == []
