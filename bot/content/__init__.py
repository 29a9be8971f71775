"""Content that coordinators change without touching code, with its schema.

`facts.yaml` holds what is the same in every language (project order and links,
figures with their year, "as of" date and source link); `<lang>.yaml` holds the
words. Everything is checked at start-up: a missing language, key or text stops
the start with a message that names the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator

from bot import CONTENT_DIR, LANGUAGES
from bot.content.eligibility import EligibilityContent, load_eligibility

_PLACEHOLDER = re.compile(r"\{(\w*)\}")


class ContentError(Exception):
    """The content files are not usable; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Figure(_Strict):
    id: str
    value: float
    as_of: date
    source_url: HttpUrl


class Facts(_Strict):
    projects: list[str] = Field(min_length=1)
    project_links: dict[str, HttpUrl] = Field(default_factory=dict)
    figures: list[Figure] = Field(min_length=1)

    @field_validator("projects")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("project ids must be unique")
        return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


class ProjectText(_Strict):
    title: str
    button: str = Field(max_length=20)
    summary: str = Field(max_length=72)
    body: str

    _check = field_validator("title", "button", "summary", "body")(_not_blank)


class FigureText(_Strict):
    text: str
    source: str

    _check = field_validator("text", "source")(_not_blank)

    @field_validator("text")
    @classmethod
    def _has_value(cls, value: str) -> str:
        if "{value}" not in value:
            raise ValueError("must contain {value}")
        return value


class NumbersText(_Strict):
    title: str
    intro: str

    _check = field_validator("title", "intro")(_not_blank)


class LanguageText(_Strict):
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
    projects: list[Project]
    figures: list[Figure]
    numbers: dict[str, NumbersText]
    figure_texts: dict[str, dict[str, FigureText]]
    eligibility: EligibilityContent

    def project(self, project_id: str) -> Project | None:
        return next((p for p in self.projects if p.id == project_id), None)


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        raise ContentError(f"{path}: file is missing")
    try:
        with path.open(encoding="utf-8") as source:
            return yaml.safe_load(source)
    except yaml.YAMLError as error:
        raise ContentError(f"{path}: not valid YAML: {error}") from error


def _explain(path: Path, error: ValidationError) -> ContentError:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top)"
        message = "is missing" if item["type"] == "missing" else item["msg"]
        problems.append(f"{path}: {key}: {message}")
    return ContentError("\n".join(problems))


def load_content(directory: Path = CONTENT_DIR) -> Content:
    facts_path = directory / "facts.yaml"
    try:
        facts = Facts.model_validate(_read_yaml(facts_path))
    except ValidationError as error:
        raise _explain(facts_path, error) from error

    figure_ids = [figure.id for figure in facts.figures]
    texts: dict[str, LanguageText] = {}
    for language in LANGUAGES:
        path = directory / f"{language}.yaml"
        try:
            text = LanguageText.model_validate(_read_yaml(path))
        except ValidationError as error:
            raise _explain(path, error) from error
        problems = [f"{path}: projects.{pid}: is missing" for pid in facts.projects
                    if pid not in text.projects]
        problems += [f"{path}: projects.{pid}: not listed in {facts_path.name}"
                     for pid in text.projects if pid not in facts.projects]
        problems += [f"{path}: figures.{fid}: is missing" for fid in figure_ids
                     if fid not in text.figures]
        problems += [f"{path}: figures.{fid}: not listed in {facts_path.name}"
                     for fid in text.figures if fid not in figure_ids]
        for fid, figure_text in text.figures.items():
            extra = set(_PLACEHOLDER.findall(figure_text.text)) - {"value"}
            if extra:
                problems.append(f"{path}: figures.{fid}.text: unknown placeholders {sorted(extra)}")
        if problems:
            raise ContentError("\n".join(problems))
        texts[language] = text

    projects = [
        Project(
            id=pid,
            link=str(facts.project_links[pid]) if pid in facts.project_links else None,
            text={language: texts[language].projects[pid] for language in LANGUAGES},
        )
        for pid in facts.projects
    ]
    return Content(
        eligibility=load_eligibility(directory, _read_yaml, _explain),
        projects=projects,
        figures=list(facts.figures),
        numbers={language: texts[language].numbers for language in LANGUAGES},
        figure_texts={language: dict(texts[language].figures) for language in LANGUAGES},
    )
