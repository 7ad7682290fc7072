"""French and English everywhere a person reads: every message the code marks has its French translation with
the same placeholders, no text of a page or component escapes the translation call, and the language and
formats follow the account, the browser, then the deployment."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core import i18n

ROOT = Path(__file__).resolve().parents[2]
TRANSLATING = {"_", "N_", "C_", "ngettext", "pgettext"}
PLACEHOLDER = re.compile(r"(?<!\{)\{(\w*)(?:![rsa])?(?::[^{}]*)?\}(?!\})")


def extracted() -> dict[tuple[str | None, str], int]:
    """What `make translations` extracts: (context, message) -> how many times the code marks it."""
    from babel.messages.extract import extract_from_dir

    method_map = [(f"{folder}/**.py", "python") for folder in ("app", "services", "components", "pages")]
    keywords = {"_": None, "N_": None, "C_": ((1, "c"), 2), "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
    found: dict[tuple[str | None, str], int] = {}
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=keywords
    ):
        key = (context, message[0] if isinstance(message, tuple) else message)
        found[key] = found.get(key, 0) + 1
    return found


def french() -> dict[tuple[str | None, str], tuple[str, ...]]:
    from babel.messages.pofile import read_po

    with (ROOT / "locales/fr/LC_MESSAGES/messages.po").open("rb") as po:
        catalogue = read_po(po, locale="fr")
    return {
        (m.context, m.id[0] if isinstance(m.id, tuple) else m.id): (
            m.string if isinstance(m.string, tuple) else (m.string,)
        )
        for m in catalogue
        if m.id and not m.fuzzy
    }


def test_every_message_the_code_marks_has_a_french_translation():
    translated = french()
    missing = [
        f"{context + ': ' if context else ''}{message!r}"
        for context, message in extracted()
        if not all(translated.get((context, message), ("",)))
    ]
    assert not missing, "messages without French (run `make translations`, then translate):\n" + "\n".join(
        missing
    )


def test_french_keeps_every_placeholder_of_the_english():
    wrong = []
    for (_context, message), strings in french().items():
        wanted = sorted(set(PLACEHOLDER.findall(message)))
        for text in strings:
            if text and sorted(set(PLACEHOLDER.findall(text))) != wanted:
                wrong.append(f"{message!r} -> {text!r}")
    assert not wrong, "\n".join(wrong)


# -- no text outside the translation call -----------------------------------------------------------------
TEXT_KEYWORDS = {"label", "placeholder", "text", "title", "message", "hint", "caption", "suffix", "prefix"}
NOT_TEXT = {  # NiceGUI elements whose first argument is not a text people read
    "icon", "add_css", "add_head_html", "add_body_html", "run_javascript", "image", "element", "html",
    "colors", "query", "page", "navigate", "dark_mode", "timer", "keyboard", "scene", "plotly", "code",
    "upload", "table", "aggrid", "echart", "download", "space", "separator", "row", "column", "card",
    "grid", "header", "footer", "menu", "dialog", "tabs", "clipboard", "context", "on", "refreshable",
    "interactive_image", "mermaid", "json_editor", "audio", "video", "leaflet", "badge", "spinner",
}  # fmt: skip
ALLOWED = {"CSV", "3D", "—", "SSO"}  # the same in every language the platform speaks


def literal_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.IfExp):
        return literal_text(node.body) or literal_text(node.orelse)
    if isinstance(node, ast.BinOp):
        return literal_text(node.left) or literal_text(node.right)
    return None


def texts_of(call: ast.Call) -> list[ast.AST]:
    """The arguments of a NiceGUI element (or notification, tooltip, set_text) that people read."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return []
    if isinstance(func.value, ast.Name) and func.value.id == "ui":
        if func.attr in NOT_TEXT:
            return []
    elif func.attr not in ("tooltip", "set_text", "notify"):
        return []
    return [*call.args[:1], *(k.value for k in call.keywords if k.arg in TEXT_KEYWORDS)]


def untranslated(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text())
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for argument in texts_of(node):
                text = literal_text(argument)
                if text and text.strip() not in ALLOWED and re.search(r"[A-Za-z]{2}", text):
                    problems.append(f"{path.relative_to(root)}:{argument.lineno}: {text!r}")
        if isinstance(node, ast.JoinedStr):  # _() inside an f-string is invisible to the extraction
            for value in node.values:
                inner = value.value if isinstance(value, ast.FormattedValue) else None
                marks = isinstance(inner, ast.Call) and getattr(inner.func, "id", None) in TRANSLATING
                if marks and inner.args and literal_text(inner.args[0]):
                    problems.append(f"{path.relative_to(root)}:{node.lineno}: _() inside an f-string")
    return problems


def test_no_page_or_component_shows_a_text_outside_the_translation_call():
    files = sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("components/*.py")])
    problems = [problem for path in files for problem in untranslated(path)]
    assert not problems, "wrap these in _() (app.core.i18n):\n" + "\n".join(problems)


