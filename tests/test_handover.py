"""Questions to a human, end to end: the real bot against the fake Bot API (users'
private chats and the coordinators' group) and the fake Graph API (WhatsApp users).

A user asks from the menu; the question is copied into the coordinators' group with
who asked; a coordinator's reply there reaches the user on their channel; follow-ups
are threaded; closing tells the user; the mapping survives a restart. Only
coordinators may answer or use the desk's commands; leads manage coordinators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, update

from bot import clock
from bot.channels.whatsapp_inbox import SIGNATURE_HEADER
from bot.db.models import Coordinator, HandoverMessage, HandoverThread, WhatsAppContact
from bot.services import handover
from tests.fakes.graph_api import FakeGraphAPI, Sent, WhatsAppUser, encode, sign
from tests.fakes.telegram_api import ApiCall, ChatMessage, FakeTelegramAPI
from tests.telegram_harness import RunningBot, assert_clean, check, is_menu, one, running_bot

GROUP = -1001500000001
LEAD = 9001
COORDINATOR = 9002
STRANGER = 9003
USER = 501
WA_SECRET = "handover-app-secret"

ANSWER_HEADER = "Answer from a coordinator:"


def desk_settings(**extra: Any) -> dict[str, Any]:
    return {"coordinator_chat_id": GROUP, "admin_ids": [LEAD], **extra}


@pytest.fixture
async def desk(database_url: str, api: FakeTelegramAPI,
               handled: set[tuple[Any, ...]]) -> AsyncIterator[RunningBot]:
    api.add_group(GROUP)
    for person, name in ((LEAD, "Lead"), (COORDINATOR, "Coord"), (STRANGER, "Stranger")):
        api.user(person, first_name=name)
    async with running_bot(database_url, api, handled, **desk_settings()) as running:
        for person in (LEAD, COORDINATOR, STRANGER):  # their private chats, in English
            await running.say(person, "/start", language_code="en")
        yield running


def group(api: FakeTelegramAPI) -> list[ChatMessage]:
    return api.messages(GROUP)


async def in_group(bot: RunningBot, user: int, text: str | None = None,
                   **extra: Any) -> list[ApiCall]:
    """`user` writes in the coordinators' group; what the bot sent there meanwhile."""
    return await bot.after(GROUP, bot.api.group_message(GROUP, user, text, **extra))


async def count(bot: RunningBot, model: Any) -> int:
    async with bot.app.engine.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(model))).scalar_one())


async def ask(bot: RunningBot, user: int, question: str, language: str = "ru") -> ApiCall:
    """From /start to a sent question; returns the bot's acknowledgement."""
    menu = check(one(await bot.say(user, "/start", language_code=language,
                                   first_name="Айгерим")), language)
    assert "ho" in menu.callback_data
    prompt = check(one(await bot.press(user, "ho")), language)
    assert bot._(language, "Write your question to the Fund's coordinators: a message, a "
                 "photo or a document. A person will read it and answer here.") in prompt.text
    return check(one(await bot.say(user, question)), language)


async def wait_mapped(bot: RunningBot, message_id: int) -> None:
    """A copy sent outside a user's step (WhatsApp, the sweep) has its id stored just
    after it is sent: wait for that before replying to it."""
    for _ in range(250):
        async with bot.app.engine.sessionmaker() as db:
            if await handover.by_copy(db, GROUP, message_id) is not None:
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"message {message_id} is not mapped to a question")


def reply_target(message: ChatMessage) -> int | None:
    replied = message.extra.get("reply_to_message")
    return replied["message_id"] if replied else None


# ---- Telegram both ways ------------------------------------------------------------


