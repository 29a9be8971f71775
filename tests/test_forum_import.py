"""`python -m bot forums import FILE`: a file that cannot be imported gets one clear
message naming the file, the forum and the field, exit 3 and no change; sizes are
bounded; special files are refused without waiting for them or reading them."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.__main__ import main
from bot.db.models import Forum
from bot.services import forum_import, forums


def forum(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "slug": "berlin-2027",
        "title": {"kk": "Берлин форумы", "ru": "Форум в Берлине", "en": "Berlin forum"},
        "description": {"kk": "Кездесу.", "ru": "Встреча.", "en": "A meeting."},
        "country": "DE", "city": {"kk": "Берлин", "ru": "Берлин", "en": "Berlin"},
        "venue": "Hotel Adlon", "timezone": "Europe/Berlin",
        "starts": "2027-03-12 10:00", "ends": "2027-03-12 18:00",
        "deadline": "2027-03-05 23:59", "language": "ru", "capacity": 150,
        "status": "published",
    }
    item.update(changes)
    return item


def yaml_file(path: Path, *items: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"forums": list(items)}, allow_unicode=True),
                    encoding="utf-8")
    return path


@pytest.fixture
def run(database_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Callable[[Path | str], tuple[int, str]]:
    """The command as a coordinator runs it: exit code and what it printed."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    for name in ("BOT_TOKEN", "WHATSAPP_TOKEN", "ADMIN_IDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no .env file here

    def command(path: Path | str) -> tuple[int, str]:
        code = main(["forums", "import", str(path)])
        printed = capsys.readouterr()
        return code, printed.out + printed.err

    return command


