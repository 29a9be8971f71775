"""Every figure and link the content shows comes from the one table of facts
(bot/content/facts.yaml), and every content screen fits a phone: each screen and each
plan section is rendered in all three languages for many kinds of answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import CONTENT_DIR, LANGUAGES
from bot.app import App
from bot.channels.whatsapp_render import BODY_LIMIT, render_reply
from bot.content import ContentError, load_content
from bot.content.facts import Period
from bot.core import formats
from bot.core.i18n import Translations
from bot.core.replies import Reply
from handlers.facts_text import counted, people
from tests.conftest import Chat
from tests.test_content import copy_content, edit

CONTENT = load_content()
TABLE = CONTENT.facts
SECTION_LIMIT = 900
SCREEN_LIMIT = 1000

URL = re.compile(r"https?://[^\s()«»;,]+")
# A number as the three languages write it: 5,000,000 / 5 000 000 / 44,5 / 44.5; what
# the formatters add to it (`5 million`, `44,5 %`, `KZT 302,750`, `2 281 people`) is
# allowed whole (`_allowed`), so a figure the table does not hold is still caught.
NUMBER = re.compile(r"\d+(?:[.,\u00a0\u202f ]\d+)*")

BASE = ["el:a:nationality:yes", "el:a:nationality_document:yes", "el:a:ever_citizen:no",
        "el:a:permanent:yes"]
# Walks through the questionnaire: (answers pressed, family size, family answer, quota).
WALKS = {
    "china_family_all": [*BASE, "el:a:country:CN", "el:a:family_size:3",
                         "el:a:family_kazakh:all", "el:a:quota:yes"],
    "kazakhstan_large_family_all": [*BASE, "el:a:country:KZ", "el:a:family_size:15",
                                    "el:a:family_kazakh:all", "el:a:quota:unsure"],
    "germany_large_family_some": [*BASE, "el:a:country:DE", "el:a:family_size:15",
                                  "el:a:family_kazakh:some", "el:a:quota:yes"],
    "alone_no_document": ["el:a:nationality:yes", "el:a:nationality_document:no",
                          "el:a:ever_citizen:no", "el:a:permanent:yes", "el:a:country:MN",
                          "el:a:family_size:0", "el:a:quota:yes"],
    "uzbekistan_none_no_quota": [*BASE, "el:a:country:UZ", "el:a:family_size:2",
                                 "el:a:family_kazakh:none", "el:a:quota:no"],
    "not_kazakh": ["el:a:nationality:no"],
    "former_citizen": ["el:a:nationality:yes", "el:a:nationality_document:yes",
                       "el:a:ever_citizen:yes"],
    "not_permanent": ["el:a:nationality:yes", "el:a:nationality_document:yes",
                      "el:a:ever_citizen:no", "el:a:permanent:no"],
}


# ---- the table -------------------------------------------------------------------------


def test_derived_amounts_match_the_facts_file() -> None:
    """Tenge amounts are computed from MRP; they agree with kandas-facts.md."""
    mrp = TABLE.value("mrp_2026")
    assert TABLE.value("relocation_mrp") * mrp == 302_750
    assert (TABLE.value("rent_mrp_min") * mrp, TABLE.value("rent_mrp_max") * mrp) == \
        (64_875, 129_750)
    assert sum(TABLE.fact("quota_2026").parts.values()) == TABLE.value("quota_2026") == 2281


def test_as_of_keeps_the_precision_of_the_source() -> None:
    assert TABLE.fact("processing_days").as_of == Period(2025, 8)
    assert TABLE.fact("processing_days").as_of.as_of("en") == "August 2025"
    assert TABLE.fact("processing_days").as_of.as_of("kk") == "2025 жылғы тамыздағы"
    assert TABLE.fact("pilot_order_2026").as_of == Period(2026, 1, 30)
    assert TABLE.fact("abroad_total").as_of == Period(2021)
    assert TABLE.fact("abroad_total").as_of.as_of("en") == "2021"
    assert TABLE.fact("abroad_total").as_of.as_of("ru") == "2021\u202fг."


@pytest.mark.parametrize(("language", "expected"), [
    ("kk", {"abroad_total": "5 миллион", "kandas_2025_uzbekistan": "44,5%",
            "mrp_2026": "4\u00a0325\u00a0₸", "processing_days": "30 жұмыс күні",
            "quota_2026": "2\u00a0281 адам", "rent_months": "12 ай", "relocation_mrp": "70",
            "pilot_order_2026.date": "2026 жылғы 30 қаңтардағы",
            "processing_days.date": "2025 жылғы тамыздағы", "abroad_total.date": "2021 жылғы"}),
    ("ru", {"abroad_total": "5\u00a0млн", "kandas_2025_uzbekistan": "44,5\u00a0%",
            "mrp_2026": "4\u00a0325\u00a0₸", "processing_days": "30 рабочих дней",
            "quota_2026": "2\u00a0281 человек", "rent_months": "12 месяцев",
            "pilot_order_2026.date": "30 января 2026\u202fг.",
            "processing_days.date": "август 2025\u202fг."}),
    ("en", {"abroad_total": "5 million", "want_to_return": "1.5 million",
            "returned_since_independence": "1,164,800", "kandas_2025_uzbekistan": "44.5%",
            "admission_quota": "4%", "mrp_2026": "KZT\u00a04,325",
            "processing_days": "30 working days", "quota_2026": "2,281 people",
            "rent_months": "12 months", "turakty_auyly_start": "2020",
            "kandas_2025.year": "2025", "pilot_order_2026.date": "January 30, 2026",
            "processing_days.date": "August 2025", "abroad_total.date": "2021"}),
])
def test_the_table_writes_figures_through_the_formatters(language: str,
                                                        expected: dict[str, str]) -> None:
    """Percent, money, large counts and dates as bot/core/formats.py writes them; counts
    of people, working days and months with their noun."""
    filled = TABLE.values(language, counted(Translations()[language]))
    assert {key: filled[key] for key in expected} == expected


def test_one_link_per_authority_and_only_named_pages() -> None:
    urls = {source: item.url for source, item in TABLE.sources.items() if item.url}
    assert urls == {"egov": "https://egov.kz", "migration_portal": "https://migration.enbek.kz",
                    "otandastar_fund": "https://oq.gov.kz"}
    assert all(project.link is None for project in CONTENT.projects)  # no project page known


def _texts(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _texts(value, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for number, value in enumerate(node):
            yield from _texts(value, f"{key}.{number}")
    elif isinstance(node, str):
        yield key, node


@pytest.mark.parametrize("name", [f"{kind}{language}.yaml" for language in LANGUAGES
                                  for kind in ("", "eligibility.")])
def test_texts_type_no_figure(name: str) -> None:
    """Figures and links are named by id, never typed into a text (the questions, which
    tell people what to type, aside)."""
    data = yaml.safe_load((CONTENT_DIR / name).read_text(encoding="utf-8"))
    typed = []
    for key, text in _texts(data):
        bare = re.sub(r"\{[^{}]*\}", "", text)
        if not key.startswith("questions.") and (re.search(r"\d", bare) or "://" in bare):
            typed.append(f"{key}: {text[:80]}")
    assert not typed, "\n".join(typed)


@pytest.fixture
def copied_content(tmp_path: Path) -> Path:
    return copy_content(tmp_path)


def test_a_placeholder_the_table_does_not_fill_is_refused(copied_content: Path) -> None:
    edit(copied_content / "eligibility.kk.yaml",
          lambda data: data["plan"].update(processing="{processing_weeks} апта"))
    with pytest.raises(ContentError, match=r"eligibility\.kk\.yaml: plan\.processing: "
                                           r"placeholders not in facts\.yaml"):
        load_content(copied_content)


def test_a_fact_without_a_known_source_is_refused(copied_content: Path) -> None:
    edit(copied_content / "facts.yaml", lambda data: data["facts"][0].update(source="news"))
    with pytest.raises(ContentError, match=r"facts\.yaml: .*unknown sources: \['news'\]"):
        load_content(copied_content)


def test_two_sources_with_one_link_are_refused(copied_content: Path) -> None:
    edit(copied_content / "facts.yaml",
          lambda data: data["sources"].update(labour_ministry={"url": "https://egov.kz"}))
    with pytest.raises(ContentError, match=r"one link per source"):
        load_content(copied_content)


def test_a_figure_changes_in_one_place(copied_content: Path) -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        next(f for f in data["facts"] if f["id"] == "mrp_2026")["value"] = 5000

    edit(copied_content / "facts.yaml", change)
    changed = load_content(copied_content)
    from bot.services import eligibility as service
    amounts = service.support(changed.eligibility.rules, changed.facts, 2)
    assert (amounts.per_member, amounts.relocation, amounts.rent_min) == (350_000, 700_000,
                                                                          75_000)


# ---- every screen, rendered -------------------------------------------------------------


def _allowed(app: App, language: str, chat_answers: dict[str, Any]) -> set[str]:
    """The numbers a screen may show, as bot/core/formats.py writes them: the table's,
    what follows from it for this family, the user's own counts, and dates."""
    t = app.translations[language]
    allowed = {v for k, v in TABLE.values(language, counted(t)).items()
               if not k.endswith(".url")}
    for fact in TABLE.facts:
        allowed |= {formats.count(seats, language) for seats in fact.parts.values()}
    mrp = TABLE.value("mrp_2026")
    for moving in range(1, 17):
        allowed.add(formats.money(TABLE.value("relocation_mrp") * mrp * moving, language))
        allowed |= {str(moving), str(moving - 1), people(t, moving)}
    allowed.add(formats.money(TABLE.value("relocation_mrp") * mrp, language))
    allowed |= set(formats.money_range(TABLE.value("rent_mrp_min") * mrp,
                                       TABLE.value("rent_mrp_max") * mrp, language))
    allowed |= {str(n) for n in range(0, 5 + 2 * chat_answers.get("family_size", 0) + 1)}
    allowed.add(formats.date(date.today(), language))
    return allowed