async def test_question_answer_follow_up_restart_and_close_on_telegram(
    database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]], telegram_mode: str
) -> None:
    """In both of Telegram's modes: the coordinators' chat gets its messages and presses
    through the same dispatcher as the users' chats."""
    api.add_group(GROUP)
    api.user(LEAD, first_name="Lead")
    async with running_bot(database_url, api, handled, telegram_mode=telegram_mode,
                           **desk_settings()) as bot:
        ack = await ask(bot, USER, "Как получить статус кандаса?")
        assert "#1" in ack.text
        assert bot._("ru", "They will answer here in English, usually within a working "
                     "day.") in ack.text
        assert "на русском" in ack.text

        copy = group(api)[-1]
        assert copy.text is not None
        for part in ("#1", "Айгерим", "Русский", "Telegram", "Как получить статус кандаса?"):
            assert part in copy.text
        assert [b["callback_data"] for b in copy.buttons] == ["hd:close:1"]

        # The lead answers by replying to the copy: the user gets it with the header.
        mark = api.mark()
        confirmation = one(await in_group(bot, LEAD, "Подайте заявление в ЦОН.",
                                          reply_to=copy.message_id))
        assert "✅" in confirmation.text
        answer = check(one(api.replies(USER, mark)), "ru")
        assert answer.text.startswith(bot._("ru", ANSWER_HEADER))
        assert "Подайте заявление в ЦОН." in answer.text
        assert "ho:reply" in answer.callback_data

        # The user's follow-up joins the thread, as a reply in the group.
        follow = check(one(await bot.say(USER, "А сколько это занимает?")), "ru")
        assert bot._("ru", "Added to your question #{id}.").format(id=1) in follow.text
        follow_copy = group(api)[-1]
        assert "А сколько это занимает?" in (follow_copy.text or "")
        assert reply_target(follow_copy) is not None

    # A restart: the mapping is in the database.
    async with running_bot(database_url, api, handled, telegram_mode=telegram_mode,
                           **desk_settings()) as bot:
        mark = api.mark()
        await in_group(bot, LEAD, "Около месяца.", reply_to=follow_copy.message_id)
        answer = one(api.replies(USER, mark))
        assert "Около месяца." in answer.text

        # The "Reply" button under an answer goes back into the thread.
        again = check(one(await bot.press(USER, "ho:reply")), "ru")
        assert "#1" in again.text

        # Close with the button under the copy: the user is told, the button goes.
        mark = api.mark()
        await bot.after(GROUP, api.press_in_group(GROUP, LEAD, "hd:close:1",
                                                  message_id=copy.message_id))
        closed = check(one(api.replies(USER, mark)), "ru")
        assert "#1" in closed.text and "ho" in closed.callback_data
        assert next(m for m in group(api) if m.message_id == copy.message_id).buttons == []
        assert "🔒" in (group(api)[-1].text or "")

        # A reply to a closed question sends nothing.
        mark = api.mark()
        note = one(await in_group(bot, LEAD, "Ещё кое-что", reply_to=copy.message_id))
        assert "#1" in note.text
        assert api.replies(USER, mark) == []

        # Writing again opens a new question that points to the earlier one.
        ack = check(one(await bot.say(USER, "Новый вопрос про квоты")), "ru")
        assert "#2" in ack.text
        assert "/thread 1" in (group(api)[-1].text or "")

        # /threads lists the open one with its age; /thread 1 shows the history.
        listing = one(await in_group(bot, LEAD, "/threads"))
        assert "#2" in listing.text and "#1 " not in listing.text
        history = one(await in_group(bot, LEAD, "/thread 1"))
        assert "Около месяца." in history.text and "Как получить статус" in history.text
    async with bot.app.engine.sessionmaker() as db:
        statuses = dict((await db.execute(select(HandoverThread.id,
                                                 HandoverThread.status))).all())
    assert statuses == {1: "closed", 2: "open"}
    assert_clean(api)


async def test_photos_and_documents_both_ways(desk: RunningBot) -> None:
    bot, api = desk, desk.api
    await ask(bot, USER, "Вопрос о документах")
    mark = api.mark()
    ack = one(await bot.after(USER, api.send_photo(USER, caption="Вот мой паспорт")))
    assert "#1" in ack.text
    photo = one(api.calls_to("sendPhoto", mark, chat_id=GROUP))
    assert photo.params["photo"].startswith("AgACAgIAAxkBphoto")  # passed on by file id
    assert "Вот мой паспорт" in photo.text
    mark = api.mark()
    await bot.after(USER, api.send_document(USER, "diploma.pdf"))
    document = one(api.calls_to("sendDocument", mark, chat_id=GROUP))
    assert document.params["document"].startswith("BQACuserdoc")

    # A coordinator answers with a document: downloaded, sent to the user with the header.
    mark = api.mark()
    await in_group(bot, LEAD, document="form.pdf", caption="Заполните эту форму",
                   reply_to=group(api)[-2].message_id)
    sent = one(api.calls_to("sendDocument", mark, chat_id=USER))
    upload = sent.params["document"]
    if isinstance(upload, str) and upload.startswith("attach://"):
        upload = sent.params[upload.removeprefix("attach://")]
    assert upload["filename"] == "form.pdf" and upload["size"] > 0
    assert bot._("ru", ANSWER_HEADER) in sent.text and "Заполните эту форму" in sent.text
    async with bot.app.engine.sessionmaker() as db:
        kinds = (await db.execute(select(HandoverMessage.direction,
                                         HandoverMessage.attachment_kind)
                                  .order_by(HandoverMessage.id))).all()
    assert [tuple(k) for k in kinds] == [("in", None), ("in", "photo"), ("in", "document"),
                                         ("out", "document")]
    assert_clean(api)


