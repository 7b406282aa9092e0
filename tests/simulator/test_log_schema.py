"""The logged dataclasses are the one definition of the run logs' columns."""

import dataclasses

import pyarrow as pa
import pytest

from simulator.runlog import EVENT_COLUMNS, INTERACTION_COLUMNS
from simulator.types import ARROW_TYPE, Event, Interaction


@pytest.mark.parametrize(
    ("row_type", "columns"), [(Interaction, INTERACTION_COLUMNS), (Event, EVENT_COLUMNS)]
)
def test_log_columns_are_the_dataclass_fields_in_order(row_type, columns):
    fields = dataclasses.fields(row_type)
    assert list(columns) == [f.name for f in fields]
    assert list(columns.values()) == [f.metadata[ARROW_TYPE] for f in fields]
    assert all(isinstance(getattr(pa, kind)(), pa.DataType) for kind in columns.values())


def test_interaction_columns_keep_their_arrow_types():
    assert INTERACTION_COLUMNS == {
        "step": "int32",
        "user_id": "string",
        "item_id": "string",
        "page": "int16",
        "position": "int16",
        "recommender": "string",
        "action": "string",
        "rating": "float32",
        "reason": "string",
        "feeling": "string",
    }
    assert EVENT_COLUMNS == {
        "step": "int32",
        "kind": "string",
        "user_id": "string",
        "item_id": "string",
        "value": "float64",
        "text": "string",
    }
