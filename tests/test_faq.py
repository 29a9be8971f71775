"""Typed questions answered from the knowledge base: the normalizer, the matcher, the
evaluation set, the content files' checks, and the flow (answers, likely questions, a
question carried to a coordinator, off-topic text, personal answers, the coordinators'
list of unanswered questions and its retention).

Only the entries the flows and tests/test_faq_content.py name are named here:
kandas_who, kandas_how, documents_list, subsidy_amount, my_forum_when, bot_privacy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from bench.faq import eval_sets, quality, score
from bot import LANGUAGES, clock
from bot.app import App, build_app
from bot.content import ContentError, load_content
from bot.db.models import HandoverMessage, HandoverThread, UnansweredQuestion, User
from bot.services import forums, knowledge, meaning, unanswered
from bot.services.knowledge import KnowledgeBase, fold
from tests.conftest import Chat, make_settings
from tests.forum_helpers import DETAILS, OFFSETS, make_forum
from tests.test_content import content_dir, edit  # noqa: F401 - the fixture

LEAD = 7001


# ---- the normalizer and the matcher ---------------------------------------------------------


def test_kazakh_typed_without_kazakh_letters_or_in_latin_is_one_text() -> None:
    assert fold("Кандас болу үшін") == fold("кандас болу ушин") == fold("kandas bolu ushin")
    assert fold("құжаттар") == fold("кужаттар") == fold("qujattar") == fold("QUJATTAR")
    assert fold("ғ ң ө ә ұ ү і һ қ") == fold("г н о а у у и х к")
    assert fold("ёлка") == fold("елка")
    assert fold("Қазақстан!") == fold("kazakstan")
    assert fold("  ") == ""


@pytest.fixture(scope="module")
def base() -> KnowledgeBase:
    return KnowledgeBase.build(load_content())


@pytest.mark.parametrize(("text", "entry"), [
    ("kandas bolu ushin ne isteu kerek", "kandas_how"),  # Kazakh in Latin letters
    ("кандас болу ушин не керек", "kandas_how"),  # Kazakh without Kazakh letters
    ("кужаттар керек", "documents_list"),
    ("какие кужаттар нужны", "documents_list"),  # Russian and Kazakh in one message
    ("documenty kakie nuzhny", "documents_list"),  # Russian in Latin letters
    ("сколько денег дадут", "subsidy_amount"),
    ("how much money will we get", "subsidy_amount"),
    ("kandas kim", "kandas_who"),
    ("what data do you keep about me", "bot_privacy"),
    ("когда мой форум", "my_forum_when"),
])
def test_questions_in_any_language_and_spelling_find_their_entry(
        base: KnowledgeBase, text: str, entry: str) -> None:
    found = base.ask(text)
    assert found.matches and found.matches[0].entry_id == entry, (text, found)


@pytest.mark.parametrize(("text", "entry"), [
    ("When is my forum?", "my_forum_when"),  # "forum" is its one word of weight
    ("КУЖАТТАР", "documents_list"),
])
def test_a_question_typed_as_an_example_is_that_entrys(
        base: KnowledgeBase, text: str, entry: str) -> None:
    found = base.ask(text)
    assert found.confident and found.matches[0] == knowledge.Match(entry, 1.0), found


def test_an_example_of_two_entries_is_nobodys_for_sure() -> None:
    shared = KnowledgeBase([("one", "forum date", 1.0), ("two", "forum date", 1.0),
                            ("two", "forum place", 1.0)])
    assert all(match.score < 1.0 for match in shared.ranked("forum date"))


def test_a_question_the_best_entry_holds_only_in_part_is_less_sure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    small = KnowledgeBase([("citizenship", "how to get citizenship", 1.0),
                           ("citizenship", "citizenship after the status", 1.0),
                           ("forum", "register for the forum", 1.0)])
    number = small.entry_ids.index("citizenship")
    assert small.coverage("citizenship please", number) == 1.0
    partly = "kyrgyz citizenship"  # "kyrgyz": a word no phrasing holds
    held = small.coverage(partly, number)
    assert 0.0 < held < 0.5
    scaled = small.ranked(partly)
    monkeypatch.setattr(knowledge, "COVERAGE_POWER", 0.0)
    plain = small.ranked(partly)
    assert [match.entry_id for match in scaled] == [match.entry_id for match in plain]
    assert scaled[0].entry_id == "citizenship"
    assert scaled[0].score == pytest.approx(plain[0].score * held ** 0.7)


@pytest.mark.parametrize("text", ["ертең ауа райы қандай", "какая погода завтра",
                                  "tell me a joke", "рецепт плова", "9", "🙂"])
def test_off_topic_text_is_not_answered(base: KnowledgeBase, text: str) -> None:
    assert not base.ask(text).confident


def test_words_the_content_cannot_hold_are_read_as_its_terms() -> None:
    """faq.synonyms.yaml: a typed old name or the other language's name of an office is
    read with the content's term too; a short one only as a whole word."""
    synonyms = knowledge.Synonyms({"ЦОН": ["ХҚКО", "CON"], "кандас": ["оралман"]})
    assert synonyms.read(fold("ХҚКО-ға оралмандар contact con").split()) == [
        "hko", "tson", "ga", "oralmandar", "kandas", "contact", "con", "tson"]
    # "оралман" can be in no phrasing (the glossary refuses it), yet finds the entry
    phrases = [("old_name", "кандастың бұрынғы атауы", 1.0),
               ("documents", "қандай құжаттар керек", 1.0)]
    assert not KnowledgeBase(phrases).ranked("оралман")
    read = KnowledgeBase(phrases, synonyms=knowledge.Synonyms(
        {"кандастың бұрынғы атауы": ["оралман"]}))
    assert [match.entry_id for match in read.ranked("оралман")] == ["old_name"]


