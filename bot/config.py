"""Settings from the environment (and an optional `.env` file)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Language = Literal["kk", "ru", "en"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./data/bot.db"

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None

    http_host: str = "127.0.0.1"
    http_port: int = 8080

    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    coordinator_chat_id: int | None = None
    default_locale: Language = "kk"

    broadcast_rate: float = 25.0
    whatsapp_rate: float = 60.0

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    session_idle_days: int = Field(default=30, ge=1)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("bot_token", "telegram_webhook_secret", "telegram_webhook_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def telegram_enabled(self) -> bool:
        return self.bot_token is not None

    def problems(self) -> list[str]:
        """Configuration mistakes that must stop the start, in plain words."""
        found: list[str] = []
        if self.telegram_enabled and self.telegram_mode == "webhook":
            if self.telegram_webhook_secret is None:
                found.append("TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_SECRET")
            if not self.telegram_webhook_url:
                found.append("TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_URL")
        return found
