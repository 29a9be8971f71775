"""Channels turn a platform's updates into events and render replies on it."""

from bot.channels.lazy_types import install

# Before any channel imports aiogram: its types are built when first used.
install()