async def test_the_menu_item_only_with_a_coordinators_chat(bot: RunningBot) -> None:
    menu = one(await bot.say(USER, "/start", language_code="en"))
    assert is_menu(menu) and "ho" not in menu.callback_data
    # An old "ho" button when the chat is not configured: a note and the menu.
    reply = one(await bot.after(USER, bot.api.press_data(USER, "ho")))
    assert bot._("en", "Questions to coordinators are not available at the moment.") \
        in reply.text


# ---- who may do what ---------------------------------------------------------------


async def test_only_coordinators_can_answer(desk: RunningBot) -> None:
    bot, api = desk, desk.api
    await ask(bot, USER, "Мой вопрос")
    copy = group(api)[-1]
    mark = api.mark()
    note = one(await in_group(bot, STRANGER, "Я отвечу!", reply_to=copy.message_id))
    assert note.text == bot._("kk", "Only the Fund's coordinators can answer questions; "
                              "nothing was sent.")
    assert api.replies(USER, mark) == []
    # The close button is refused too, with an alert, and the thread stays open.
    await bot.after(GROUP, api.press_in_group(GROUP, STRANGER, "hd:close:1",
                                              message_id=copy.message_id))
    query = list(api.callback_queries.values())[-1]
    assert query.answers[0].get("show_alert") in (True, "true", "True")
    assert api.replies(USER, mark) == []
    async with bot.app.engine.sessionmaker() as db:
        assert (await db.get(HandoverThread, 1)).status == "open"  # type: ignore[union-attr]
    # Ordinary talk in the group (no reply to a question) is left alone.
    assert await in_group(bot, STRANGER, "Всем привет") == []
    assert_clean(api)


@pytest.mark.parametrize("command", ["/threads", "/thread 1", "/close 1", "/coordinators",
                                     "/addcoordinator 9100", "/removecoordinator 9002"])
async def test_every_desk_command_checks_the_role(desk: RunningBot, command: str) -> None:
    bot, api = desk, desk.api
    await ask(bot, USER, "Вопрос")
    lead_only = command.split()[0] in ("/coordinators", "/addcoordinator",
                                       "/removecoordinator")
    refusal = bot._("kk", "This is for the Fund's lead coordinators only." if lead_only
                    else "This is for the Fund's coordinators only.")
    # In the group.
    mark = api.mark()
    assert one(await in_group(bot, STRANGER, command)).text == refusal
    assert api.replies(USER, mark) == []
    # In a private chat (the stranger speaks English there).
    reply = one(await bot.say(STRANGER, command))
    assert bot._("en", "This is for the Fund's lead coordinators only." if lead_only
                 else "This is for the Fund's coordinators only.") in reply.text
    assert api.replies(USER, mark) == []
    # The buttons of the coordinators' screens, pressed from an old or forged message.
    for data in ("co", "co:add", f"co:rm:{COORDINATOR}"):
        await bot.after(STRANGER, api.press_data(STRANGER, data))
        shown = api.last_message(STRANGER).text or ""  # edited, or already on display
        assert bot._("en", "This is for the Fund's lead coordinators only.") in shown
    async with bot.app.engine.sessionmaker() as db:
        assert (await db.get(HandoverThread, 1)).status == "open"  # type: ignore[union-attr]
    assert await count(bot, Coordinator) == 0