def test_no_message_is_marked_inside_an_f_string_where_the_extraction_cannot_see_it():
    files = sorted(path for folder in ("app", "services") for path in ROOT.glob(f"{folder}/**/*.py"))
    problems = [problem for path in files for problem in untranslated(path) if "f-string" in problem]
    assert not problems, "\n".join(problems)


def test_the_scan_finds_a_text_left_outside(tmp_path: Path):
    page = tmp_path / "page.py"
    page.write_text(
        'ui.label("Rooms of the site")\nui.button(_("Save"))\nui.notify(f"{n} rooms saved")\n'
        'ui.input(label="Name")\nui.icon("settings")\nui.label(f"{_(\'Name\')}: x")\n'
    )
    found = untranslated(page, tmp_path)
    assert [line.split(": ", 1)[1] for line in found] == [
        "'Rooms of the site'",
        "' rooms saved'",
        "'Name'",
        "_() inside an f-string",
    ]


# -- which language, and its formats -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("de-DE,en;q=0.5,fr;q=0.7", "fr"),  # German is not spoken here: the best of the others
        ("en-US,en;q=0.9", "en"),
        ("fr;q=0,en", "en"),  # q=0: not acceptable
        ("es, it", None),
        ("", None),
        (None, None),
    ],
)
def test_the_browsers_language_is_its_best_one_we_speak(header, language):
    assert i18n.from_accept_language(header) == language


@given(st.text(max_size=200))
def test_any_accept_language_header_gives_a_language_we_speak_or_none(header):
    assert i18n.from_accept_language(header) in (None, *i18n.LANGUAGES)


def test_numbers_and_dates_are_written_as_each_language_writes_them():
    from datetime import datetime

    moment = datetime(2026, 2, 24, 14, 5)
    with i18n.use_language("fr"):
        assert i18n.number(3.5) == "3,5"
        assert i18n.measure(1234.5) == "1\u202f234,5"
        assert i18n.date_time(moment) == "24 févr. 2026 14:05"
        assert i18n._("Dashboard") == "Tableau de bord"
        assert i18n.ngettext("{n} room", "{n} rooms", 2).format(n=2) == "2 salles"
        assert i18n.term("role", "viewer") == "lecteur"
    with i18n.use_language("en"):
        assert i18n.number(3.5) == "3.5"
        assert i18n.measure(1234.5) == "1\u202f234.5"
        assert i18n.date_time(moment) == "24 Feb 2026 14:05"
        assert i18n._("Dashboard") == "Dashboard"
    with i18n.use_language("xx"):  # not spoken: the deployment's default
        assert i18n.language() == i18n.default_language()


def test_a_service_error_is_told_in_the_language_of_the_page_that_caused_it():
    from app.core.domain.readings import InvalidInput
    from app.core.domain.validation import check_name

    with i18n.use_language("fr"), pytest.raises(InvalidInput) as caught:
        check_name("a/b", "name")
    assert caught.value.errors[0].problem.startswith("doit compter de 1 à 128 caractères")
    with pytest.raises(InvalidInput) as caught:
        check_name("a/b", "name")
    assert caught.value.errors[0].problem.startswith("must be 1 to 128 characters")


def test_mails_and_webhooks_speak_the_deployments_language():
    from services.notify import email_body, email_subject

    alert = {
        "rule": "CO₂ high", "enseigne": "Maison", "salle": "Bureau", "severity": "warning", "metric": "co2",
        "value": 1500.0, "direction": "above", "threshold": 1220.0, "reset": 1120.0, "peak": 1530.5,
        "raised_at": "2026-02-24T13:05:00Z", "resolved_at": None, "resolved_by": None, "sensor_id": "s1",
    }  # fmt: skip
    i18n.set_default_language("fr")
    try:
        assert email_subject("raised", alert) == "[IAQverse] AVERTISSEMENT : CO₂ élevé dans Maison / Bureau"
        assert "co2 : 1500 (au-dessus de 1220 ; se résout au-delà de 1120) ; pic 1530,5." in email_body(
            "raised", alert
        )
    finally:
        i18n.set_default_language("en")
    assert email_subject("raised", alert) == "[IAQverse] WARNING: CO₂ high in Maison / Bureau"
    assert "co2: 1500 (above 1220; resolves past 1120); peak 1530.5." in email_body("raised", alert)


def test_the_reports_csv_reads_in_the_pages_language_and_keeps_its_keys_for_the_api():
    from services.compliance import CSV_HEADER, report_csv

    report = {
        "enseigne": "Maison", "salle": "Bureau", "start": "2026-02-01", "end": "2026-02-07",
        "co2": {"categories": [{"category": "I", "limit_ppm": 970.0, "hours": 3.0, "share_pct": 50.0}]},
        "pm25": {"guideline_ugm3": 15.0, "above_hours": 0.0, "above_share_pct": 0.0},
    }  # fmt: skip
    with i18n.use_language("fr"):
        lines = report_csv(report, readable=True).splitlines()
        assert lines[0].startswith("Site,Salle,Du,Au (inclus),Mesure,Catégorie,Limite,Heures d'occupation")
        assert "au-dessus de la valeur guide OMS sur 24 h" in lines[2]
        assert report_csv(report).splitlines()[0] == CSV_HEADER  # the API's machine keys