def _numbers(text: str, allowed: set[str]) -> list[str]:
    """The numbers in a text that are not allowed; dates are taken out whole first."""
    for item in sorted((a for a in allowed if not a.replace("\u00a0", "").isdigit()),
                       key=len, reverse=True):
        text = text.replace(item, " ")
    return [token for token in NUMBER.findall(text) if token.strip() not in allowed]


async def _screens(app: App, language: str) -> list[tuple[str, Reply, dict[str, Any]]]:
    """(what, reply, answers) for every content screen in one language."""
    shown: list[tuple[str, Reply, dict[str, Any]]] = []
    chat = Chat(app, f"facts-{language}", language_hint=language)
    await chat.text("/start")
    await chat.press(f"lang:{language}")
    await chat.press("num")
    shown.append(("numbers", chat.last[0], {}))
    await chat.press("prj")
    shown.append(("projects", chat.last[0], {}))
    for project in CONTENT.projects:
        await chat.press(f"prj:{project.id}")
        shown.append((f"project {project.id}", chat.last[0], {}))
    for name, walk in WALKS.items():
        await chat.press("el:new")
        for payload in walk:
            await chat.press(payload)
        sizes = [int(p.rsplit(":", 1)[1]) for p in walk if p.startswith("el:a:family_size:")]
        answers = {"family_size": sizes[0]} if sizes else {}
        shown.append((f"{name}: result", chat.last[0], answers))
        if "el:plan" not in chat.payloads():
            continue
        await chat.press("el:plan")
        shown.append((f"{name}: plan", chat.last[0], answers))
        for section in [p for p in chat.payloads() if p.startswith("el:plan:")]:
            await chat.press(section)
            shown.append((f"{name}: {section}", chat.last[0], answers))
            await chat.press("el:plan")
    return shown


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_figure_and_link_shown_is_in_the_table(app: App, language: str) -> None:
    urls = {item.url for item in TABLE.sources.values() if item.url}
    problems = []
    for what, reply, answers in await _screens(app, language):
        for url in URL.findall(reply.text):
            if url.rstrip(".:") not in urls:
                problems.append(f"{what}: link {url}")
        text = URL.sub(" ", reply.text)
        for number in _numbers(text, _allowed(app, language, answers)):
            problems.append(f"{what}: figure {number!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_screen_fits_a_phone(app: App, language: str) -> None:
    t = app.translations[language]
    problems = []
    screens = await _screens(app, language)
    sections = [s for s in screens if ": el:plan:" in s[0]]
    assert len(sections) >= 4 * 4
    for what, reply, _ in screens:
        limit = SECTION_LIMIT if ": el:plan:" in what else SCREEN_LIMIT
        if len(reply.text) > limit:
            problems.append(f"{what}: {len(reply.text)} > {limit} characters")
        # On WhatsApp the text itself is the body of the buttons or list, never split.
        messages = render_reply(reply, t).messages
        bodies = [m["interactive"]["body"]["text"] for m in messages
                  if m["type"] == "interactive"]
        if len(messages) != 1 or bodies != [reply.text] or len(reply.text) > BODY_LIMIT:
            problems.append(f"{what}: not one WhatsApp message with the text as its body")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_each_plan_section_ends_with_its_one_source_line(app: App,
                                                               language: str) -> None:
    for what, reply, _ in await _screens(app, language):
        if ": el:plan:" in what:
            lines = reply.text.splitlines()
            assert [line for line in lines if line.startswith("📎")] == lines[-1:], what
