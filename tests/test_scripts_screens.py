"""Every screen in Kazakh's Latin and tote scripts: a crawl from the menu through every
button it reaches (and the typed commands and questions) finds no Cyrillic letter
outside the choice of language, which names each language in its own script, and in
tote every bidi isolate is closed."""

from __future__ import annotations

import re

import pytest

from bot import clock
from bot.app import App
from bot.core import scripts
from bot.core.replies import Reply
from bot.services import forums
from handlers.common import LANGUAGE_NAMES
from tests.conftest import Chat
from tests.forum_helpers import make_forum
from tests.test_forums_flow import LEAD, app  # noqa: F401  (a lead coordinator's bot)

# Buttons the crawl leaves alone: another language, erasing the user's data.
SKIP = re.compile(r"^(lang:|pv:(erase|del|forget))")
CHOOSER = "Тілді таңдаңыз · Выберите язык · Choose your language"
TYPED = ["/help", "/menu", "/settings", "/cancel", "Кандас болу үшін не керек?",
         "qandas bolu üşın ne kerek", "what is the weather", "/start"]
MAX_PRESSES = 400




def cyrillic_left(reply: Reply) -> list[str]:
    """What of a reply is still in Cyrillic (the choice of language aside)."""
    if reply.text == CHOOSER:
        return []
    allowed = set(LANGUAGE_NAMES.values())
    found = [reply.text] if scripts.HAS_CYRILLIC.search(reply.text) else []
    found += [choice.label for choice in reply.flat_choices
              if scripts.HAS_CYRILLIC.search(choice.label) and choice.label not in allowed]
    return found


async def crawl(app: App, locale: str) -> list[tuple[str, Reply]]:  # noqa: F811
    """(what was pressed or typed, reply) for every screen reached from the menu, by a
    lead coordinator (whose menu also has the coordinators' tools), with one forum."""
    async with app.engine.sessionmaker() as db, db.begin():
        if not await forums.upcoming_countries(db, clock.now()):
            await make_forum(db, capacity=5)
    chat = Chat(app, LEAD, channel="console")
    shown: list[tuple[str, Reply]] = []
    await chat.text("/start")
    await chat.press(f"lang:{locale}")
    shown += [("lang", reply) for reply in chat.last]
    seen: set[str] = set()
    # Depth first: a screen's buttons are pressed while it is the current one.
    stack = [[p for p in chat.payloads() if not SKIP.match(p)]]
    presses = 0
    while stack and presses < MAX_PRESSES:
        if not stack[-1]:
            stack.pop()
            continue
        payload = stack[-1].pop(0)
        if payload in seen:
            continue
        seen.add(payload)
        presses += 1
        await chat.press(payload)
        shown += [(payload, reply) for reply in chat.last]
        stack.append([p for p in chat.payloads() if p not in seen and not SKIP.match(p)])
    for text in TYPED:
        await chat.text(text)
        shown += [(text, reply) for reply in chat.last]
    return shown


@pytest.mark.parametrize("locale", scripts.DERIVED)
async def test_every_screen_is_in_the_chosen_script(app: App, locale: str) -> None:  # noqa: F811
    screens = await crawl(app, locale)
    assert len({what for what, _ in screens}) > 40  # the crawl reached the whole bot
    problems = [f"{what}: {text[:120]!r}" for what, reply in screens
                for text in cyrillic_left(reply)]
    if locale == scripts.ARABIC:  # right to left: every isolate closed, numbers isolated
        problems += [f"{what}: isolates: {text[:120]!r}" for what, reply in screens
                     for text in (reply.text, *(c.label for c in reply.flat_choices))
                     if not scripts.balanced(text)]
        assert sum(scripts.LRI in reply.text for _, reply in screens) > 20
    assert not problems, "\n".join(problems[:40])
