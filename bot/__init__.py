"""Outreach chatbot of the Kazakh diaspora."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
LOCALES_DIR = PROJECT_DIR / "locales"
MIGRATIONS_DIR = PROJECT_DIR / "migrations"
CONTENT_DIR = PACKAGE_DIR / "content"

# The languages of the catalogs and the content files: the one source of every word.
LANGUAGES: tuple[str, ...] = ("kk", "ru", "en")
# Every locale a user can choose: the languages, and Kazakh in its two other scripts,
# derived from the Kazakh Cyrillic words (bot/core/scripts.py), never written by hand.
LOCALES: tuple[str, ...] = ("kk", "kk-Latn", "kk-Arab", "ru", "en")
