"""The core pieces the coordinators' chat and the runner stand on: steps registered per
place, group events kept apart from private sessions, the one role check, notices
composed by name, and follow-ups that run only once a step is stored."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import App, build_app
from bot.core.context import Context, UserView
from bot.core.events import Event, EventKind, Identity, Place, Quoted
from bot.core.notify import Notifier, PushResult
from bot.core.replies import Reply
from bot.core.router import EVERYWHERE, IN_GROUP, Router
from bot.db.models import ChatSession, Coordinator, User
from bot.services import roles
from tests.conftest import Chat, make_settings

LEAD = 7001


def in_group(user: int | str, text: str, **extra: Any) -> Event:
    event = Event.from_text(Identity("telegram", str(user)), text)
    return Event(event.identity, event.kind, text=event.text, command=event.command,
                 args=event.args, place=Place.COORDINATORS, message_id="55", **extra)


@pytest.fixture
async def lead_app(database_url: str) -> Any:
    built = await build_app(make_settings(database_url, admin_ids=[LEAD],
                                          coordinator_chat_id=-100500, bot_token="1:x"))
    try:
        yield built
    finally:
        await built.close()


# ---- the router ----------------------------------------------------------------------


async def _step(ctx: Context) -> None:
    ctx.say("done")


def test_steps_are_registered_for_their_places() -> None:
    router = Router("test")
    router.command("private")(_step)
    router.command("both", places=EVERYWHERE)(_step)
    router.button("grp", places=IN_GROUP)(_step)
    router.group_reply()(_step)
    assert set(router.commands) == {"private", "both"}
    assert set(router.group_commands) == {"both"}
    assert set(router.buttons) == set() and set(router.group_buttons) == {"grp"}
    with pytest.raises(ValueError, match="group reply"):
        router.group_reply()(_step)
    other = Router("other")
    other.command("both", places=IN_GROUP)(_step)
    with pytest.raises(ValueError, match="group command 'both'"):
        Router("root").include(router, other)


def test_notices_are_registered_once_and_included() -> None:
    router = Router("test")

    @router.notice("hello")
    def hello(t: Any, *, name: str) -> list[Reply]:
        return [Reply(f"hello {name}")]

    with pytest.raises(ValueError, match="notice 'hello'"):
        router.notice("hello")(hello)
    root = Router("root").include(router)
    assert root.notices["hello"] is hello
    with pytest.raises(ValueError, match="notice 'hello'"):
        root.include(router)


async def test_compose_speaks_the_language_asked_for(app: App) -> None:
    [note] = app.engine.compose("question_closed_note", "ru", thread_id=7, name="Асель")
    assert note.text == app.translations["ru"]._("🔒 Question #{id} closed by {name}.").format(
        id=7, name="Асель")
    [default] = app.engine.compose("question_closed_note", None, thread_id=7, name=None)
    assert default.text == app.translations["kk"]._(
        "🔒 Question #{id} closed by {name}.").format(id=7, name="—")
    with pytest.raises(KeyError):
        app.engine.compose("no such notice", "ru")


# ---- one role check --------------------------------------------------------------------


def test_one_role_check() -> None:
    settings = make_settings("sqlite+aiosqlite:///:memory:", admin_ids=[LEAD])
    for channel, lead in (("telegram", True), ("console", True), ("whatsapp", False),
                          ("test", False)):
        who = Identity(channel, str(LEAD))
        assert roles.is_lead(who, settings) is lead
        assert roles.is_coordinator(who, settings, listed=False) is lead
        assert roles.is_coordinator(who, settings, listed=True)
    assert not roles.is_lead(Identity("telegram", "7002"), settings)
    assert not roles.is_lead(Identity("telegram", "not-a-number"), settings)


# ---- events in the coordinators' chat --------------------------------------------------


async def count(app: App, model: Any) -> int:
    async with app.engine.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(model))).scalar_one())


async def test_group_events_leave_the_private_conversation_alone(lead_app: App) -> None:
    lead = Chat(lead_app, str(LEAD), channel="telegram", language_hint="en")
    await lead.text("/start")
    await lead.text("/addcoordinator")  # waits for a typed id now
    async with lead_app.engine.sessionmaker() as db:
        before = (await db.execute(select(ChatSession.state, ChatSession.version))).one()
    assert before.state == "co:add"

    listing = await lead_app.engine.handle(in_group(LEAD, "/coordinators"))
    threads = await lead_app.engine.handle(in_group(LEAD, "/threads"))
    kk = lead_app.translations["kk"]
    assert kk._("👥 Coordinators:") in listing[0].text and not listing[0].choices
    assert threads[0].text == kk._("No open questions.") and not threads[0].choices
    async with lead_app.engine.sessionmaker() as db:
        after = (await db.execute(select(ChatSession.state, ChatSession.version))).one()
    assert tuple(after) == tuple(before)

    # The private step goes on where it was.
    assert "9100" in (await lead.text("9100"))[0].text
    assert await count(lead_app, Coordinator) == 1


async def test_only_what_flows_registered_there_is_handled_in_the_group(
    lead_app: App
) -> None:
    assert await lead_app.engine.handle(in_group(LEAD, "/start")) == []
    assert await lead_app.engine.handle(in_group(LEAD, "/menu")) == []
    text = in_group(LEAD, "just talking")
    assert text.kind is EventKind.TEXT
    assert await lead_app.engine.handle(text) == []
    # A reply to something that is no question's copy is left alone too.
    assert await lead_app.engine.handle(
        in_group(LEAD, "agreed", reply_to=Quoted("12"))) == []


async def test_someone_new_in_the_group_is_refused_and_gets_no_row(lead_app: App) -> None:
    users = await count(lead_app, User)
    for command, words in (("/threads", "This is for the Fund's coordinators only."),
                           ("/addcoordinator 42",
                            "This is for the Fund's lead coordinators only.")):
        [refusal] = await lead_app.engine.handle(in_group(7999, command))
        assert refusal.text == lead_app.translations["kk"]._(words)
        assert not refusal.choices
    assert await count(lead_app, User) == users
    assert await count(lead_app, ChatSession) == 0


async def test_a_lead_adds_by_replying_to_a_message_in_the_group(lead_app: App) -> None:
    kk = lead_app.translations["kk"]
    [ask] = await lead_app.engine.handle(in_group(LEAD, "/addcoordinator"))
    assert ask.text == kk._("Reply with the command to the person's message, or add their "
                            "Telegram user ID.")
    quoted = Quoted("77", Identity("telegram", "7100"), "Dana")
    [added] = await lead_app.engine.handle(in_group(LEAD, "/addcoordinator", reply_to=quoted))
    assert kk._("Added: {id} is a coordinator now.").format(id=7100) in added.text
    assert "Dana" in added.text
    [removed] = await lead_app.engine.handle(
        in_group(LEAD, "/removecoordinator", reply_to=quoted))
    assert kk._("Removed: {id} is no longer a coordinator.").format(id=7100) in removed.text
    assert await count(lead_app, Coordinator) == 0


# ---- follow-ups ------------------------------------------------------------------------


async def test_network_work_waits_for_the_stored_step(app: App) -> None:
    ctx = Context(event=Event(Identity("test", "1"), EventKind.TEXT), user=UserView(
        1, "test", "1", "en", None), state=None, data={}, settings=app.settings,
        content=app.content, translations=app.translations,
        open_session=app.engine.sessionmaker)
    with pytest.raises(RuntimeError, match=r"ctx\.after"):
        await ctx.deliver("telegram", "5", [Reply("hi")])
    ctx.stored = True
    assert await ctx.deliver("telegram", "5", [Reply("hi")]) is PushResult.NO_CHANNEL


async def test_a_failing_fetcher_is_no_file() -> None:
    notifier = Notifier()

    async def broken(ref: str) -> tuple[bytes, str]:
        raise OSError("gone")

    notifier.register_files("telegram", broken)
    assert await notifier.fetch("telegram", "file-1") is None
    assert await notifier.fetch("whatsapp", "media-1") is None
