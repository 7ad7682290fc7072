"""A French-speaking facility manager meets no English, and an English-speaking one no French: headless
Chromium asking for French signs in and reads every page; then the account chooses English in its menu,
which holds on the next pages although the browser still asks for French; then back to the browser's.

What a page shows of the user's own data (site, room, sensor and module names, account and token names, time
zone names) is set aside before reading: it is in whatever language its owner wrote it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.support.browser import server_errors, signed_in_page
from tests.support.servers import platform

PAGES = ["/", "/alerts", "/compare", "/modules", "/models", "/reports", "/settings", "/twin"]
# Words of English that are no words of French, and the other way round: a page that shows one of them
# shows a sentence of the other language.
ENGLISH_WORDS = (
    "the and of with for to is are not yet this your these rooms room alert alerts reading readings settings "
    "sign save delete cancel last days hours every none from by or has have was will can may must here "
    "there when which what who how than new edit add back hour day week temperature humidity pressure noise "
    "light window heating cooling purifier off open closed dashboard models compare reports twin history "
    "rules rule state severity value model training forecast forecasts persistence sensor sensors level "
    "above below moderate good poor bad live updated ago driven no all floor whole share occupied "
    "measured actual registry trigger outcome started error ratio comment snooze acknowledge "
    "resolve apply applies enabled only during always opening hours name role password user users "
    "keys key token tokens single sign out copy done"
)
FRENCH_WORDS = (
    "le la les des du une pour avec aucun aucune salle salles mesures mesure paramètres alerte alertes "
    "heure heures jours dernières tableau bord modèles enregistrer supprimer annuler être sont est pas sur "
    "dans et ou au aux votre vos nouvelle nouveau règle règles fuseau horaire capteur capteurs ouvert fermé "
    "déterminé mis jour"
)
ENGLISH, FRENCH = set(ENGLISH_WORDS.split()), set(FRENCH_WORDS.split())
VISIBLE_TEXT_JS = """() => {
    const copy = document.body.cloneNode(true);
    const hidden = '.q-icon, .material-icons, script, style, .q-notification';
    copy.querySelectorAll(hidden).forEach(e => e.remove());
    document.body.appendChild(copy);
    copy.style.position = 'absolute'; copy.style.left = '-10000px';
    const text = copy.innerText;
    copy.remove();
    return text;
}"""


def own_data(url: str) -> list[str]:
    """The names the platform's users gave (the demo's), longest first so that parts go after wholes."""
    sites = httpx.get(url + "/api/config/sites", timeout=10).json()
    names = {"IAQverse", "admin", "IAQ_ADMIN_TOKEN", "Europe/Paris", "UTC", "system", "/no-such-page"}
    for site in sites:
        names.add(site["name"])
        for room in site["rooms"]:
            names |= {room["name"], f"{site['name']} / {room['name']}", f"{site['name']} · {room['name']}"}
    names |= {s["sensor_id"] for s in httpx.get(url + "/api/config/sensors", timeout=10).json()}
    for site in sites:
        for room in site["rooms"]:
            query = {"enseigne": site["name"], "salle": room["name"]}
            found = httpx.get(url + "/api/room-modules", params=query, timeout=10).json()
            names |= {m["name"] for m in found.get("modules", [])}
    return sorted(names, key=len, reverse=True)


def foreign_words(text: str, data: list[str], foreign: set[str]) -> set[str]:
    for name in data:
        text = text.replace(name, " ")
    return {word for word in re.findall(r"[^\W\d_]+", text.lower()) if word in foreign}


def read_every_page(page, server, pages: list[str], data: list[str], foreign: set[str], shots: Path) -> dict:
    found = {}
    for path in pages:
        page.goto(server.anonymous_url + path, wait_until="networkidle")
        page.wait_for_timeout(1200)  # charts and the scene draw after the page loads
        page.screenshot(path=str(shots / f"{path.strip('/').replace('/', '-') or 'dashboard'}.png"))
        words = foreign_words(page.evaluate(VISIBLE_TEXT_JS), data, foreign)
        if words:
            found[path] = sorted(words)
    return found


def test_french_pages_have_no_english_and_english_pages_no_french(tmp_path: Path) -> None:
    with platform(
        tmp_path / "data", IAQ_DEMO="1", IAQ_DEMO_INTERVAL="2", IAQ_DEMO_BACKFILL_HOURS="1"
    ) as server:
        deadline = time.monotonic() + 20
        while (
            not httpx.get(server.url + "/api/config/sites", timeout=5).json() and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        data = own_data(server.url)
        room = httpx.get(server.url + "/api/config/sites", timeout=5).json()[0]["rooms"][0]["id"]
        pages = [*PAGES, f"/rooms/{room}", "/no-such-page"]
        with signed_in_page(server, "/", locale="fr-FR") as (page, errors):
            assert page.get_by_text("Tableau de bord").first.is_visible()
            assert page.evaluate("document.documentElement.lang") == "fr"  # Quasar's own texts in French too
            french = read_every_page(page, server, pages, data, ENGLISH, tmp_path)
            assert not french, f"English on the French pages: {french}"

            page.goto(server.anonymous_url + "/", wait_until="networkidle")  # the account's choice
            page.locator(".q-btn").filter(has_text="admin").click()
            page.get_by_text("English", exact=True).click()
            page.wait_for_timeout(1500)  # the page reloads in the account's language
            assert page.get_by_text("Dashboard").first.is_visible()
            assert page.evaluate("document.documentElement.lang") == "en-GB"
            english = read_every_page(page, server, pages, data, FRENCH, tmp_path)
            assert not english, f"French on the pages of an account that chose English: {english}"

            page.locator(".q-btn").filter(has_text="admin").click()
            page.get_by_text("Langue du navigateur").or_(page.get_by_text("Browser's language")).click()
            page.wait_for_timeout(1500)
            assert page.get_by_text("Tableau de bord").first.is_visible()
            assert not errors, errors
        with signed_in_page(server, "/", locale="en-GB") as (page, errors):
            assert page.get_by_text("Dashboard").first.is_visible()
            assert not read_every_page(page, server, ["/", "/settings"], data, FRENCH, tmp_path)
        problems = server_errors(server)
        assert not problems, "\n".join(problems)
