"""Content files: the shipped ones are valid; a broken one names the file and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot import CONTENT_DIR, LANGUAGES, LOCALES
from bot.content import ContentError, load_content
from bot.core.replies import split_text


def copy_content(tmp_path: Path) -> Path:
    """The shipped content files, copied to change them."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    return copy_content(tmp_path)


def edit(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_shipped_content_is_valid_and_complete() -> None:
    content = load_content()
    assert [p.id for p in content.projects] == [
        "qazaq_house", "turakty_auyly", "bereke", "bolashakka_bagdar"]
    for project in content.projects:
        assert set(project.text) == set(LOCALES)  # Latin and tote derived from Kazakh
    for language in LANGUAGES:
        assert list(content.figure_texts[language]) == content.number_lines


def test_languages_are_really_translated() -> None:
    content = load_content()
    for project in content.projects:
        bodies = {language: project.text[language].body for language in LANGUAGES}
        assert len(set(bodies.values())) == 3, project.id


def test_missing_language_file_names_the_file(content_dir: Path) -> None:
    (content_dir / "ru.yaml").unlink()
    with pytest.raises(ContentError, match=r"ru\.yaml: file is missing"):
        load_content(content_dir)


def test_missing_project_text_names_the_file_and_key(content_dir: Path) -> None:
    edit(content_dir / "kk.yaml", lambda data: data["projects"].pop("bereke"))
    with pytest.raises(ContentError, match=r"kk\.yaml: projects\.bereke: is missing"):
        load_content(content_dir)


def test_missing_field_names_the_file_and_key(content_dir: Path) -> None:
    edit(content_dir / "en.yaml", lambda data: data["projects"]["bereke"].pop("body"))
    with pytest.raises(ContentError, match=r"en\.yaml: projects\.bereke\.body: is missing"):
        load_content(content_dir)


def test_figure_line_that_names_no_figure_is_refused(content_dir: Path) -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        data["figures"]["kandas_2025"]["text"] = "no number here"

    edit(content_dir / "ru.yaml", change)
    with pytest.raises(ContentError, match=r"ru\.yaml: figures\.kandas_2025\.text"):
        load_content(content_dir)


def test_figure_missing_in_a_language(content_dir: Path) -> None:
    edit(content_dir / "facts.yaml", lambda data: data["numbers"].append("abroad_countries"))
    with pytest.raises(ContentError, match=r"kk\.yaml: figures\.abroad_countries: is missing"):
        load_content(content_dir)


def test_too_long_button_is_refused(content_dir: Path) -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        data["projects"]["bereke"]["button"] = "x" * 21

    edit(content_dir / "en.yaml", change)
    with pytest.raises(ContentError, match=r"en\.yaml: projects\.bereke\.button"):
        load_content(content_dir)


def test_broken_yaml_names_the_file(content_dir: Path) -> None:
    (content_dir / "facts.yaml").write_text("projects: [unclosed", encoding="utf-8")
    with pytest.raises(ContentError, match=r"facts\.yaml: not valid YAML"):
        load_content(content_dir)


@pytest.mark.parametrize("size", [10, 4096, 4097, 9000, 20000])
def test_split_text_keeps_every_character_within_the_limit(size: int) -> None:
    words = ("сөз " * (size // 4 + 1))[:size]
    text = "\n\n".join([words[: size // 2], words[size // 2 :]])
    chunks = split_text(text, 4096)
    assert all(0 < len(chunk) <= 4096 for chunk in chunks)
    assert "".join(chunks).replace(" ", "").replace("\n", "") == \
        text.replace(" ", "").replace("\n", "")


def test_split_text_without_spaces_cuts_hard() -> None:
    chunks = split_text("x" * 10000, 4096)
    assert [len(c) for c in chunks] == [4096, 4096, 1808]