async def test_coordinators_added_and_removed_take_effect_at_once(desk: RunningBot) -> None:
    bot, api = desk, desk.api
    await ask(bot, USER, "Вопрос")
    copy = group(api)[-1]
    # COORDINATOR says something in the group; the lead adds them by replying to it.
    await in_group(bot, COORDINATOR, "Я новенький")
    theirs = group_user_message(api, COORDINATOR)
    added = one(await in_group(bot, LEAD, "/addcoordinator", reply_to=theirs))
    assert "Coord" in added.text

    # Now they can answer, and use the desk's commands, but not manage coordinators.
    mark = api.mark()
    await in_group(bot, COORDINATOR, "Ответ нового координатора", reply_to=copy.message_id)
    assert "Ответ нового координатора" in one(api.replies(USER, mark)).text
    assert "#1" in one(await in_group(bot, COORDINATOR, "/threads")).text
    refused = one(await in_group(bot, COORDINATOR, "/addcoordinator 9100"))
    assert refused.text == bot._("kk", "This is for the Fund's lead coordinators only.")
    # Their private menu shows the coordinators' tools; the lead's shows "👥 Coordinators".
    assert "ad" in one(await bot.say(COORDINATOR, "/menu", language_code="en")).callback_data
    tools = one(await bot.press(COORDINATOR, "ad"))
    assert "co" not in tools.callback_data
    await bot.say(LEAD, "/start", language_code="en")
    assert "co" in one(await bot.press(LEAD, "ad")).callback_data
    listing = one(await bot.press(LEAD, "co"))
    assert "Coord" in listing.text and f"co:rm:{COORDINATOR}" in listing.callback_data

    # The lead removes them (a button in the private chat): refused from the next message.
    removed = one(await bot.press(LEAD, f"co:rm:{COORDINATOR}"))
    assert f"co:rm:{COORDINATOR}" not in removed.callback_data
    mark = api.mark()
    note = one(await in_group(bot, COORDINATOR, "Ещё ответ", reply_to=copy.message_id))
    assert note.text == bot._("kk", "Only the Fund's coordinators can answer questions; "
                              "nothing was sent.")
    assert api.replies(USER, mark) == []
    assert "ad" not in one(await bot.say(COORDINATOR, "/menu")).callback_data

    # Adding by id in the private chat, typed after the "Add" button; and by command.
    await bot.say(LEAD, "/coordinators")
    prompt = one(await bot.press(LEAD, "co:add"))
    assert "@userinfobot" in prompt.text
    assert "9100" in one(await bot.say(LEAD, "9100")).text
    assert "9101" in one(await bot.say(LEAD, "/addcoordinator 9101")).text
    assert await count(bot, Coordinator) == 2
    await bot.say(LEAD, "/removecoordinator 9101")
    assert await count(bot, Coordinator) == 1
    # A lead cannot be removed (ADMIN_IDS is configuration).
    assert one(await in_group(bot, LEAD, f"/removecoordinator {LEAD}")).text
    assert_clean(api)


def group_user_message(api: FakeTelegramAPI, user: int) -> int:
    return next(m.message_id for m in reversed(api.history[GROUP])
                if not m.from_bot and m.extra.get("from", {}).get("id") == user)


async def test_close_from_a_private_chat_and_with_close_as_a_reply(desk: RunningBot) -> None:
    bot, api = desk, desk.api
    await ask(bot, USER, "Первый")
    await bot.say(USER, "И ещё")
    copies = [m.message_id for m in group(api) if m.buttons]
    assert len(copies) == 2  # the question and its follow-up, each with "Close"
    mark = api.mark()
    reply = one(await bot.say(LEAD, "/close 1", language_code="en"))
    assert "#1" in reply.text
    assert "#1" in one(api.replies(USER, mark)).text
    assert "🔒" in (group(api)[-1].text or "")
    # Closed anywhere: every "Close" button of the question goes.
    assert [m.buttons for m in group(api) if m.message_id in copies] == [[], []]
    # Again: a new question, closed with /close as a reply in the group.
    await bot.say(USER, "Второй")
    copy = group(api)[-1]
    mark = api.mark()
    await in_group(bot, LEAD, "/close", reply_to=copy.message_id)
    assert "#2" in one(api.replies(USER, mark)).text
    # Closing again says it is not open, and tells nobody.
    mark = api.mark()
    assert one(await in_group(bot, LEAD, "/close 2")).text
    assert api.replies(USER, mark) == []
    assert_clean(api)


