"""The repatriation guide as a conversation: answers, back, restart, resume, typed
answers, stale buttons, the plan, the checklist, the stored results and privacy."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import func, select

from bot.app import App, build_app
from bot.db.models import ChatSession, EligibilityCheck, User
from tests.conftest import Chat, make_settings

ELIGIBLE = [
    "el:a:nationality:yes", "el:a:nationality_document:yes", "el:a:ever_citizen:no",
    "el:a:permanent:yes", "el:a:country:CN", "el:a:family_size:2",
    "el:a:family_kazakh:all", "el:a:quota:yes",
]


async def english(app: App, user: str = "el") -> Chat:
    chat = Chat(app, user, language_hint="en")
    await chat.text("/start")
    return chat


async def test_a_whole_eligible_walk_gives_verdict_plan_and_checklist(app: App) -> None:
    chat = await english(app)
    await chat.press("el")
    assert "Question 1" in chat.texts()
    assert "Are you an ethnic Kazakh" in chat.texts()
    for payload in ELIGIBLE:
        assert payload in chat.payloads(), (payload, chat.payloads())
        await chat.press(payload)
    assert "You can apply for kandas status" in chat.texts()
    assert "Checked on" in chat.texts()
    assert "2026.2" not in chat.texts()  # the rules' version is stored, not shown
    assert "el:plan" in chat.payloads() and "el:cl" in chat.payloads()

    # The plan: a short summary with a button per section.
    await chat.press("el:plan")
    assert len(chat.texts()) < 600
    assert "0 of 9 ready" in chat.texts()
    assert chat.payloads() == ["el:plan:where", "el:plan:documents", "el:plan:support",
                               "el:plan:citizenship", "el:res", "menu"]
    await chat.press("el:plan:where")
    where = chat.texts()
    assert '"one window" pilot' in where  # China takes part in the embassy pilot
    assert "one visit" not in where  # the facts say only that pilots run
    assert "https://migration.enbek.kz" in where
    assert "joint order of January 30, 2026" in where and "interview" in where
    assert "30 working days" in where
    assert where.splitlines()[-1].startswith("📎 Sources:")
    await chat.press("el:plan:support")
    support = chat.texts()
    # 70 MRP × 4,325 ₸ × 3 people; counts with their nouns, money as English writes it
    assert "(KZT\u00a0302,750) for each family member" in support
    assert "(2), 3 people in all: KZT\u00a0908,250" in support
    assert "(KZT\u00a064,875–129,750) a month per family, for 12 months" in support
    assert "The 2026 regional quota: 2,281 people." in support
    assert "Pavlodar 977" in support
    assert "August 2025" not in support
    await chat.press("el:plan:documents")
    documents = chat.texts()
    assert "Documents (9)" in documents
    assert "For each family member coming with you (2)" in documents
    assert "el:cl" in chat.payloads() and "el:plan" in chat.payloads()
    await chat.press("el:plan:citizenship")
    assert "dual citizenship" in chat.texts()

    await chat.press("el:cl")
    assert "0 of 9 ready" in chat.texts()
    toggles = [p for p in chat.payloads() if p.startswith("el:t:")]
    assert len(toggles) == 9
    for payload in toggles[:4]:
        await chat.press(payload)
    assert "4 of 9 ready" in chat.texts()
    await chat.press(toggles[0])  # untick
    assert "3 of 9 ready" in chat.texts()

    # Coming back later: the last result with the progress, no new questions.
    await chat.text("/menu")
    await chat.press("el")
    assert "You can apply" in chat.texts()
    assert "📋 Documents: 3 of 9" in [c.label for r in chat.last for c in r.flat_choices]


async def test_the_plan_in_kazakh_and_russian_writes_counts_money_and_dates_natively(
        app: App) -> None:
    expected = {
        "kk": ["барлығы 3 адам: 908\u00a0250\u00a0₸.",
               "АЕК (64\u00a0875–129\u00a0750\u00a0₸), 12 ай бойы.",
               "Шешім 30 жұмыс күні ішінде шығарылады.", "өңірлік квота — 2\u00a0281 адам.",
               "2026 жылғы 30 қаңтардағы бірлескен бұйрық бойынша",
               "(2025 жылғы тамыздағы жағдай бойынша)", "колледж бен ЖОО-ға түсуге 4% квота",
               "1-отбасы мүшесі: жеке басын"],
        "ru": ["всего 3 человека: 908\u00a0250\u00a0₸.",
               "(64\u00a0875–129\u00a0750\u00a0₸) в месяц на семью в течение 12 месяцев.",
               "Срок рассмотрения — 30 рабочих дней.", "квота на 2026 год — 2\u00a0281 человек.",
               "по совместному приказу от 30 января 2026\u202fг.",
               "(данные на август 2025\u202fг.)", "квота 4\u00a0% в колледжи",
               "Член семьи 1: копия"],
    }
    for language, parts in expected.items():
        chat = Chat(app, f"el-{language}", language_hint=language)
        await chat.text("/start")
        await chat.press("el")
        for payload in ELIGIBLE:
            await chat.press(payload)
        await chat.press("el:plan")
        plan = [chat.texts()]
        for section in [p for p in chat.payloads() if p.startswith("el:plan:")]:
            await chat.press(section)
            plan.append(chat.texts())
        await chat.press("el:cl")  # the checklist names each family member's documents
        plan.append(chat.texts())
        for part in parts:
            assert any(part in text for text in plan), (language, part, plan)


async def test_not_eligible_shows_the_other_routes_without_a_plan(app: App) -> None:
    chat = await english(app)
    await chat.press("el")
    await chat.press("el:a:nationality:yes")
    await chat.press("el:a:nationality_document:yes")
    await chat.press("el:a:ever_citizen:no")
    await chat.press("el:a:permanent:no")
    text = chat.texts()
    assert "Unfortunately, you cannot get kandas status" in text and "❌" not in text
    # The routes that remain come first, the reason after them.
    assert text.index("Ata Zholy") < text.index("Why:") < text.index("permanently")
    assert "up to 10 years" in text
    assert "el:plan" not in chat.payloads()
    await chat.press("el:plan")  # an old button: the result again, no plan
    assert "Unfortunately, you cannot get kandas status" in chat.texts()
    await chat.press("el:plan:support")
    assert "Unfortunately, you cannot get kandas status" in chat.texts()


async def test_a_family_not_all_kazakh_sees_no_family_total(app: App) -> None:
    chat = await english(app)
    await chat.press("el")
    for payload in [*ELIGIBLE[:6], "el:a:family_kazakh:some", "el:a:quota:yes"]:
        await chat.press(payload)
    assert "do not get kandas status" in chat.texts()
    await chat.press("el:plan:support")
    support = chat.texts()
    assert "no family total" in support
    assert "908,250" not in support and "in all:" not in support


async def test_the_commission_route_names_no_embassy_for_people_in_kazakhstan(app: App) -> None:
    chat = await english(app)
    await chat.press("el")
    for payload in ["el:a:nationality:yes", "el:a:nationality_document:no",
                    "el:a:ever_citizen:no", "el:a:permanent:yes", "el:a:country:KZ",
                    "el:a:family_size:0", "el:a:quota:no"]:
        await chat.press(payload)
    text = chat.texts()
    assert "commission on Kazakh nationality" in text
    assert "through a Kazakh embassy" not in text
    await chat.press("el:plan:where")
    assert "embassy" not in chat.texts()


async def test_back_keeps_answers_and_restart_clears_them(app: App) -> None:
    chat = await english(app)
    await chat.press("el")
    await chat.press("el:a:nationality:yes")
    await chat.press("el:a:nationality_document:no")
    await chat.press("el:back")
    assert "Question 2" in chat.texts()
    assert "Your earlier answer: No such document" in chat.texts()
    await chat.press("el:back")
    assert "Question 1" in chat.texts()
    assert "el:back" not in chat.payloads()
    await chat.press("el:a:nationality:yes")
    assert "Question 2" in chat.texts()
    await chat.press("el:new")
    assert "Question 1" in chat.texts()
    assert "Your earlier answer" not in chat.texts()


async def test_leaving_and_coming_back_continues_where_the_user_stopped(app: App) -> None:
    chat = await english(app)
    await chat.press("el")
    await chat.press("el:a:nationality:yes")
    await chat.press("el:a:nationality_document:yes")
    await chat.text("/menu")
    await chat.press("num")
    await chat.press("el")
    assert "continue where you stopped" in chat.texts()
    assert "Question 3" in chat.texts()


async def test_resume_after_a_process_restart(database_url: str) -> None:
    first = await build_app(make_settings(database_url))
    chat = await english(first, "restart")
    await chat.press("el")
    for payload in ELIGIBLE[:4]:
        await chat.press(payload)
    await first.close()

    second = await build_app(make_settings(database_url))
    try:
        chat = Chat(second, "restart")
        await chat.text("Uzbekstan")  # typed, with a typo, after the restart
        assert "Country: Uzbekistan" in chat.texts()
        assert "Question 6" in chat.texts()
    finally:
        await second.close()


async def test_typed_answers_where_buttons_were_expected(app: App) -> None:
    chat = await english(app)
    await chat.press("el")
    await chat.text("yes")
    assert "Question 2" in chat.texts()
    await chat.text("1")  # the first answer's number
    assert "Question 3" in chat.texts()
    await chat.text("No, never")  # the label itself
    assert "Question 4" in chat.texts()
    await chat.text("maybe")
    assert "choose one of the buttons" in chat.texts()
    assert "Question 4" in chat.texts()
    await chat.text("да")
    await chat.text("Atlantis")
    assert "could not find a country" in chat.texts()
    await chat.text("Germany")
    await chat.text("twenty")
    assert "number from 0 to 15" in chat.texts()
    await chat.text("99")
    assert "number from 0 to 15" in chat.texts()
    await chat.text("0")
    assert "Question 7" in chat.texts()  # family_kazakh is skipped for one person
    await chat.text("no")
    assert "You can apply" in chat.texts()


async def test_buttons_from_earlier_questions_show_the_open_one(app: App) -> None:
    chat = await english(app)
    await chat.press("el")
    await chat.press("el:a:nationality:yes")
    await chat.press("el:a:nationality:no")  # pressed again on the old message
    assert "belongs to an earlier question" in chat.texts()
    assert "Question 2" in chat.texts()
    await chat.press("el:a:nationality_document:bogus")
    assert "Question 2" in chat.texts()
    await chat.press("el:a:x")
    assert "Question 2" in chat.texts()


async def test_redo_keeps_the_history_and_stats_count_outcomes(app: App) -> None:
    chat = await english(app)
    await chat.press("el")
    for payload in ELIGIBLE:
        await chat.press(payload)
    await chat.press("el:new")
    await chat.press("el:a:nationality:no")
    assert "Unfortunately, you cannot get kandas status" in chat.texts()
    other = await english(app, "other")
    await other.press("el")
    for payload in ELIGIBLE:
        await other.press(payload)
    async with app.engine.sessionmaker() as db:
        done = (await db.execute(select(EligibilityCheck).where(
            EligibilityCheck.status == "done"))).scalars().all()
        count = (await db.execute(select(func.count()).select_from(EligibilityCheck))).scalar()
    assert count == 3
    by_key = Counter((check.country, check.verdict) for check in done)
    assert by_key == {("CN", "eligible"): 2, (None, "not_eligible"): 1}
    assert all(check.completed_at is not None for check in done)
    # The newest result is the one shown.
    await chat.press("el")
    assert "Unfortunately, you cannot get kandas status" in chat.texts()


async def test_my_data_includes_the_results_and_forget_me_deletes_them(app: App) -> None:
    chat = await english(app)
    await chat.press("el")
    for payload in ELIGIBLE[:3]:
        await chat.press(payload)
    await chat.text("/mydata")
    attachment = chat.last[0].attachment
    assert attachment is not None and attachment.filename == "my-data.json"
    exported = json.loads(attachment.data)
    assert exported["profile"]["language"] == "en"
    assert exported["eligibility_checks"][0]["answers"]["ever_citizen"] == "no"
    assert exported["whatsapp"] is None and exported["forum_registrations"] == []

    await chat.text("/forgetme")
    assert chat.payloads() == ["pv:forget:yes", "menu"]
    await chat.press("pv:forget:yes")
    assert "deleted" in chat.texts()
    async with app.engine.sessionmaker() as db:
        for table in (User, ChatSession, EligibilityCheck):
            count = (await db.execute(select(func.count()).select_from(table))).scalar()
            assert count == 0, table
    await chat.text("/start")  # a new beginning
    assert "Hello" in chat.texts()


async def test_forget_me_can_be_declined(app: App) -> None:
    chat = await english(app)
    await chat.text("/forgetme")
    await chat.press("menu")
    async with app.engine.sessionmaker() as db:
        assert (await db.execute(select(func.count()).select_from(User))).scalar() == 1
