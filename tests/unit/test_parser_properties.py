"""Property-based tests of the reading parsers (hypothesis): whatever JSON a device sends, the parser either
returns a valid reading or names the bad field; it never fails any other way (which would be a 500)."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.domain.readings import InvalidInput, parse_reading, parse_timestamp

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
fields = st.sampled_from(
    ["sensor_id", "capteur_id", "enseigne", "salle", "timestamp", "values", "units", "co2"]
)
readings = st.dictionaries(fields | st.text(max_size=8), json_values, max_size=8)


@given(st.integers() | st.floats() | st.text(max_size=40) | json_values)
@settings(max_examples=300, deadline=None)
def test_a_timestamp_is_read_or_refused_with_a_reason(value):
    try:
        assert isinstance(parse_timestamp(value), datetime)
    except ValueError as exc:
        assert str(exc)


@given(readings, st.booleans())
@settings(max_examples=300, deadline=None)
def test_a_reading_is_parsed_or_refused_naming_a_field(body, legacy):
    try:
        draft = parse_reading(body, legacy=legacy)
    except InvalidInput as exc:
        assert exc.errors and all(isinstance(e.field, str) and e.problem for e in exc.errors)
    else:
        assert draft.sensor_id
