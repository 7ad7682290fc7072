"""The comparison page: several rooms on one metric, only the account's sites, and its CSV."""

from __future__ import annotations

from nicegui.testing import User

from pages.compare import figure_csv
from tests.support.pages import reading
from tests.support.waiting import eventually


async def test_rooms_are_compared_on_one_metric_and_the_chart_downloads(user: User, runtime) -> None:
    for room, sensor, co2 in (("Bureau", "s1", 700), ("Salon", "s2", 1400), ("Cuisine", "s3", 900)):
        await runtime.ingestion.ingest([reading(room, sensor=sensor, co2=co2, ago_s=a) for a in (7200, 60)])
    await user.open("/compare")
    chart = user.find(marker="compare-chart").elements.pop()
    await eventually(lambda: len(chart.figure["data"]) == 3)
    lines = {trace["name"]: trace["y"] for trace in chart.figure["data"]}
    assert lines["Maison / Salon"] and set(lines["Maison / Salon"]) == {1400}
    assert chart.figure["layout"]["xaxis"]["title"]["text"] == "local time (UTC)"  # the sites' zone, said

    user.find(marker="compare-metric").elements.pop().set_value("temperature")
    await eventually(lambda: chart.figure["layout"]["yaxis"]["title"]["text"] == "Temperature (°C)")
    text = figure_csv(chart.figure, "UTC").splitlines()
    assert text[0] == "time (UTC),Maison / Bureau,Maison / Cuisine,Maison / Salon" and len(text) >= 3
    user.find(marker="compare-csv").click()


async def test_a_site_limited_account_compares_only_its_rooms(create_user, runtime) -> None:
    await runtime.ingestion.ingest(reading("Bureau A", site="Site A", sensor="a1"))
    await runtime.ingestion.ingest(reading("Salle B", site="Site B", sensor="b1"))
    runtime.accounts.create_user_sync("ana", "viewer", "ana-password", sites=["Site A"])
    ana: User = create_user()
    signed = await ana.http_client.post("/api/auth/login", json={"name": "ana", "password": "ana-password"})
    assert signed.status_code == 200
    await ana.open("/compare")
    rooms = ana.find(marker="compare-rooms").elements.pop()
    assert list(rooms.options.values()) == ["Site A / Bureau A"]
    chart = ana.find(marker="compare-chart").elements.pop()
    await eventually(lambda: [t["name"] for t in chart.figure["data"]] == ["Site A / Bureau A"])
