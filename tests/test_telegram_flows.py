"""End to end on Telegram, in all three languages: the repatriation guide (back,
restart, resume after a process restart, typed answers with typos) and a forum
registration (shared phone, ticket photo and calendar file, check-in by deep link)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot import LANGUAGES, clock
from bot.channels.telegram import TelegramChannel
from bot.core.notify import Notifier
from bot.db.models import Forum, Registration
from bot.runner import make_compose
from bot.services import forum_import, reminders
from tests.fakes.telegram_api import ApiCall, FakeTelegramAPI
from tests.telegram_harness import RunningBot, assert_clean, check, running_bot

LEAD = 7001
PERSON = {
    "kk": ("Айгерім Сейітова", "Берлин", "«Қазақ Сауда» ЖШС"),
    "ru": ("Айгерим Сеитова", "Берлин", "ООО «Казах Трейд»"),
    "en": ("Aigerim Seitova", "Berlin", "Qazaq Trade GmbH"),
}
TYPED = {
    "kk": {"yes": "иә", "country": "Германя", "one": "1"},
    "ru": {"yes": "да", "country": "Гермния", "one": "1"},
    "en": {"yes": "yes", "country": "Germny", "one": "1"},
}


def texts(replies: list[ApiCall], language: str) -> str:
    for reply in replies:
        check(reply, language)
    return "\n".join(reply.text for reply in replies)


def question(bot: RunningBot, language: str, number: int) -> str:
    return bot._(language, "Question {number}").format(number=number)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_eligibility_walk_with_back_restart_and_typed_answers(
    bot: RunningBot, language: str
) -> None:
    user = 500 + LANGUAGES.index(language)
    words = TYPED[language]
    await bot.say(user, "/start", language_code=language)
    text = texts(await bot.press(user, "el"), language)
    assert question(bot, language, 1) in text
    texts(await bot.press(user, "el:a:nationality:yes"), language)
    texts(await bot.press(user, "el:a:nationality_document:no"), language)
    text = texts(await bot.press(user, "el:back"), language)
    assert question(bot, language, 2) in text
    texts(await bot.press(user, "el:a:nationality_document:yes"), language)
    text = texts(await bot.say(user, words["one"]), language)  # "1": the first answer
    assert question(bot, language, 4) in text
    texts(await bot.say(user, words["yes"]), language)  # permanently: yes
    text = texts(await bot.say(user, words["country"]), language)  # a typo
    assert question(bot, language, 6) in text
    texts(await bot.say(user, "2"), language)
    texts(await bot.press(user, "el:a:family_kazakh:all"), language)
    result = texts(await bot.press(user, "el:a:quota:yes"), language)
    words_file = bot.app.content.eligibility.words[language]
    assert words_file.verdicts["eligible"] in result
    plan = texts(await bot.press(user, "el:plan"), language)
    assert words_file.plan.title in plan
    support = texts(await bot.press(user, "el:plan:support"), language)
    assert "908" in support and "250" in support  # 70 MRP × 4,325 ₸ × 3 people
    texts(await bot.press(user, "el:plan"), language)
    texts(await bot.press(user, "el:plan:documents"), language)
    checklist = texts(await bot.press(user, "el:cl"), language)
    assert "0" in checklist and "9" in checklist
    texts(await bot.press(user, "el:t:application"), language)
    # Restart: a fresh questionnaire, the old result kept until the new one ends.
    text = texts(await bot.press(user, "el:new"), language)
    assert question(bot, language, 1) in text
    assert_clean(bot.api)


async def test_eligibility_resumes_after_a_process_restart(
    database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]], telegram_mode: str
) -> None:
    user = 600
    async with running_bot(database_url, api, handled, telegram_mode=telegram_mode) as first:
        await first.say(user, "/start", language_code="kk")
        await first.press(user, "el")
        await first.press(user, "el:a:nationality:yes")
        await first.press(user, "el:a:nationality_document:yes")
    handled.clear()
    async with running_bot(database_url, api, handled, telegram_mode=telegram_mode) as second:
        text = texts(await second.say(user, "жоқ"), "kk")  # typed, after the restart
        assert question(second, "kk", 4) in text
        text = texts(await second.say(user, "/menu"), "kk")
        text = texts(await second.press(user, "el"), "kk")
        assert second._("kk", "Welcome back! Let's continue where you stopped.") in text
        assert question(second, "kk", 4) in text
        assert_clean(api)


async def make_forum(bot: RunningBot, capacity: int = 5) -> int:
    start = clock.now() + timedelta(days=30)
    item = forum_import.ForumFile.model_validate({
        "slug": "berlin-e2e", "country": "DE",
        "city": {"kk": "Берлин", "ru": "Берлин", "en": "Berlin"},
        "venue": {"kk": "«Адлон» қонақүйі", "ru": "Отель «Адлон»", "en": "Hotel Adlon"},
        "title": {"kk": "Берлин форумы", "ru": "Форум в Берлине", "en": "Berlin forum"},
        "description": {"kk": "Кездесу.", "ru": "Встреча.", "en": "A meeting."},
        "timezone": "Europe/Berlin", "starts": start, "ends": start + timedelta(hours=8),
        "deadline": start - timedelta(days=2), "language": "ru", "capacity": capacity,
        "status": "published"})
    async with bot.app.engine.sessionmaker() as db, db.begin():
        await forum_import.apply(db, [item], clock.now(), bot.app.settings.reminder_offsets)
        forum_id = (await db.execute(select(Forum.id))).scalar_one()
    return int(forum_id)


async def register(bot: RunningBot, api: FakeTelegramAPI, user: int, language: str,
                   forum_id: int) -> list[ApiCall]:
    """A whole registration through Telegram; returns the replies to the confirmation."""
    await bot.say(user, "/start", language_code=language, first_name="Aigerim")
    texts(await bot.press(user, "fo"), language)
    texts(await bot.press(user, f"fo:v:{forum_id}"), language)
    texts(await bot.press(user, f"fo:r:{forum_id}"), language)
    name, city, organization = PERSON[language]
    for answer in (name, "Германия", city, organization):
        texts(await bot.say(user, answer), language)
    replies = await bot.press(user, "rg:sector:trade")
    texts(replies, language)
    asking = replies[-1].params["reply_markup"]
    assert asking["keyboard"][0][0]["request_contact"] is True
    replies = await bot.after(user, api.send_contact(user, "4915112345678"))
    assert "+4915112345678" in texts(replies, language)
    assert replies[0].params["reply_markup"] == {"remove_keyboard": True}
    texts(await bot.press(user, "rg:skip"), language)
    texts(await bot.press(user, "rg:agree"), language)
    replies = await bot.press(user, "rg:go")
    texts(replies, language)
    return replies


@pytest.mark.parametrize("language", LANGUAGES)
async def test_forum_registration_ticket_reminder_and_check_in(
    database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]], language: str,
    telegram_mode: str,
) -> None:
    user = 700 + LANGUAGES.index(language)
    name = PERSON[language][0]
    async with running_bot(database_url, api, handled, admin_ids=[LEAD],
                           telegram_mode=telegram_mode) as bot:
        forum_id = await make_forum(bot)
        replies = await register(bot, api, user, language, forum_id)
        methods = [reply.method for reply in replies]
        assert methods[:3] == ["editMessageText", "sendPhoto", "sendDocument"], methods
        assert replies[2].params["document"]  # the .ics file
        async with bot.app.engine.sessionmaker() as db:
            secret = (await db.execute(select(Registration.ticket_secret))).scalar_one()
            forum = (await db.execute(select(Forum))).scalar_one()

        # The reminder a day before arrives in the user's language.
        channel = TelegramChannel(bot.app.engine, bot.app.settings, bot.app.translations)
        notifier = Notifier()
        notifier.register("telegram", channel.push)
        mark = api.mark()
        tally = await reminders.run_due(bot.app.engine.sessionmaker, notifier,
                                        make_compose(bot.app), "test",
                                        forum.starts_at - timedelta(hours=20))
        await channel.bot.session.close()
        assert tally == {"sent": 1, "skipped": 1}  # the 7-day one is superseded
        reminder = api.replies(user, mark)
        assert len(reminder) == 1
        tomorrow = bot._(language, "tomorrow")
        assert tomorrow in texts(reminder, language)

        # The QR code holds the deep link; the coordinator's scan opens it.
        await bot.say(LEAD, "/start", language_code="en")
        replies = await bot.say(LEAD, f"/start ci_{secret}", language_code="en")
        assert "Checked in" in replies[0].text and name in replies[0].text
        # Someone else scanning it learns nothing.
        replies = await bot.say(user + 50, f"/start ci_{secret}", language_code=language)
        assert name not in texts(replies, language)
        assert_clean(api)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_forum_cancellation_moves_the_waiting_list(
    database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]], language: str,
    telegram_mode: str,
) -> None:
    first, second = 800 + 2 * LANGUAGES.index(language), 801 + 2 * LANGUAGES.index(language)
    async with running_bot(database_url, api, handled, telegram_mode=telegram_mode) as bot:
        forum_id = await make_forum(bot, capacity=1)
        await register(bot, api, first, language, forum_id)
        replies = await register(bot, api, second, language, forum_id)
        assert bot._(language, "All seats are taken, so you are on the waiting list: number "
                     "{position}. If a seat frees up, you get it automatically and I will "
                     "tell you.").format(position=1) in texts(replies, language)
        texts(await bot.press(first, "fo:my"), language)
        async with bot.app.engine.sessionmaker() as db:
            mine = (await db.execute(select(Registration.id).order_by(Registration.id))
                    ).scalars().first()
        texts(await bot.press(first, f"fo:m:{mine}"), language)
        texts(await bot.press(first, f"fo:x:{mine}"), language)
        text = texts(await bot.press(first, f"fo:xx:{mine}"), language)
        assert bot._(language, "Your registration is cancelled. Reminders are off.") in text
        async with bot.app.engine.sessionmaker() as db:
            statuses = (await db.execute(
                select(Registration.status).order_by(Registration.id))).scalars().all()
        assert statuses == ["cancelled", "confirmed"]
        text = texts(await bot.press(second, "fo:my"), language)
        assert bot._(language, "✅ confirmed") in text
        assert_clean(api)
