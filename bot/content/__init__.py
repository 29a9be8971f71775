"""Content that coordinators change without touching code, with its schema.

`facts.yaml` is the one table of facts: every figure, date and link, with its "as of"
date and source (`bot.content.facts`), the projects' order and the lines of the
numbers screen. `faq.yaml` and `faq.<lang>.yaml` are the knowledge base typed questions
are answered from (`bot.content.faq`). `<lang>.yaml` holds the words, which name figures
by id and never type them. Kazakh's other scripts (`kk-Latn`, `kk-Arab`) have no files:
their words are the Kazakh ones, transliterated as they are loaded (`in_scripts`).
Everything is checked at start-up: a missing language, key or text, or a
placeholder the table does not fill, stops the start with a message that names the
file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator

from bot import CONTENT_DIR, LANGUAGES
from bot.content.eligibility import EligibilityContent, load_eligibility
from bot.content.facts import FactTable, fact_ids, not_blank, unknown_placeholders
from bot.content.faq import FaqContent, load_faq
from bot.core import scripts


class ContentError(Exception):
    """The content files are not usable; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProjectFacts(_Strict):
    order: list[str] = Field(min_length=1)
    links: dict[str, HttpUrl] = Field(default_factory=dict)  # a project's own page
    source: str  # the fact the descriptions rest on

    @field_validator("order")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("project ids must be unique")
        return value


class FactsFile(FactTable):
    projects: ProjectFacts
    numbers: list[str] = Field(min_length=1)


class ProjectText(_Strict):
    title: str
    button: str = Field(max_length=20)
    summary: str = Field(max_length=72)
    body: str

    _check = field_validator("title", "button", "summary", "body")(not_blank)


class FigureText(_Strict):
    text: str

    _check = field_validator("text")(not_blank)


class NumbersText(_Strict):
    title: str
    intro: str

    _check = field_validator("title", "intro")(not_blank)


class LanguageText(_Strict):
    sources: dict[str, str]
    projects: dict[str, ProjectText]
    numbers: NumbersText
    figures: dict[str, FigureText]


@dataclass(frozen=True)
class Project:
    id: str
    link: str | None
    text: dict[str, ProjectText]


@dataclass(frozen=True)
class Content:
    facts: FactTable
    projects: list[Project]
    projects_source: str
    numbers: dict[str, NumbersText]
    number_lines: list[str]
    figure_texts: dict[str, dict[str, FigureText]]
    source_names: dict[str, dict[str, str]]
    eligibility: EligibilityContent
    faq: FaqContent

    def project(self, project_id: str) -> Project | None:
        return next((p for p in self.projects if p.id == project_id), None)


# libyaml's safe loader where PyYAML was built with it (its wheels are): the same
# documents, parsed about ten times faster than the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        raise ContentError(f"{path}: file is missing")
    try:
        with path.open(encoding="utf-8") as source:
            return yaml.load(source, Loader=_YAML_LOADER)
    except yaml.YAMLError as error:
        raise ContentError(f"{path}: not valid YAML: {error}") from error


def _explain(path: Path, error: ValidationError) -> ContentError:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top)"
        message = "is missing" if item["type"] == "missing" else item["msg"]
        problems.append(f"{path}: {key}: {message}")
    return ContentError("\n".join(problems))


def _check_language(path: Path, facts_path: Path, facts: FactsFile,
                    text: LanguageText) -> list[str]:
    problems: list[str] = []

    def same_keys(section: str, expected: list[str], found: dict[str, Any]) -> None:
        problems.extend(f"{path}: {section}.{key}: is missing"
                        for key in expected if key not in found)
        problems.extend(f"{path}: {section}.{key}: not listed in {facts_path.name}"
                        for key in found if key not in expected)

    same_keys("sources", list(facts.sources), text.sources)
    same_keys("projects", facts.projects.order, text.projects)
    same_keys("figures", facts.numbers, text.figures)
    keys = facts.keys()
    texts = {f"figures.{lid}.text": line.text for lid, line in text.figures.items()}
    texts |= {f"projects.{pid}.{field}": getattr(project, field)
              for pid, project in text.projects.items() for field in ("title", "body")}
    for key, words in texts.items():
        unknown = unknown_placeholders(words, keys)
        if unknown:
            problems.append(f"{path}: {key}: placeholders not in {facts_path.name}: "
                            f"{sorted(unknown)}")
    for lid, line in text.figures.items():
        if not fact_ids(line.text, facts):
            problems.append(f"{path}: figures.{lid}.text: must name a figure of "
                            f"{facts_path.name}, e.g. {{{lid}}}")
    return problems


Words = TypeVar("Words")


def _written(value: Any, script: scripts.Script) -> Any:
    """Every Cyrillic text in a value (a string, a model, a list, a mapping's values) in
    a script; ids, links and numbers as they are."""
    if isinstance(value, str):
        return script.write(value) if scripts.HAS_CYRILLIC.search(value) else value
    if isinstance(value, BaseModel):
        return value.model_copy(update={name: _written(getattr(value, name), script)
                                        for name in type(value).model_fields})
    if isinstance(value, dict):
        return {key: _written(item, script) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_written(item, script) for item in value)
    return value


def in_scripts(by_language: dict[str, Words]) -> dict[str, Words]:
    """Words by language, with Kazakh's other scripts added: the Kazakh words
    transliterated."""
    written = dict(by_language)
    for locale in scripts.DERIVED:
        script = scripts.writer(locale)
        assert script is not None
        written[locale] = _written(by_language[scripts.CYRILLIC], script)
    return written


def load_content(directory: Path = CONTENT_DIR) -> Content:
    facts_path = directory / "facts.yaml"
    try:
        facts = FactsFile.model_validate(_read_yaml(facts_path))
    except ValidationError as error:
        raise _explain(facts_path, error) from error
    problems = [] if any(f.id == facts.projects.source for f in facts.facts) else [
        f"{facts_path}: projects.source: {facts.projects.source!r} is not a fact"]
    if problems:
        raise ContentError("\n".join(problems))

    texts: dict[str, LanguageText] = {}
    for language in LANGUAGES:
        path = directory / f"{language}.yaml"
        try:
            text = LanguageText.model_validate(_read_yaml(path))
        except ValidationError as error:
            raise _explain(path, error) from error
        problems = _check_language(path, facts_path, facts, text)
        if problems:
            raise ContentError("\n".join(problems))
        texts[language] = text

    texts = in_scripts(texts)
    table = FactTable(sources=facts.sources, facts=facts.facts)
    eligibility = load_eligibility(directory, table, _read_yaml, _explain)
    eligibility.words = in_scripts(eligibility.words)
    faq = load_faq(directory, table, _read_yaml, _explain)
    projects = [
        Project(
            id=pid,
            link=str(facts.projects.links[pid]) if pid in facts.projects.links else None,
            text={language: text.projects[pid] for language, text in texts.items()},
        )
        for pid in facts.projects.order
    ]
    return Content(
        facts=table,
        eligibility=eligibility,
        faq=replace(faq, texts=in_scripts(faq.texts)),
        projects=projects,
        projects_source=facts.projects.source,
        numbers={language: text.numbers for language, text in texts.items()},
        number_lines=list(facts.numbers),
        figure_texts={language: dict(text.figures) for language, text in texts.items()},
        source_names={language: dict(text.sources) for language, text in texts.items()},
    )
