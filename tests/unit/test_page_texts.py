"""Texts the pages build from services' answers: times in the building's clock with the zone named, and a
failed training explained without exception class names."""

from __future__ import annotations

from app.core.i18n import use_language
from components.times import local_time
from pages.models import training_outcome


def test_times_are_in_the_zone_given_and_say_which():
    assert local_time("2026-02-24T13:05:00Z", "Europe/Paris") == "24 Feb 2026 14:05 Europe/Paris"
    assert (
        local_time(1_771_938_300_000, "America/New_York", seconds=True)
        == "24 Feb 2026 08:05:00 America/New_York"
    )
    assert local_time("2026-02-24T13:05:00+00:00", None) == "24 Feb 2026 13:05 UTC"
    assert local_time("2026-02-24T13:05:00", "Not/AZone") == "24 Feb 2026 13:05 UTC"  # never a failed page
    assert local_time(None, "Europe/Paris") == ""


def test_times_are_written_as_the_language_writes_them():
    with use_language("fr"):
        assert local_time("2026-02-24T13:05:00Z", "Europe/Paris") == "24 févr. 2026 14:05 Europe/Paris"
        assert (
            local_time("2026-08-03T07:05:09Z", "Europe/Paris", seconds=True)
            == "3 août 2026 09:05:09 Europe/Paris"
        )


def test_a_failed_training_says_why_and_what_stays():
    run = {"outcome": "failed", "error": "ValueError: 12 readings of co2; training needs at least 288"}
    assert training_outcome(run) == (
        "Training failed: 12 readings of co2; training needs at least 288. The active model stays in use."
    )
    assert training_outcome({"outcome": "promoted"}) == "Training promoted"


def test_training_with_too_little_history_says_what_it_needs_and_has():
    import pytest

    from services.forecasting.training import span_text, train

    with pytest.raises(ValueError, match=r"needs 6 h of co2 readings, has 2 h \d+ min; train again once"):
        train([1000.0 + 60 * i for i in range(131)], [500.0] * 131, metric="co2", tz="UTC")
    assert (span_text(0), span_text(45 * 60), span_text(6 * 3600)) == ("none", "45 min", "6 h")


def test_activating_a_version_worse_than_the_active_one_says_by_how_much():
    from pages.models import worse_than

    active = {"id": 1, "model_name": "co2_predictor/M/B", "model_version": "1", "status": "active",
              "mae": "40.0", "ratio": "0.800"}  # fmt: skip
    better = {**active, "id": 2, "model_version": "2", "status": "candidate", "mae": "30.0", "ratio": "0.600"}
    worse = {**active, "id": 3, "model_version": "3", "status": "candidate", "mae": "60.0", "ratio": "0.950"}
    rows = [active, better, worse]
    assert worse_than(better, rows) is None
    assert "1.5× that of the active version 1 (60 against 40)" in worse_than(worse, rows)
    assert "2.8× that of persistence" in worse_than({**worse, "ratio": "2.800"}, rows)
