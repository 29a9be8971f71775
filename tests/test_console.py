"""The terminal chat, scripted through stdin, as `python -m bot chat` runs it."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from bot import PROJECT_DIR
from bot.app import App
from bot.channels.console import ConsoleChannel


def run_chat(database_url: str, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONIOENCODING": "utf-8"}
    env.pop("BOT_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", "chat", *args], input=script, text=True,
        capture_output=True, cwd=PROJECT_DIR, env=env, timeout=60,
    )


def test_scripted_chat_in_a_real_process(database_url: str) -> None:
    result = run_chat(database_url, "/start\n2\n3\n3\n", "--user", "script")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Choose your language" in out
    assert "[2] Русский" in out
    assert "Главное меню" in out
    assert "«Береке»" in out or "Береке" in out  # the third project, in Russian


def test_lang_option_skips_the_question_and_state_survives_between_runs(
    database_url: str,
) -> None:
    first = run_chat(database_url, "/start\n/language\n", "--user", "keep", "--lang", "en")
    assert first.returncode == 0, first.stderr
    assert "Main menu" in first.stdout
    # The second process finds the session waiting for a language and takes a typed one.
    second = run_chat(database_url, "Қазақша\n", "--user", "keep")
    assert second.returncode == 0, second.stderr
    assert "Басты мәзір" in second.stdout


async def test_numbers_choose_buttons_and_other_lines_are_text(app: App) -> None:
    out = io.StringIO()
    console = ConsoleChannel(app.engine, "io", stdin=io.StringIO("/start\n3\n9\n4\n\n"),
                             stdout=out)
    await console.run()
    text = out.getvalue()
    assert "[3] 🤝 Support projects" in text
    assert "only help with" in text  # "9" is no choice: it is text, a question of nothing
    assert "Kazakhs abroad in numbers" in text
