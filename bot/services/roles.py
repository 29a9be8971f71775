"""Who may do what: the one role check of the bot.

- A lead coordinator is a Telegram user (or terminal user) whose id is in ADMIN_IDS.
- A coordinator is a lead, or someone a lead added (a `coordinators` row).

The engine works the role out for every update with `is_coordinator` (composed in
bot/app.py, as bot/core knows no services), so flows read `ctx.user.is_coordinator`
wherever the update comes from, the coordinators' group chat included; they call
`is_lead` for what only leads may do."""

from __future__ import annotations

from typing import Protocol

from bot.config import Settings
from bot.core.inbound import whole_number

# Channels whose user ids ADMIN_IDS may name: Telegram, and the terminal, which only
# someone with access to the server (and so to the database) can use anyway.
ADMIN_CHANNELS = ("telegram", "console")


class Someone(Protocol):
    """Anyone with a channel and an id there: an event's identity, a flow's user."""

    @property
    def channel(self) -> str: ...

    @property
    def external_id(self) -> str: ...


def is_lead(who: Someone, settings: Settings) -> bool:
    return (who.channel in ADMIN_CHANNELS
            and whole_number(who.external_id) in settings.admin_ids)


def is_coordinator(who: Someone, settings: Settings, *, listed: bool) -> bool:
    """A lead, or `listed` (they have a `coordinators` row, read with the user)."""
    return listed or is_lead(who, settings)
