"""Rendering channel-neutral replies within WhatsApp's limits, and the small pure parts
of the channel (command words, phone prefixes, signatures, template parameters)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bot import LANGUAGES
from bot.channels.whatsapp_events import command_word, language_for_phone
from bot.channels.whatsapp_inbox import signature_ok
from bot.channels.whatsapp_render import (
    MORE_PREFIX,
    SHORT_LABELS,
    PagedMenu,
    cut_at_word,
    list_page,
    render,
)
from bot.channels.whatsapp_templates import template_parameter
from bot.core.i18n import Translations
from bot.core.replies import Choice, Reply
from tests.fakes.graph_api import Sent, check_message


@pytest.fixture(scope="module")
def translations() -> Translations:
    return Translations()


def checked(messages: list[dict]) -> list[Sent]:  # type: ignore[type-arg]
    result = []
    for number, message in enumerate(messages):
        payload = {"messaging_product": "whatsapp", "to": "77010000000", **message}
        assert check_message(payload) == [], message
        result.append(Sent(f"w{number}", "77010000000", payload))
    return result


def choices(count: int, label: str = "Item {n}") -> tuple[tuple[Choice, ...], ...]:
    return tuple((Choice(label.format(n=n), f"it:{n}"),) for n in range(count))


def test_no_choices_is_text_and_long_text_is_split(translations: Translations) -> None:
    t = translations["en"]
    sent = checked(render([Reply("short")], t).messages)
    assert [s.type for s in sent] == ["text"]
    long = ("word " * 2000).strip()  # 9999 characters
    sent = checked(render([Reply(long)], t).messages)
    assert len(sent) == 3 and all(len(s.body) <= 4096 for s in sent)
    assert " ".join(s.body for s in sent) == long


def test_up_to_three_choices_are_reply_buttons(translations: Translations) -> None:
    sent = checked(render([Reply("Pick", choices(3))], translations["en"]).messages)
    assert sent[0].interactive["type"] == "button"
    assert sent[0].choices == [("it:0", "Item 0"), ("it:1", "Item 1"), ("it:2", "Item 2")]


def test_four_to_ten_choices_are_a_list(translations: Translations) -> None:
    for count in (4, 10):
        rendered = render([Reply("Pick", choices(count))], translations["en"])
        sent = checked(rendered.messages)
        assert sent[0].interactive["type"] == "list"
        assert len(sent[0].choices) == count
        assert rendered.menu is None


def test_more_than_ten_choices_page_with_a_more_row(translations: Translations) -> None:
    t = translations["en"]
    rendered = render([Reply("Pick", choices(23))], t)
    assert rendered.menu is not None
    first = checked(rendered.messages)[0]
    ids = [c[0] for c in first.choices]
    assert len(ids) == 10 and ids[:9] == [f"it:{n}" for n in range(9)]
    assert ids[9] == f"{MORE_PREFIX}{rendered.menu.token}:1"
    second = checked([list_page(rendered.menu, 1, t)])[0]
    assert [c[0] for c in second.choices][:9] == [f"it:{n}" for n in range(9, 18)]
    third = checked([list_page(rendered.menu, 2, t)])[0]
    assert [c[0] for c in third.choices] == [f"it:{n}" for n in range(18, 23)]


def test_long_labels_use_short_strings_not_truncation(translations: Translations) -> None:
    for language in LANGUAGES:
        t = translations[language]
        menu = Reply("Menu", (
            (Choice(t._("🤝 Support projects"), "prj"),),
            (Choice(t._("📊 Kazakhs abroad in numbers"), "num"),),
            (Choice(t._("⚙️ Settings"), "set"),),
            (Choice(t._("❓ Help"), "help"),),
        ))
        sent = checked(render([menu], t).messages)[0]
        titles = dict(sent.choices)
        for payload, long in (("prj", "🤝 Support projects"),
                              ("num", "📊 Kazakhs abroad in numbers")):
            label = t._(long)
            assert titles[payload] in (label, t._(SHORT_LABELS[long])), language
            assert "…" not in titles[payload]


def test_english_numbers_label_is_the_short_string(translations: Translations) -> None:
    t = translations["en"]
    reply = Reply("Menu", (*choices(3), (Choice("📊 Kazakhs abroad in numbers", "num"),)))
    sent = checked(render([reply], t).messages)[0]
    assert dict(sent.choices)["num"] == t._("📊 In numbers")


def test_labels_without_short_strings_keep_their_meaning_in_the_description(
    translations: Translations,
) -> None:
    label = "Bolashakka bagdar: youth programme in Almaty and abroad"
    sent = checked(render([Reply("Pick", ((Choice(label, "p:1"),), (Choice("B", "p:2"),)))],
                          translations["en"]).messages)[0]
    assert sent.interactive["type"] == "list"  # too long for a button: a list row
    row = sent.interactive["action"]["sections"][0]["rows"][0]
    assert row["title"] == "Bolashakka bagdar…"  # whole words, then an ellipsis
    assert row["description"] == label


def test_duplicate_button_titles_fall_back_to_a_list(translations: Translations) -> None:
    reply = Reply("Pick", ((Choice("Same", "a"),), (Choice("Same", "b"),)))
    sent = checked(render([reply], translations["en"]).messages)[0]
    assert sent.interactive["type"] == "list"


def test_body_over_1024_goes_first_as_text(translations: Translations) -> None:
    t = translations["ru"]
    text = "Абзац. " * 300  # 2100 characters
    sent = checked(render([Reply(text, choices(2))], t).messages)
    assert [s.type for s in sent] == ["text", "interactive"]
    assert sent[0].body == text.strip() or sent[0].body == text
    assert sent[1].body == t._("Choose an option:")


def test_url_choices_go_into_the_text(translations: Translations) -> None:
    reply = Reply("See", ((Choice("Site", "x", url="https://example.org"),),
                          (Choice("Back", "menu"),)))
    sent = checked(render([reply], translations["en"]).messages)
    assert "Site: https://example.org" in sent[0].body
    assert sent[0].choices == [("menu", "Back")]


def test_paged_menu_keeps_body(translations: Translations) -> None:
    menu = PagedMenu("abcd", "Body", [(f"L{n}", f"p{n}") for n in range(12)])
    sent = checked([list_page(menu, 1, translations["kk"])])[0]
    assert sent.body == "Body" and [c[0] for c in sent.choices] == ["p9", "p10", "p11"]


def test_cut_at_word() -> None:
    assert cut_at_word("short", 24) == "short"
    cut = cut_at_word("Kazakh diaspora support programmes", 24)
    assert len(cut) <= 24 and cut.endswith("…") and cut.startswith("Kazakh diaspora")


@pytest.mark.parametrize(("text", "command"), [
    ("start", "start"), ("Старт", "start"), ("бастау", "start"), ("MENU", "menu"),
    ("мәзір", "menu"), ("меню!", "menu"), ("help", "help"), ("көмек", "help"),
    ("Помощь", "help"), ("language", "language"), ("тіл", "language"), ("язык", "language"),
    ("cancel", "cancel"), ("отмена", "cancel"), ("hello", None), ("start now", None),
])
def test_command_words(text: str, command: str | None) -> None:
    assert command_word(text) == command


@pytest.mark.parametrize(("wa_id", "language"), [
    ("77011234567", "kk"), ("76012345678", "kk"), ("79161234567", "ru"),
    ("996555123456", "ru"), ("905321234567", None), ("4915112345678", None), (None, None),
])
def test_language_for_phone(wa_id: str | None, language: str | None) -> None:
    assert language_for_phone(wa_id) == language


def test_signature_ok() -> None:
    body = b'{"text":"\\u0421\\u04d9\\u043b\\u0435\\u043c"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature_ok("s3cret", body, good)
    assert not signature_ok("s3cret", body, None)
    assert not signature_ok("s3cret", body, good[:-1] + "0")
    assert not signature_ok("other", body, good)
    assert not signature_ok("s3cret", "{\"text\":\"Сәлем\"}".encode(), good)


def test_template_parameter_has_no_newlines_or_space_runs() -> None:
    flat = template_parameter("Forum tomorrow\n\nHall A,    10:00\n\tBring your ID")
    assert flat == "Forum tomorrow · Hall A, 10:00 Bring your ID"
    assert len(template_parameter("word " * 500)) <= 1000


def test_short_labels_belong_to_real_strings_and_fit_in_every_language(
    translations: Translations,
) -> None:
    from babel.messages.pofile import read_po

    from bot import LOCALES_DIR
    from bot.channels.whatsapp_render import (
        BUTTON_TITLE_LIMIT,
        LIST_BUTTON,
        LIST_BUTTON_LIMIT,
        MORE_DESCRIPTION,
        MORE_LABEL,
        ROW_DESCRIPTION_LIMIT,
        ROW_TITLE_LIMIT,
    )

    with (LOCALES_DIR / "en" / "LC_MESSAGES" / "bot.po").open("rb") as source:
        known = {message.id for message in read_po(source) if message.id}
    for long in SHORT_LABELS:
        assert long in known, f"{long!r} is no longer a string of the flows"
    for language in LANGUAGES:
        t = translations[language]
        for short in SHORT_LABELS.values():
            assert len(t._(short)) <= BUTTON_TITLE_LIMIT, (language, t._(short))
        assert len(t._(LIST_BUTTON)) <= LIST_BUTTON_LIMIT
        assert len(t._(MORE_LABEL)) <= ROW_TITLE_LIMIT
        assert len(t._(MORE_DESCRIPTION)) <= ROW_DESCRIPTION_LIMIT


def test_an_untranslated_short_label_is_not_used_in_another_language() -> None:
    import gettext

    from bot.channels.whatsapp_render import fit_label
    from bot.core.i18n import Translator

    untranslated = Translator("ru", gettext.NullTranslations())
    assert fit_label("📊 Kazakhs abroad in numbers", 24, untranslated) is None
    english = Translator("en", gettext.NullTranslations())
    assert fit_label("📊 Kazakhs abroad in numbers", 24, english) == "📊 In numbers"
