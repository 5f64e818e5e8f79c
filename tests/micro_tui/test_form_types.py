"""Form details a grpcui user expects (UI-free): the exact .proto type of each field, and a
map's rows in the order the JSON gave them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from micro_tui._sample_proto import descriptor_set_bytes
from micro_tui.forms import FormModel, pool_from_descriptor_set
from micro_tui.forms.kinds import type_name


@pytest.fixture(scope="module")
def kitchen() -> Any:
    return pool_from_descriptor_set(descriptor_set_bytes()).FindMessageTypeByName("demo.Kitchen")


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("s32", "sint32"),
        ("f64", "fixed64"),
        ("u64", "uint64"),
        ("color", "Color"),
        ("inner", "Inner"),
        ("when", "Timestamp"),
        ("labels", "map<string, int32>"),
        ("numbers", "int64"),  # one item of the list
    ],
)
def test_type_names_are_spelled_as_in_the_proto(kitchen: Any, field: str, expected: str) -> None:
    assert type_name(kitchen.fields_by_name[field]) == expected


def test_map_order_survives_json_to_form_and_back(kitchen: Any) -> None:
    form = FormModel(kitchen, kitchen.file.pool)
    keys = ["zeta", "alpha", "mid", "beta", "omega", "k1", "k0"]
    form.from_json(json.dumps({"labels": {k: i for i, k in enumerate(keys)}, "name": "x"}))
    assert list(form.to_dict()["labels"]) == keys
    form.from_json(form.to_json())
    assert list(form.to_dict()["labels"]) == keys