@pytest.fixture
def deadline() -> Iterator[None]:
    """A command that would block forever fails the test after 10 s instead."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError("the import blocked")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(10)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def latin1(path: Path) -> Path:
    latin = {"kk": "Zürich", "ru": "Zürich", "en": "Zürich"}
    path.write_bytes(yaml.safe_dump({"forums": [forum(
        title=latin, description=latin, city=latin, venue="Café Zürich")]},
        allow_unicode=True).encode("latin-1"))
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def huge_description(path: Path) -> Path:
    text = yaml_file(path, forum(description={"kk": "DESCRIPTION", "ru": "Встреча.",
                                              "en": "A meeting."})).read_text(encoding="utf-8")
    path.write_text(text.replace("DESCRIPTION", "ә" * 10_000_000), encoding="utf-8")
    return path


def many_forums(path: Path, count: int) -> Path:
    """`count` forums in a small file: the first one and aliases of it."""
    first = yaml.safe_dump([forum()], allow_unicode=True, default_flow_style=True)
    path.write_text("forums:\n  - &first " + first.strip()[1:-1] + "\n"
                    + "  - *first\n" * (count - 1), encoding="utf-8")
    return path


# (what is wrong, how to make the file, what the message must say)
BROKEN: list[tuple[str, Callable[[Path], Path], list[str]]] = [
    ("capacity 10^12", lambda p: yaml_file(p, forum(capacity=10**12)),
     ["forum 1 (berlin-2027)", "capacity", "100000"]),
    ("year 9999 at UTC-12", lambda p: yaml_file(p, forum(
        timezone="Etc/GMT+12", starts="9999-12-31 23:00", ends="9999-12-31 23:30",
        deadline="9999-12-30 23:00")), ["forum 1 (berlin-2027)", "starts", "2000 to 2100"]),
    ("a directory of the tz database", lambda p: yaml_file(p, forum(timezone="America")),
     ["forum 1 (berlin-2027)", "timezone", "unknown time zone 'America'"]),
    ("a 300-character time zone", lambda p: yaml_file(p, forum(timezone="Europe/" + "x" * 293)),
     ["forum 1 (berlin-2027)", "timezone"]),
    ("a time zone that is a path", lambda p: yaml_file(p, forum(timezone="../../etc/passwd")),
     ["forum 1 (berlin-2027)", "timezone"]),
    ("a Latin-1 file", latin1, ["not UTF-8 text", "save it as UTF-8"]),
    ("/dev/zero", lambda p: Path("/dev/zero"), ["/dev/zero: not a regular file"]),
    ("a FIFO", fifo, ["not a regular file"]),
    ("a directory", lambda p: p.parent, ["not a regular file"]),
    ("no such file", lambda p: p, ["cannot open it"]),
    ("a 20 MB description", huge_description, ["larger than 1,000,000 bytes"]),
    ("a description over the limit", lambda p: yaml_file(p, forum(description={
        "kk": "Кездесу.", "ru": "В" * 1501, "en": "A meeting."})),
     ["forum 1 (berlin-2027)", "description", "longer than 1500 characters in: ru"]),
    ("a title over the limit", lambda p: yaml_file(p, forum(title={
        "kk": "Форум", "ru": "Форум", "en": "x" * 121})),
     ["forum 1 (berlin-2027)", "title", "longer than 120 characters in: en"]),
    ("5,000 forums", lambda p: many_forums(p, 5000),
     ["5,000 forums; at most 200 in one file"]),
    ("a language that is not offered", lambda p: yaml_file(p, forum(city={
        "kk": "Берлин", "ru": "Берлин", "en": "Berlin", "de": "Berlin"})),
     ["forum 1 (berlin-2027)", "city", "unknown languages: de"]),
    ("a region instead of a country", lambda p: yaml_file(p, forum(country="001")),
     ["forum 1 (berlin-2027)", "country"]),
    ("the same slug twice", lambda p: yaml_file(p, forum(), forum(venue="Elsewhere")),
     ["forum 2 (berlin-2027)", "slug: the same as forum 1"]),
    ("the end before the start", lambda p: yaml_file(p, forum(ends="2027-03-12 09:00")),
     ["forum 1 (berlin-2027)", "ends: must be after starts"]),
    ("a Python object", lambda p: (p.write_text("forums: !!python/object/apply:os.getcwd []\n"),
                                   p)[1], ["not valid YAML"]),
    ("nested ten thousand deep", lambda p: (p.write_text("forums: " + "[" * 10_000), p)[1],
     ["forums.yaml:"]),
]


async def forum_count(database_url: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(
                select(func.count()).select_from(Forum))).scalar_one())
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("problem", "make", "words"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_file_that_cannot_be_imported_is_named_with_the_forum_and_the_field(
        run: Callable[[Path | str], tuple[int, str]], tmp_path: Path, deadline: None,
        problem: str, make: Callable[[Path], Path], words: list[str]) -> None:
    path = make(tmp_path / "forums.yaml")
    code, printed = run(path)
    assert code == 3, printed
    assert printed.startswith(f"import error: {path}"), printed
    assert "Traceback" not in printed
    for word in words:
        assert word in printed
    assert printed.count("\n") <= 2  # one message, not a dump of the input
    assert len(printed) < 500


def test_nothing_is_changed_by_a_file_with_a_broken_forum(
        run: Callable[[Path | str], tuple[int, str]], tmp_path: Path,
        database_url: str) -> None:
    good = yaml_file(tmp_path / "good.yaml", forum())
    assert run(good) == (0, "berlin-2027: created, published\n")
    broken = yaml_file(tmp_path / "broken.yaml", forum(slug="astana-2027"),
                       forum(status="draft"))
    code, printed = run(broken)
    assert code == 3
    assert printed == (f"import error: {broken}: forum berlin-2027: status: a published "
                       "forum cannot become draft\n")
    assert asyncio.run(forum_count(database_url)) == 1  # astana-2027 was not kept either


def test_a_file_at_every_bound_is_read(tmp_path: Path) -> None:
    longest = {field: {language: "ә" * limit for language in ("kk", "ru", "en")}
               for field, limit in forums.TEXT_LIMITS.items()}
    items = [forum(slug=f"forum-{n}", capacity=forums.MAX_CAPACITY, **longest,
                   starts="2100-12-31 10:00", ends="2100-12-31 23:59",
                   deadline="2100-12-30 10:00", timezone="Etc/GMT+12")
             for n in range(forum_import.MAX_FORUMS)]
    read = forum_import.read(yaml_file(tmp_path / "forums.yaml", *items))
    assert len(read) == forum_import.MAX_FORUMS
    assert read[0].capacity == 100_000 and len(read[0].description["kk"]) == 1500


def test_a_file_of_exactly_the_largest_size_is_read(tmp_path: Path) -> None:
    path = tmp_path / "forums.yaml"
    path.write_bytes(b"#" * forum_import.MAX_FILE_BYTES)
    assert len(forum_import.read_bytes(path)) == forum_import.MAX_FILE_BYTES
    path.write_bytes(b"#" * (forum_import.MAX_FILE_BYTES + 1))
    with pytest.raises(forum_import.ImportError_, match="larger than"):
        forum_import.read_bytes(path)


def test_the_example_file_imports_within_the_bounds() -> None:
    example = Path(__file__).parent.parent / "examples" / "forums.yaml"
    assert [item.slug for item in forum_import.read(example)] == ["berlin-2027",
                                                                  "istanbul-2027"]
