"""Settings from the environment (and an optional `.env` file)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Language = Literal["kk", "kk-Latn", "kk-Arab", "ru", "en"]


class Settings(BaseSettings):
    # An empty variable (`COORDINATOR_CHAT_ID=` as in .env.example) means "not set".
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      env_ignore_empty=True)

    database_url: str = "sqlite+aiosqlite:///./data/bot.db"

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None

    whatsapp_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_api_url: str = "https://graph.facebook.com"
    whatsapp_api_version: str = "23.0"
    # Approved message templates for messages the bot starts outside the 24-hour window
    # (see docs/whatsapp.md for their exact texts); one body parameter each.
    whatsapp_template_reminder: str = "otandas_reminder"
    whatsapp_template_broadcast: str = "otandas_broadcast"
    whatsapp_template_notice: str = "otandas_notice"

    http_host: str = "127.0.0.1"
    http_port: int = 8080

    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    coordinator_chat_id: int | None = None
    default_locale: Language = "kk"

    broadcast_rate: float = 25.0
    whatsapp_rate: float = 60.0
    # Telegram's paid broadcasts (Stars on the bot's balance): announcements carry
    # `allow_paid_broadcast` and the rate may go up to 1,000 messages/s.
    telegram_paid_broadcast: bool = False
    telegram_paid_broadcast_rate: float = Field(default=1000.0, gt=0, le=1000)
    # Several processes: the rate limits shared through Redis (else PostgreSQL's table).
    redis_url: str | None = None

    # Where people reach the HTTP server (e.g. https://bot.example.org): enables the
    # coordinators' dashboard under {PUBLIC_BASE_URL}/dashboard/; off when unset.
    public_base_url: str | None = None
    dashboard_link_minutes: int = Field(default=10, ge=1, le=60)
    dashboard_session_hours: int = Field(default=12, ge=1, le=24 * 30)

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    session_idle_days: int = Field(default=30, ge=1)

    # Forums: when reminders go out before the start, e.g. "7d,1d,2h"; how many days
    # after a forum its attendees' personal data is removed; the privacy notice's link.
    reminder_offsets: Annotated[list[timedelta], NoDecode] = Field(
        default_factory=lambda: [timedelta(days=7), timedelta(days=1), timedelta(hours=2)])
    forum_data_retention_days: int = Field(default=90, ge=1)
    # Typed questions without a confident answer are deleted this long after last asked.
    faq_unanswered_days: int = Field(default=90, ge=1)
    # Typed questions also matched by meaning (a multilingual sentence model in the
    # process): more answered right, about 100 MB more memory (README, "Typed questions").
    faq_sentence_model: bool = False
    privacy_url: str | None = None
    reminder_interval_seconds: int = Field(default=5, ge=1)

    @field_validator("reminder_offsets", mode="before")
    @classmethod
    def _offsets(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        units = {"d": "days", "h": "hours", "m": "minutes"}
        offsets = []
        for part in value.replace(";", ",").split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part[-1] not in units or not part[:-1].isdigit():
                raise ValueError(f"{part!r}: use a number with d, h or m, like 7d,1d,2h")
            offsets.append(timedelta(**{units[part[-1]]: int(part[:-1])}))
        return sorted(offsets, reverse=True)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("bot_token", "telegram_webhook_secret", "telegram_webhook_url", "privacy_url",
                     "redis_url",
                     "whatsapp_token", "whatsapp_phone_number_id", "whatsapp_app_secret",
                     "whatsapp_verify_token", "public_base_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("telegram_api_url", "whatsapp_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        scheme, _, host = value.partition("://")
        if scheme not in ("http", "https") or not host:
            raise ValueError("PUBLIC_BASE_URL must be like https://bot.example.org")
        return value

    @field_validator("whatsapp_api_version")
    @classmethod
    def _strip_v(cls, value: str) -> str:
        return value.strip().lstrip("vV")

    @property
    def telegram_rate(self) -> float:
        """Telegram messages per second, all chats and processes together."""
        if self.telegram_paid_broadcast:
            return max(self.broadcast_rate, self.telegram_paid_broadcast_rate)
        return self.broadcast_rate

    @property
    def telegram_enabled(self) -> bool:
        return self.bot_token is not None

    @property
    def whatsapp_enabled(self) -> bool:
        return None not in (self.whatsapp_token, self.whatsapp_phone_number_id,
                            self.whatsapp_app_secret, self.whatsapp_verify_token)

    @property
    def dashboard_enabled(self) -> bool:
        return self.public_base_url is not None

    @property
    def dashboard_url(self) -> str:
        """The dashboard's address, e.g. https://bot.example.org/dashboard/."""
        return f"{self.public_base_url}/dashboard/"

    def problems(self) -> list[str]:
        """Configuration mistakes that must stop the start, in plain words."""
        found: list[str] = []
        if self.telegram_enabled and self.telegram_mode == "webhook":
            if self.telegram_webhook_secret is None:
                found.append("TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_SECRET")
            if not self.telegram_webhook_url:
                found.append("TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_URL")
        return found
