"""Table-driven tests of the kandas rules: every path through the questionnaire, its
verdict and plan, and support amounts for families of 1 to 8."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
import yaml

from bot import CONTENT_DIR
from bot.content import ContentError, load_content
from bot.content.eligibility import Rules
from bot.services import eligibility as service

RULES: Rules = load_content().eligibility.rules
FACTS = load_content().facts


def walk(choose: dict[str, object]) -> tuple[list[str], dict[str, object]]:
    """Answer the questionnaire with `choose`; return the questions asked and answers."""
    path: list[str] = []
    answers: dict[str, object] = {}
    while (question := service.next_question(RULES, path, answers)) is not None:
        assert question.id in choose, f"asked {question.id} unexpectedly"
        value = choose[question.id]
        assert service.valid_answer(question, value), (question.id, value)
        answers[question.id] = value
        path.append(question.id)
    return path, answers


CASES = [
    # answers, questions asked, verdict, reasons, routes
    ({"nationality": "no"}, ["nationality"], "not_eligible", ["not_kazakh"],
     ["residence_permit", "consultation"]),
    ({"nationality": "yes", "nationality_document": "yes", "ever_citizen": "yes"},
     ["nationality", "nationality_document", "ever_citizen"], "not_eligible",
     ["former_citizen"], ["consultation"]),
    ({"nationality": "yes", "nationality_document": "no", "ever_citizen": "yes"},
     ["nationality", "nationality_document", "ever_citizen"], "not_eligible",
     ["former_citizen"], ["consultation"]),
    ({"nationality": "yes", "nationality_document": "yes", "ever_citizen": "no",
      "permanent": "no"},
     ["nationality", "nationality_document", "ever_citizen", "permanent"], "not_eligible",
     ["not_permanent"], ["ata_zholy", "consultation"]),
    ({"nationality": "yes", "nationality_document": "no", "ever_citizen": "no",
      "permanent": "yes", "country": "CN", "family_size": 0, "quota": "yes"},
     ["nationality", "nationality_document", "ever_citizen", "permanent", "country",
      "family_size", "quota"], "needs_checking", ["no_document"],
     ["commission", "consultation"]),
    ({"nationality": "yes", "nationality_document": "yes", "ever_citizen": "no",
      "permanent": "yes", "country": "UZ", "family_size": 3, "family_kazakh": "all",
      "quota": "no"},
     ["nationality", "nationality_document", "ever_citizen", "permanent", "country",
      "family_size", "family_kazakh", "quota"], "eligible", ["all_met"], []),
]


@pytest.mark.parametrize(("choose", "asked", "verdict", "reasons", "routes"), CASES)
def test_paths_and_verdicts(choose, asked, verdict, reasons, routes) -> None:  # type: ignore[no-untyped-def]
    path, answers = walk(choose)
    assert path == asked
    outcome = service.evaluate(RULES, answers)
    assert (outcome.verdict, outcome.reasons, outcome.routes) == (verdict, reasons, routes)


CHOICES = {
    "nationality": ["yes", "no"], "nationality_document": ["yes", "no"],
    "ever_citizen": ["yes", "no"], "permanent": ["yes", "no"], "country": ["CN", "KZ", "DE"],
    "family_size": [0, 1, 8], "family_kazakh": ["all", "some", "none"],
    "quota": ["yes", "no", "unsure"],
}


def expected_verdict(a: dict[str, object]) -> str:
    """The law in plain Python, written independently of the YAML."""
    if a["nationality"] == "no" or a.get("ever_citizen") == "yes" \
            or a.get("permanent") == "no":
        return "not_eligible"
    if a.get("nationality_document") == "no":
        return "needs_checking"
    return "eligible"


def test_every_combination_of_answers() -> None:
    """Every combination: only sensible questions are asked, and the verdict is right."""
    seen_paths = set()
    for values in itertools.product(*CHOICES.values()):
        choose = dict(zip(CHOICES, values, strict=True))
        path, answers = walk(choose)
        seen_paths.add(tuple(path))
        assert ("family_kazakh" in path) == (answers.get("family_size", 0) > 0)
        if answers["nationality"] == "no":
            assert path == ["nationality"]
        if answers.get("ever_citizen") == "yes" or answers.get("permanent") == "no":
            assert "country" not in path
        outcome = service.evaluate(RULES, answers)
        assert outcome.verdict == expected_verdict(answers), answers
        assert ("family_not_kazakh" in outcome.notes) == \
            (answers.get("family_kazakh") in ("some", "none"))
        assert ("already_in_kazakhstan" in outcome.notes) == (answers.get("country") == "KZ")
    assert len(seen_paths) == 5


def test_a_changed_earlier_answer_drops_answers_that_no_longer_apply() -> None:
    path, answers = walk({"nationality": "yes", "nationality_document": "yes",
                          "ever_citizen": "no", "permanent": "yes", "country": "CN",
                          "family_size": 2, "family_kazakh": "some", "quota": "yes"})
    # Back to family_size and answer 0: family_kazakh is no longer asked nor counted.
    path = path[: path.index("family_size")]
    answers["family_size"] = 0
    path.append("family_size")
    question = service.next_question(RULES, path, answers)
    assert question is not None and question.id == "quota"
    assert "family_kazakh" not in service.effective_answers(path, answers)


@pytest.mark.parametrize("members", range(0, 8))
def test_support_amounts_for_families_of_1_to_8(members: int) -> None:
    people = members + 1
    amounts = service.support(RULES, FACTS, people)
    assert amounts.relocation == 70 * 4325 * people
    assert amounts.per_member == 302750
    assert (amounts.rent_min, amounts.rent_max, amounts.months) == (64875, 129750, 12)
    assert amounts.relocation == {1: 302750, 2: 605500, 3: 908250, 4: 1211000, 5: 1513750,
                                  6: 1816500, 7: 2119250, 8: 2422000}[people]


@pytest.mark.parametrize(("members", "family", "people"), [
    (0, None, 1), (3, "all", 4), (3, "some", None), (3, "none", None), (15, "all", 16)])
def test_the_subsidy_is_computed_only_for_whom_the_facts_allow(
        members: int, family: str | None, people: int | None) -> None:
    """Per family member; a family that is not all Kazakh gets no family total, since
    the facts do not say whether members without kandas status count."""
    answers = {"family_size": members, **({"family_kazakh": family} if family else {})}
    assert service.subsidy_people(answers) == people


@pytest.mark.parametrize("members", [0, 1, 3, 8])
def test_checklist_grows_with_the_family(members: int) -> None:
    items = service.checklist_items(RULES, {"nationality_document": "yes",
                                            "family_size": members})
    assert len(items) == 5 + 2 * members
    assert "nationality_document" in items
    assert len(set(items)) == len(items)
    no_document = service.checklist_items(RULES, {"nationality_document": "no"})
    assert "commission_recommendation" in no_document
    assert "nationality_document" not in no_document


@pytest.mark.parametrize(("typed", "code"), [
    ("China", "CN"), ("китай", "CN"), ("Қытай", "CN"), ("Chna", "CN"),
    ("Uzbekistan", "UZ"), ("Узбекистн", "UZ"), ("Өзбекстан", "UZ"),
    ("Germany", "DE"), ("Germny", "DE"), ("Германия", "DE"), ("Германя", "DE"),
    ("Turkey", "TR"), ("Türkiye", "TR"), ("Турция", "TR"),
    ("Mongolia", "MN"), ("Моңғолия", "MN"), ("Монголия", "MN"),
    ("USA", "US"), ("United States", "US"), ("Ресей", "RU"), ("россия", "RU"),
    ("Kyrgyzstan", "KG"), ("Afganistan", "AF"), ("ir", "IR"),
])
def test_countries_typed_in_three_languages_with_typos(typed: str, code: str) -> None:
    assert service.match_country(RULES, typed) == code


@pytest.mark.parametrize("typed", ["", "qwertyuiop", "12345", "the moon"])
def test_nonsense_is_not_a_country(typed: str) -> None:
    assert service.match_country(RULES, typed) is None


def test_rules_file_problems_name_the_key(tmp_path: Path) -> None:
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = target / "eligibility.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["support"]["mrp"] = "mrp_2025"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentError, match=r"eligibility\.yaml: support\.mrp: 'mrp_2025' is not"):
        load_content(target)
    facts = target / "facts.yaml"
    data = yaml.safe_load(facts.read_text(encoding="utf-8"))
    data["facts"][0].pop("as_of")
    facts.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentError, match=r"facts\.yaml: facts\.0\.as_of: is missing"):
        load_content(target)


def test_words_must_cover_every_rule(tmp_path: Path) -> None:
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = target / "eligibility.ru.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["routes"].pop("ata_zholy")
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentError, match=r"eligibility\.ru\.yaml: routes\.ata_zholy"):
        load_content(target)


def test_a_new_country_is_data_not_code(tmp_path: Path) -> None:
    target = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = target / "eligibility.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["country_buttons"].append("XX")
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentError, match="unknown country codes"):
        load_content(target)
    data["country_buttons"][-1] = "SE"
    data["one_window_countries"].append("SE")
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert "SE" in load_content(target).eligibility.rules.one_window_countries