# ---- a WhatsApp user ---------------------------------------------------------------


async def post_whatsapp(bot: RunningBot, payload: dict[str, Any]) -> None:
    body = encode(payload)
    async with aiohttp.ClientSession() as session, session.post(
        f"{bot.base_url}/whatsapp/webhook", data=body,
        headers={"Content-Type": "application/json",
                 SIGNATURE_HEADER: sign(body, WA_SECRET)}) as response:
        assert response.status == 200


async def wa_step(bot: RunningBot, graph: FakeGraphAPI, user: WhatsAppUser,
                  payload: dict[str, Any], count: int = 1) -> list[Sent]:
    mark = graph.mark()
    await post_whatsapp(bot, payload)
    return await graph.wait_messages(user.recipient, count, mark)


async def test_a_whatsapp_user_inside_and_outside_the_window(
    database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]]
) -> None:
    api.add_group(GROUP)
    api.user(LEAD, first_name="Lead")
    user = WhatsAppUser("79035550077", "RU.4000000000000000077", "Ольга")
    async with FakeGraphAPI() as graph, running_bot(
        database_url, api, handled, **desk_settings(
            whatsapp_token=graph.token, whatsapp_phone_number_id=graph.phone_number_id,
            whatsapp_app_secret=WA_SECRET, whatsapp_verify_token="verify",
            whatsapp_api_url=graph.url, whatsapp_api_version=graph.version,
            whatsapp_rate=10_000.0)) as bot:
        sent = await wa_step(bot, graph, user, user.text("Привет"))
        sent = await wa_step(bot, graph, user, user.choose(sent[-1], "lang:ru"))
        menu = sent[-1]
        sent = await wa_step(bot, graph, user, user.choose(menu, "ho"))
        copies = len(group(api))
        sent = await wa_step(bot, graph, user, user.text("Можно ли вернуться с семьёй?"))
        assert "#1" in sent[-1].body
        await api.wait_for(lambda: len(group(api)) > copies, 5, "the copy in the group")
        copy = group(api)[-1]
        assert "WhatsApp" in (copy.text or "") and "Ольга" in (copy.text or "")
        await wait_mapped(bot, copy.message_id)

        # Inside the 24-hour window: a normal message with the Reply button.
        mark = graph.mark()
        await in_group(bot, LEAD, "Да, с семьёй.", reply_to=copy.message_id)
        answer = (await graph.wait_messages(user.recipient, 1, mark))[-1]
        assert answer.type == "interactive"
        assert bot._("ru", ANSWER_HEADER) in answer.body and "Да, с семьёй." in answer.body
        assert "ho:reply" in {choice[0] for choice in answer.choices}

        # Outside it: the "notice" template carries the answer.
        async with bot.app.engine.sessionmaker() as db, db.begin():
            await db.execute(update(WhatsAppContact).values(
                last_inbound_at=clock.now() - timedelta(hours=25)))
        mark = graph.mark()
        await in_group(bot, LEAD, "Документы: паспорт и справка.", reply_to=copy.message_id)
        template = (await graph.wait_messages(user.recipient, 1, mark))[-1]
        assert template.type == "template"
        assert template.payload["template"]["name"] == bot.app.settings.whatsapp_template_notice
        assert template.payload["template"]["language"]["code"] == "ru"
        parameter = template.payload["template"]["components"][0]["parameters"][0]["text"]
        assert bot._("ru", ANSWER_HEADER) in parameter and "паспорт и справка" in parameter

        # The user's follow-up is threaded in the group.
        await wa_step(bot, graph, user, user.text("Спасибо!"))
        await api.wait_for(lambda: "Спасибо!" in (group(api)[-1].text or ""), 5, "follow-up")
        assert reply_target(group(api)[-1]) is not None

        # A photo and a document: fetched from the Graph API, uploaded to the group.
        graph.user_media["wa-photo-1"] = (b"\xff\xd8 jpeg", "image/jpeg")
        graph.user_media["wa-doc-1"] = (b"%PDF-1.4", "application/pdf")
        mark = api.mark()
        await wa_step(bot, graph, user, user.image("wa-photo-1", "Мой паспорт"))
        await wa_step(bot, graph, user, user.document("wa-doc-1", "spravka.pdf"))
        photo = one(api.calls_to("sendPhoto", mark, chat_id=GROUP))
        document = one(api.calls_to("sendDocument", mark, chat_id=GROUP))
        assert "Мой паспорт" in photo.text
        for call, name, field in ((photo, "photo.jpg", "photo"),
                                  (document, "spravka.pdf", "document")):
            upload = call.params[field]
            if isinstance(upload, str) and upload.startswith("attach://"):
                upload = call.params[upload.removeprefix("attach://")]
            assert upload["size"] > 0 and upload["filename"].endswith(name[-4:])
        # Elsewhere a photo is still "unsupported": the menu with a note.
        sent = await wa_step(bot, graph, user, user.text("меню"))
        graph.user_media["wa-photo-2"] = (b"\xff\xd8 jpeg", "image/jpeg")
        sent = await wa_step(bot, graph, user, user.image("wa-photo-2"))
        assert bot._("ru", "I can only read text and buttons for now. Please choose an item "
                     "from the menu.") in sent[0].body
        assert graph.violations == []
    assert_clean(api)


