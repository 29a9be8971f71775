"""The overview's numbers (bot/services/stats.py) and their charts
(bot/web/dashboard/charts.py): counted by the database, parts that add up, drawn as SVG."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.app import App
from bot.clock import now
from bot.db.models import EligibilityCheck, Forum, User
from bot.services import forums, stats
from bot.services.stats import Series
from bot.web.dashboard.charts import _nice_top, stacked_bars


async def test_forum_parts_add_up_and_checks_count_per_month(app: App) -> None:
    moment = now()
    async with app.engine.sessionmaker() as db, db.begin():
        forum = await forums.create(db, forums.ForumDraft(
            slug="astana", title={"en": "A"}, description={}, country="KZ", city={"en": "A"},
            venue={"en": "V"}, timezone="Asia/Almaty", starts_at=moment + timedelta(days=9),
            ends_at=moment + timedelta(days=9, hours=2), event_language="kk", capacity=2,
            deadline=moment + timedelta(days=8)), by=None, now=moment)
        await forums.set_status(db, forum, forums.ForumStatus.PUBLISHED, moment)
        people = [User(channel="telegram", external_id=str(i), language="kk", country="CN")
                  for i in range(3)]
        db.add_all(people)
        await db.flush()
        made = [await forums.register(db, forum.id, person.id, {"full_name": "X"}, moment,
                                      app.settings.reminder_offsets) for person in people]
        await forums.check_in(db, made[0].ticket_secret or "", people[0].id, moment)
        for verdict, country in (("eligible", "CN"), ("eligible", "MN"), ("not_eligible", "CN")):
            db.add(EligibilityCheck(user_id=people[0].id, rules_version="1", status="done",
                                    verdict=verdict, country=country, completed_at=moment))
    async with app.engine.sessionmaker() as db:
        found = await stats.forums(db, moment)
        by_verdict = await stats.eligibility(db, "verdict", moment)
        by_country = await stats.eligibility(db, "country", moment)
        users = await stats.users(db, "country", moment)
        assert await db.get(Forum, forum.id) is not None
    assert found.rows == ["astana"]
    assert {c: found.value("astana", c) for c in found.columns} == {
        "checked_in": 1, "confirmed": 1, "waiting": 1}
    month = moment.strftime("%Y-%m")
    assert by_verdict.value(month, "eligible") == 2
    assert by_verdict.value(month, "not_eligible") == 1
    assert by_country.value(month, "CN") == 2 and by_country.row_total(month) == 3
    assert users.value(month, "CN") == 3


def test_a_chart_draws_a_bar_part_per_number() -> None:
    series = Series(["2026-01", "2026-02"], ["kk", "ru"],
                    {("2026-01", "kk"): 3, ("2026-01", "ru"): 2, ("2026-02", "ru"): 7})
    svg = str(stacked_bars(series, "Users <by> language", {"kk": "Kazakh"}))
    assert svg.count('class="bar"') == 3
    assert "Users &lt;by&gt; language" in svg and "Kazakh" in svg
    heights = [float(h) for h in re.findall(r'class="bar"[^>]*height="([\d.]+)"', svg)]
    assert heights[2] > heights[0] > heights[1] > 0  # 7 > 3 > 2, on one scale
    empty = str(stacked_bars(Series([], [], {}), "Nothing"))
    assert 'class="bar"' not in empty and "—" in empty


def test_the_axis_top_is_a_round_number() -> None:
    assert [_nice_top(v) for v in (0, 1, 3, 7, 11, 180, 2600)] == [1, 1, 5, 10, 20, 200, 5000]


def test_the_axis_is_labelled_in_whole_numbers_each_once() -> None:
    for top in (1, 2, 3, 7, 12, 40, 130):
        svg = str(stacked_bars(Series(["2026-01"], ["kk"], {("2026-01", "kk"): top}), "Users"))
        ticks = [int(value) for value in re.findall(r'class="tick">(\d+)<', svg)]
        assert ticks == sorted(set(ticks)) and ticks[0] == 0 and ticks[-1] >= top, (top, ticks)
