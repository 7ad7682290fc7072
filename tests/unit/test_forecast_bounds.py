"""A forecast and its interval stay inside physics, whatever the history: no negative concentration,
humidity within 0-100 %, CO2 never below the room's own outdoor baseline."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.forecasting.series import physical_bounds

readings = st.lists(st.floats(min_value=0, max_value=40_000), min_size=1, max_size=200)


@given(readings)
def test_co2_is_never_forecast_below_zero_nor_below_the_rooms_baseline(history):
    low, high = physical_bounds("co2", history)
    assert 0 <= low <= 400 and high == 40_000  # never above a conservative outdoor level
    assert low >= min(min(history), 400)  # nor below what the room itself measured at its emptiest


def test_humidity_and_concentrations_keep_their_physical_range():
    assert physical_bounds("humidity", [40, 50]) == (0, 100)
    assert physical_bounds("pm25", [3, 5])[0] == 0
    assert physical_bounds("made_up_metric", [1.0]) == (float("-inf"), float("inf"))