async def test_a_copy_that_failed_is_sent_after_a_restart(
    database_url: str, api: FakeTelegramAPI, handled: set[tuple[Any, ...]]
) -> None:
    api.add_group(GROUP)
    api.user(LEAD, first_name="Lead")
    async with running_bot(database_url, api, handled, **desk_settings()) as bot:
        await ask(bot, USER, "Первый вопрос")
        copies = len(group(api))
        # The group refuses the next copy (the bot was removed from it for a while).
        api.fail_next("sendPhoto", error_code=400, description="Bad Request: chat not found")
        ack = one(await bot.after(USER, api.send_photo(USER, caption="Скан справки")))
        assert "#1" in ack.text  # the user's message is stored all the same
        assert len(group(api)) == copies
        async with bot.app.engine.sessionmaker() as db, db.begin():
            await db.execute(update(HandoverMessage).values(
                created_at=clock.now() - timedelta(minutes=1)))
    async with running_bot(database_url, api, handled, **desk_settings()) as bot:
        await api.wait_for(lambda: len(group(api)) > copies, 5, "the copy after the restart")
        copy = group(api)[-1]
        assert "Скан справки" in (copy.text or "") and bot._("kk", "[photo]") in copy.text
        await wait_mapped(bot, copy.message_id)
        assert reply_target(copy) is not None  # threaded under the first question
        mark = api.mark()
        await in_group(bot, LEAD, "Получили, спасибо.", reply_to=copy.message_id)
        assert "Получили, спасибо." in one(api.replies(USER, mark)).text
        await api.settle()
        assert len(group(api)) == copies + 2  # the copy and the "sent" note: nothing doubled
        async with bot.app.engine.sessionmaker() as db:
            exported = await handover.export_for(db, 1)
        assert [m["from"] for m in exported[0]["messages"]] == ["you", "you", "coordinator"]
    assert_clean(api)


# ---- signals run only after the step is stored -------------------------------------


async def test_a_relay_is_published_only_for_a_stored_step(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.app import build_app
    from handlers import handover as flow
    from tests.conftest import Chat, make_settings

    app = await build_app(make_settings(database_url, bot_token="1:x", **desk_settings()))
    try:
        relayed: list[handover.Relay] = []

        async def collect(signal: handover.Relay) -> None:
            relayed.append(signal)

        app.engine.subscribe(handover.Relay, collect)
        chat = Chat(app, "77", channel="telegram", language_hint="en")
        await chat.text("/start")
        await chat.press("ho")
        await chat.text("First question")
        assert [(r.thread_id, r.new_thread) for r in relayed] == [(1, True)]

        def broken(_ctx: object) -> object:
            raise RuntimeError("the step fails after emitting")

        monkeypatch.setattr(flow, "menu_button", broken)
        await chat.text("Second message")
        assert "Sorry, something went wrong" in chat.texts()
        assert len(relayed) == 1  # nothing published for the rolled-back step
        assert await count_rows(app, HandoverMessage) == 1
    finally:
        await app.close()


async def count_rows(app: Any, model: Any) -> int:
    async with app.engine.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(model))).scalar_one())
