"""Outreach chatbot of the Kazakh diaspora."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
LOCALES_DIR = PROJECT_DIR / "locales"
MIGRATIONS_DIR = PROJECT_DIR / "migrations"
CONTENT_DIR = PACKAGE_DIR / "content"

LANGUAGES: tuple[str, ...] = ("kk", "ru", "en")
