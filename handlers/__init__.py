"""Conversation flows. They know nothing of Telegram, WhatsApp or HTTP: a step gets a
Context (event, user, session, words) and answers with replies and the next state.

A new flow is one new module here with a `router`, added to `get_router()`; its buttons
are a `Codec` with a dataclass per kind (handlers/payloads.py, bot/core/payloads.py),
and it may take over the fallbacks for its own states or buttons
(`router.fallback("text", state="xx:")`, `router.fallback("stale", button=CODEC)`)
without touching handlers/menu.py, which holds the global ones.
"""

from __future__ import annotations

from bot.core.router import Router
from handlers import (
    broadcast_admin,
    coordinators,
    dashboard,
    eligibility,
    faq,
    forum_admin,
    forums,
    handover,
    handover_desk,
    language,
    menu,
    numbers,
    privacy,
    projects,
    settings,
)


def get_router() -> Router:
    root = Router("root")
    root.include(language.router, menu.router, eligibility.router, projects.router,
                 numbers.router, settings.router, privacy.router, forums.router,
                 forum_admin.router, handover.router, handover_desk.router,
                 coordinators.router, dashboard.router,
                 broadcast_admin.router, faq.router)
    root.check_complete()
    return root
