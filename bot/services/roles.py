"""Who may do what: lead coordinators (ADMIN_IDS) and coordinators they added.
The engine works the role out for every update (`ctx.user.is_coordinator`)."""

from __future__ import annotations

from bot.config import Settings
from bot.core.context import UserView
from bot.core.engine import ADMIN_CHANNELS


def is_lead(user: UserView, settings: Settings) -> bool:
    return (user.channel in ADMIN_CHANNELS and user.external_id.lstrip("-").isdigit()
            and int(user.external_id) in settings.admin_ids)