def test_an_answer_offers_at_most_three_worth_offering(base: KnowledgeBase) -> None:
    for text in ("кандас", "документы кандас", "kandas how documents money forum"):
        found = base.ask(text)
        assert len(found.matches) <= knowledge.OFFER_COUNT
        assert all(match.score >= knowledge.OFFERED for match in found.matches)
        assert [m.score for m in found.matches] == sorted((m.score for m in found.matches),
                                                          reverse=True)
        assert len({m.entry_id for m in found.matches}) == len(found.matches)


def test_the_phrasings_vectors_are_kept_in_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Computed once, then read back by a process that has not computed them."""
    kept = tmp_path / "faq.vectors.npz"
    monkeypatch.setattr(meaning, "VECTORS_FILE", kept)
    texts = ["кандас деген кім", "what is a kandas"]
    first = meaning.phrasing_vectors(texts)
    assert first.shape == (2, meaning._loaded().dim)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-3)
    assert kept.exists()

    class Refuses:
        dim = first.shape[1]

        def query(self, texts: object) -> object:
            raise AssertionError("computed again")

    monkeypatch.setattr(meaning, "_loaded", lambda: Refuses())
    assert np.array_equal(meaning.phrasing_vectors(texts), first)


def test_vectors_are_still_computed_where_the_file_cannot_be_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
        ) -> None:
    monkeypatch.setattr(meaning, "VECTORS_FILE", tmp_path / "missing" / "v.npz")
    assert meaning.phrasing_vectors(["кужаттар", "documents"]).shape[0] == 2
    assert "could not keep the phrasings' vectors" in caplog.text


def test_the_sentence_model_answers_what_the_words_alone_get_wrong() -> None:
    text = "erase everything you know about me"  # "erase" is in no example
    content = load_content()
    assert KnowledgeBase.build(content).ask(text).matches[0].entry_id == "bot_privacy"
    found = KnowledgeBase.build(content, meaning=True).ask(text)
    assert found.confident and found.matches[0].entry_id == "privacy_delete"


@pytest.mark.parametrize("with_meaning", [False, True], ids=["lexical", "meaning"])
def test_the_thresholds_come_from_the_evaluation_set(with_meaning: bool) -> None:
    """The constants are what `python -m bench.faq --tune [--meaning]` chooses on the
    set; run it and copy its values after the content or the set changes."""
    from bench.faq import tune

    base = KnowledgeBase.build(load_content(), meaning=with_meaning)
    assert tune(score(base, eval_sets())) == (base.confident, base.offered)


# ---- the evaluation set ----------------------------------------------------------------------


# The goals are 0.9 for both (README, "Typed questions"); the matcher reaches less today.
# These floors are what it measures now (`python -m bench.faq [--meaning]`), without and
# with the sentence model: a change that answers worse fails here, and they move up as
# the matcher improves. One went down: words only, Russian top-1 0.880 to 0.867 (one
# question) when the entries' pooled vectors kept their rarer features and weigh more,
# which raised top-1 in Kazakh and English and off-topic kept apart in every language
# (README, "Typed questions").
TOP1_FLOOR = {False: {"kk": 0.89, "ru": 0.89, "en": 0.90},
              True: {"kk": 0.93, "ru": 0.93, "en": 0.92}}
OFF_TOPIC_FLOOR = {False: {"kk": 0.90, "ru": 0.96, "en": 0.84},
                   True: {"kk": 0.87, "ru": 0.87, "en": 0.90}}


@pytest.mark.parametrize("with_meaning", [False, True], ids=["lexical", "meaning"])
def test_the_evaluation_set_is_answered_in_every_language(with_meaning: bool) -> None:
    """Every label is an entry, no question is a copy of an example, and top-1 and
    off-topic kept apart stay at or above the floors (kk.yaml, ru.yaml, en.yaml)."""
    content = load_content()
    sets = eval_sets()
    for language in LANGUAGES:
        found = sets[language]
        labels = {label for _, label in found.questions}
        assert labels <= set(content.faq.entries), (found.path, labels - set(content.faq.entries))
        examples = {fold(example) for words in content.faq.texts[language].values()
                    for example in words.examples}
        copied = [text for text, _ in found.questions if fold(text) in examples]
        assert not copied, f"{found.path}: copied from the examples: {copied}"
    base = KnowledgeBase.build(content, meaning=with_meaning)
    for language, items in score(base, sets).items():
        result = quality(items, base.confident, base.offered)
        assert result.top1 >= TOP1_FLOOR[with_meaning][language], (language, result)
        assert result.off_topic >= OFF_TOPIC_FLOOR[with_meaning][language], (language, result)


# The held-out questions (tests/fixtures/faq_eval/holdout/), never used to tune: what
# the matcher gets on questions written apart from the tuning, words only, as measured
# by `python -m bench.faq`.
HELD_OUT_TOP1_FLOOR = {"kk": 0.90, "ru": 0.86, "en": 0.86}
HELD_OUT_OFF_TOPIC_FLOOR = {"kk": 1.0, "ru": 0.90, "en": 0.90}


def test_the_held_out_questions_are_answered_in_every_language() -> None:
    from bench.faq import HOLDOUT_DIR

    base = KnowledgeBase.build(load_content())
    for language, items in score(base, eval_sets(HOLDOUT_DIR)).items():
        result = quality(items, base.confident, base.offered)
        assert result.top1 >= HELD_OUT_TOP1_FLOOR[language], (language, result)
        assert result.off_topic >= HELD_OUT_OFF_TOPIC_FLOOR[language], (language, result)


def test_text_about_what_the_base_does_not_answer_is_not_answered() -> None:
    """A question closer to a subject of faq.outside.yaml than to any entry gets neither
    an answer nor likely questions, however high its score."""
    ranked = [knowledge.Match(knowledge.OUTSIDE + "weather:0", 0.9),
              knowledge.Match("kandas_who", 0.8)]
    assert knowledge.decide(ranked, 0.2, 0.1) == knowledge.Answer(confident=False, matches=[])
    found = knowledge.decide(ranked[::-1], 0.2, 0.1)
    assert found.confident and [m.entry_id for m in found.matches] == ["kandas_who"]
    assert not KnowledgeBase.build(load_content()).ask("weather forecast for tomorrow").matches


# ---- the content files -----------------------------------------------------------------------


def test_the_shipped_knowledge_base_is_whole() -> None:
    faq = load_content().faq
    for entry_id in ("kandas_who", "kandas_how", "documents_list", "subsidy_amount",
                     "my_forum_when", "bot_privacy"):
        assert entry_id in faq.entries
    assert faq.entries["subsidy_amount"].personal == "subsidy"
    assert faq.entries["my_forum_when"].personal == "my_forum"
    for language in LANGUAGES:
        assert set(faq.texts[language]) == set(faq.entries)


@pytest.mark.parametrize(("file", "change", "message"), [
    ("faq.yaml", lambda d: d["entries"][0]["related"].__setitem__(0, "no_such_entry"),
     "related: 'no_such_entry' is no entry"),
    ("faq.yaml", lambda d: d["entries"][0]["facts"].append("no_such_fact"),
     "facts: 'no_such_fact' is not in facts.yaml"),
    ("faq.yaml", lambda d: d["entries"][0].update(flow="nowhere"), "flow"),
    ("faq.yaml", lambda d: d["entries"][0].update(id="x" * 51), "entries.0.id"),
    ("faq.yaml", lambda d: d["entries"].append(dict(d["entries"][0])), "is listed twice"),
    ("faq.en.yaml", lambda d: d.pop("kandas_who"), "faq.en.yaml: kandas_who: is missing"),
    ("faq.ru.yaml", lambda d: d["kandas_who"].update(answer="Срок — {no_such_fact}."),
     "placeholders not in facts.yaml: ['no_such_fact']"),
    ("faq.kk.yaml", lambda d: d["kandas_who"].update(answer="{processing_days}."),
     "uses facts not listed in the entry's `facts`"),
    ("faq.en.yaml", lambda d: d["kandas_who"].update(answer="word " * 150),
     "more than 700"),
    ("faq.en.yaml", lambda d: d["kandas_who"].update(examples=["one", "two"]),
     "kandas_who.examples"),
    ("faq.en.yaml", lambda d: d["kandas_who"].update(question="x" * 61), "kandas_who.question"),
    ("faq.outside.yaml", lambda d: d["weather"].pop("kk"), "weather.kk"),
    ("faq.outside.yaml", lambda d: d["weather"].update(ru=["  "]), "weather.ru"),
    ("faq.synonyms.yaml", lambda d: d["ЦОН"].append("public service"), "is not one word"),
    ("faq.synonyms.yaml", lambda d: d["МРП"].append("хқко"), "is listed twice"),
])
def test_a_broken_knowledge_base_stops_the_start(content_dir: Path, file: str,  # noqa: F811
                                                 change: object, message: str) -> None:
    edit(content_dir / file, change)
    with pytest.raises(ContentError) as error:
        load_content(content_dir)
    assert file in str(error.value) and message in str(error.value), str(error.value)


# ---- the flow ----------------------------------------------------------------------------------


@pytest.fixture
async def desk_app(database_url: str) -> AsyncIterator[App]:
    """Questions to coordinators available: their chat is set, Telegram is on."""
    built = await build_app(make_settings(database_url, coordinator_chat_id=-1001, bot_token="1:x",
                                          admin_ids=[LEAD]))
    try:
        yield built
    finally:
        await built.close()


async def english(app: App, user: str = "q1") -> Chat:
    chat = Chat(app, user, language_hint="en")
    await chat.text("/start")
    return chat


async def test_a_question_gets_its_answer_with_source_and_buttons(desk_app: App) -> None:
    chat = await english(desk_app)
    await chat.text("kandas bolu ushin ne isteu kerek")  # Kazakh, typed in Latin letters
    text = chat.texts()
    words = desk_app.content.faq.words("kandas_how", "en")
    assert text.startswith(f"❓ {words.question}")  # answered in the user's language
    assert "working days" in text and "{" not in text  # the figures filled
    assert text.splitlines()[-1].startswith("📎 Source")
    assert len(text) < 1000
    entry = desk_app.content.faq.entries["kandas_how"]
    payloads = chat.payloads()
    assert payloads[0] == "el"  # the flow it belongs to
    assert payloads[1:-1] == [f"faq:e:{other}" for other in entry.related[:2]]
    assert payloads[-1] == "menu"
    # A related question pressed: that entry's answer.
    await chat.press(payloads[1])
    assert chat.texts().startswith(
        f"❓ {desk_app.content.faq.words(entry.related[0], 'en').question}")


async def test_a_question_in_another_language_is_answered_in_the_chosen_one(app: App) -> None:
    chat = Chat(app, "ru-user", language_hint="ru")
    await chat.text("/start")
    await chat.text("what documents do i need for kandas")
    assert chat.texts().startswith(f"❓ {app.content.faq.words('documents_list', 'ru').question}")
    assert "el:cl" in chat.payloads()  # "My documents"


async def test_with_the_sentence_model_a_paraphrase_is_answered(database_url: str) -> None:
    """FAQ_SENTENCE_MODEL=true: a question whose words lead elsewhere is answered by
    what it means."""
    for with_meaning, entry in ((True, "privacy_delete"), (False, "bot_privacy")):
        built = await build_app(make_settings(database_url, faq_sentence_model=with_meaning))
        try:
            chat = await english(built, f"para-{with_meaning}")
            await chat.text("erase everything you know about me")
            heading = f"❓ {built.content.faq.words(entry, 'en').question}"
            assert chat.texts().startswith(heading), chat.texts()
        finally:
            await built.close()


async def test_an_unsure_question_offers_likely_ones_and_a_coordinator(
        desk_app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KnowledgeBase.of(desk_app.content), "confident", 1.01)  # none sure
    chat = await english(desk_app)
    await chat.text("kandas documents")
    assert "not sure I understood" in chat.texts()
    offered = [p for p in chat.payloads() if p.startswith("faq:e:")]
    assert 1 <= len(offered) <= 3
    assert chat.payloads()[-2:] == ["faq:ask", "menu"]
    await chat.press(offered[0])  # a likely question is its answer
    assert chat.texts().startswith("❓ ")

    await chat.text("kandas documents")
    await chat.press("faq:ask")  # carried to the coordinator: confirmed first
    assert "«kandas documents»" in chat.texts()
    assert chat.payloads() == ["faq:send", "ho", "menu"]
    async with desk_app.engine.sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(HandoverThread)) == 0
    await chat.press("faq:send")
    assert "has been passed to the Fund's coordinators" in chat.texts()
    async with desk_app.engine.sessionmaker() as db:
        texts = (await db.execute(select(HandoverMessage.text))).scalars().all()
    assert texts == ["kandas documents"]
    # Counted as unanswered, without who asked (twice asked: one row).
    async with desk_app.engine.sessionmaker() as db:
        rows = (await db.execute(select(UnansweredQuestion))).scalars().all()
    assert [(row.text, row.language, row.count) for row in rows] == [
        ("kandas documents", "en", 2)]
    columns = {column.name for column in UnansweredQuestion.__table__.columns}
    assert columns == {"id", "language", "key", "text", "count", "first_asked", "last_asked"}


async def test_off_topic_text_gets_what_the_bot_does(desk_app: App) -> None:
    chat = await english(desk_app)
    await chat.text("what is the weather tomorrow in almaty")
    assert "only help with" in chat.texts()
    assert chat.payloads() == ["faq:ask", "menu"]


async def test_without_the_coordinators_chat_there_is_no_ask_button(app: App) -> None:
    chat = await english(app)
    await chat.text("tell me a joke")
    assert chat.payloads() == ["menu"]
    assert "only help with" in chat.texts() and "coordinator" not in chat.texts()
    await chat.press("faq:ask")  # an older button: the usual answer, not an error
    assert "not available" in chat.texts()


async def test_the_subsidy_answer_counts_for_the_users_family(app: App) -> None:
    chat = await english(app)
    await chat.text("how much money will we get")
    general = chat.texts()
    assert "for your family" in general and "el" in chat.payloads()
    for payload in ["el", "el:a:nationality:yes", "el:a:nationality_document:yes",
                    "el:a:ever_citizen:no", "el:a:permanent:yes", "el:a:country:CN",
                    "el:a:family_size:2", "el:a:family_kazakh:all", "el:a:quota:yes"]:
        await chat.press(payload)
    await chat.text("how much money will we get")
    mine = chat.texts()
    assert "From your last eligibility check" in mine
    assert "3 people in all: KZT\u00a0908,250" in mine  # 70 MRP × 4,325 ₸ × 3
    assert mine.splitlines()[-1].startswith("📎 Source")


async def test_my_forum_is_answered_from_the_registrations(app: App) -> None:
    chat = await english(app, "forum-user")
    await chat.text("when is my forum")
    assert "My registrations" in chat.texts() or "registrations" in chat.texts()
    assert "fo:my" in chat.payloads()
    async with app.engine.sessionmaker() as db, db.begin():
        forum = await make_forum(db)
        user = (await db.execute(select(User).where(User.external_id == "forum-user"))
                ).scalar_one()
        await forums.register(db, forum.id, user.id, DETAILS, clock.now(), OFFSETS)
    await chat.text("when is my forum")
    assert "Business forum in Berlin" in chat.texts()
    assert any(p.startswith("fo:m:") for p in chat.payloads())


async def test_text_a_step_waits_for_stays_that_steps_input(app: App) -> None:
    async with app.engine.sessionmaker() as db, db.begin():
        forum = await make_forum(db)
    chat = await english(app, "registering")
    await chat.press(f"fo:r:{forum.id}")
    await chat.text("how much money will we get")  # typed as the name: it is the name
    assert "❓" not in chat.texts()
    await chat.text("kandas documents")  # the country: a country is asked again
    assert "❓" not in chat.texts()


async def test_unanswered_questions_for_coordinators_paged_and_purged(desk_app: App) -> None:
    user = await english(desk_app, "asker")
    for number in range(6):
        for _ in range(number + 1):
            await user.text(f"qwzx vbnm {number}")
    await user.press("faq:un")
    assert "coordinators only" in user.texts()
    await user.text("/unanswered")
    assert "coordinators only" in user.texts()

    lead = Chat(desk_app, str(LEAD), channel="telegram", language_hint="en")
    await lead.text("/start")
    await lead.text("/unanswered")
    listing = lead.texts()
    assert listing.index("vbnm 5") < listing.index("vbnm 4")  # most asked first
    assert "asked 6 times" in listing and "Page 1 of 2" in listing
    assert "vbnm 1" not in listing
    assert lead.payloads() == ["faq:un:1", "menu"]
    await lead.press("faq:un:1")
    assert "vbnm 1" in lead.texts() and "asked 2 times" in lead.texts()

    async with desk_app.engine.sessionmaker() as db, db.begin():
        later = clock.now() + timedelta(days=desk_app.settings.faq_unanswered_days + 1)
        assert await unanswered.purge(db, clock.now(), desk_app.settings.faq_unanswered_days) == 0
        assert await unanswered.purge(db, later, desk_app.settings.faq_unanswered_days) == 6
    await lead.text("/unanswered")
    assert "No unanswered questions" in lead.texts()

