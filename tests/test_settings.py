"""Settings from the environment and `.env`: the example file is a working `.env`."""

from __future__ import annotations

from bot import PROJECT_DIR
from bot.config import Settings


def test_the_example_env_file_works_as_it_is() -> None:
    """`cp .env.example .env` starts the bot: its empty variables mean "not set"."""
    settings = Settings(_env_file=PROJECT_DIR / ".env.example")  # type: ignore[call-arg]
    assert settings.problems() == []
    assert settings.coordinator_chat_id is None and not settings.telegram_enabled
    assert not settings.faq_sentence_model and settings.faq_unanswered_days == 90
