"""The buttons of the flows: one `Codec` per flow and a small dataclass per kind of
button, so that a payload is built and read in one place (`bot.core.payloads`).

A step builds a button with `Choice(label, FORUMS.build(View(forum.id)))`; a flow's
button handler (`@router.button(FORUMS)`) finds the parsed press in `ctx.press` and
matches on its type. A payload its codec refuses never reaches the flow: it goes to the
flow's "stale" fallback (`router.fallback("stale", button=FORUMS)`) or the global one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from bot.content.eligibility import PlanSection
from bot.core.payloads import Codec, Id, Range

Language = Literal["kk", "kk-Latn", "kk-Arab", "ru", "en"]
# A page of a long list, from 0 (handlers/common.py `page_row`).
PageNumber = Annotated[int, Range(0, 1_000_000)]

# ---- menu, help, language, settings, privacy, numbers, projects --------------------------

MENU = Codec("menu")
HELP = Codec("help")
LANGUAGE = Codec("language")  # the language screen
LANG = Codec("lang")  # a language chosen
SETTINGS = Codec("set")
PRIVACY = Codec("pv")
NUMBERS = Codec("num")
PROJECTS = Codec("prj")


@MENU.kind()
@dataclass(frozen=True)
class Menu:
    pass


@HELP.kind()
@dataclass(frozen=True)
class Help:
    pass


@LANGUAGE.kind()
@dataclass(frozen=True)
class LanguageScreen:
    pass


@LANG.kind()
@dataclass(frozen=True)
class Lang:
    code: Language


@SETTINGS.kind()
@dataclass(frozen=True)
class SettingsScreen:
    pass


@SETTINGS.kind("ann")
@dataclass(frozen=True)
class ToggleAnnouncements:
    pass


@PRIVACY.kind()
@dataclass(frozen=True)
class MyData:
    pass


@PRIVACY.kind("forget")
@dataclass(frozen=True)
class ForgetAsk:
    pass


@PRIVACY.kind("forget:yes")
@dataclass(frozen=True)
class ForgetConfirmed:
    pass


@NUMBERS.kind()
@dataclass(frozen=True)
class Numbers:
    pass


@PROJECTS.kind()
@dataclass(frozen=True)
class Projects:
    project: str | None = None  # None: the list


# ---- eligibility ---------------------------------------------------------------------------

ELIGIBILITY = Codec("el")


@ELIGIBILITY.kind()
@dataclass(frozen=True)
class Eligibility:
    """The entry: the open questionnaire, or the last result."""


@ELIGIBILITY.kind("a")
@dataclass(frozen=True)
class Answer:
    question: str
    value: str


@ELIGIBILITY.kind("back")
@dataclass(frozen=True)
class Back:
    pass


@ELIGIBILITY.kind("new")
@dataclass(frozen=True)
class StartOver:
    pass


@ELIGIBILITY.kind("res")
@dataclass(frozen=True)
class Result:
    pass


@ELIGIBILITY.kind("plan")
@dataclass(frozen=True)
class Plan:
    section: PlanSection | None = None  # None: the summary


@ELIGIBILITY.kind("cl")
@dataclass(frozen=True)
class Checklist:
    pass


@ELIGIBILITY.kind("t")
@dataclass(frozen=True)
class ToggleDocument:
    item: str  # may hold `:` (`member_id_copy:2`)


# ---- forums for attendees, registration ----------------------------------------------------

FORUMS = Codec("fo")
REGISTRATION = Codec("rg")

DetailField = Literal["full_name", "country", "city", "organization", "sector", "phone",
                      "email"]


@FORUMS.kind()
@dataclass(frozen=True)
class ForumList:
    pass


@FORUMS.kind("c")
@dataclass(frozen=True)
class ForumsIn:
    country: str | None = None  # None: all countries


@FORUMS.kind("p")
@dataclass(frozen=True)
class ForumPage:
    page: PageNumber
    country: str | None = None  # None: all countries


@FORUMS.kind("cs")
@dataclass(frozen=True)
class Countries:
    """The countries with upcoming forums, to see only one's."""

    page: PageNumber | None = None


@FORUMS.kind("v")
@dataclass(frozen=True)
class ForumView:
    forum: Id


@FORUMS.kind("r")
@dataclass(frozen=True)
class Register:
    forum: Id


@FORUMS.kind("my")
@dataclass(frozen=True)
class MyRegistrations:
    page: PageNumber | None = None


@FORUMS.kind("m")
@dataclass(frozen=True)
class MyRegistration:
    registration: Id


@FORUMS.kind("t")
@dataclass(frozen=True)
class Ticket:
    registration: Id


@FORUMS.kind("x")
@dataclass(frozen=True)
class CancelAsk:
    registration: Id


@FORUMS.kind("xx")
@dataclass(frozen=True)
class CancelConfirmed:
    registration: Id


@REGISTRATION.kind("stop")
@dataclass(frozen=True)
class StopRegistration:
    pass


@REGISTRATION.kind("use")
@dataclass(frozen=True)
class UseKnown:
    pass


@REGISTRATION.kind("fresh")
@dataclass(frozen=True)
class EnterFresh:
    pass


@REGISTRATION.kind("sector")
@dataclass(frozen=True)
class PickSector:
    sector: str


@REGISTRATION.kind("skip")
@dataclass(frozen=True)
class SkipEmail:
    pass


@REGISTRATION.kind("agree")
@dataclass(frozen=True)
class Agree:
    pass


@REGISTRATION.kind("e")
@dataclass(frozen=True)
class EditDetail:
    field: DetailField


@REGISTRATION.kind("go")
@dataclass(frozen=True)
class Submit:
    pass


# ---- coordinators' forum tools -------------------------------------------------------------

ADMIN = Codec("ad")

# The forum dialog's steps in order; each is also an editable field.
ForumStep = Literal["title_kk", "title_ru", "title_en", "description_kk", "description_ru",
                    "description_en", "country", "city_kk", "city_ru", "city_en", "venue_kk",
                    "venue_ru", "venue_en", "timezone", "starts_at", "ends_at",
                    "event_language", "capacity", "deadline"]


@ADMIN.kind()
@dataclass(frozen=True)
class AdminForums:
    page: PageNumber | None = None


@ADMIN.kind("new")
@dataclass(frozen=True)
class NewForum:
    pass


@ADMIN.kind("stop")
@dataclass(frozen=True)
class StopDialog:
    pass


@ADMIN.kind("tz")
@dataclass(frozen=True)
class PickZone:
    zone: str


@ADMIN.kind("lang")
@dataclass(frozen=True)
class PickEventLanguage:
    code: Language


@ADMIN.kind("f")
@dataclass(frozen=True)
class AdminForum:
    forum: Id


@ADMIN.kind("pub")
@dataclass(frozen=True)
class Publish:
    forum: Id


@ADMIN.kind("close")
@dataclass(frozen=True)
class CloseRegistration:
    forum: Id


@ADMIN.kind("cx")
@dataclass(frozen=True)
class CancelForumAsk:
    forum: Id


@ADMIN.kind("cx!")
@dataclass(frozen=True)
class CancelForum:
    forum: Id


@ADMIN.kind("csv")
@dataclass(frozen=True)
class ExportCsv:
    forum: Id


@ADMIN.kind("xlsx")
@dataclass(frozen=True)
class ExportXlsx:
    forum: Id


@ADMIN.kind("ed")
@dataclass(frozen=True)
class EditForum:
    forum: Id


@ADMIN.kind("ef")
@dataclass(frozen=True)
class EditForumField:
    forum: Id
    field: ForumStep


# ---- coordinators' announcements -----------------------------------------------------------

BROADCASTS = Codec("bc")

Channel = Literal["telegram", "whatsapp"]
Verdict = Literal["eligible", "needs_checking", "not_eligible"]
ForumAudience = Literal["registered", "waiting", "checked_in"]


@BROADCASTS.kind()
@dataclass(frozen=True)
class Announcements:
    page: PageNumber | None = None


@BROADCASTS.kind("new")
@dataclass(frozen=True)
class NewAnnouncement:
    pass


@BROADCASTS.kind("one")
@dataclass(frozen=True)
class OneText:
    pass


@BROADCASTS.kind("each")
@dataclass(frozen=True)
class TextEach:
    pass


@BROADCASTS.kind("v")
@dataclass(frozen=True)
class ViewAnnouncement:
    broadcast: Id


@BROADCASTS.kind("cx")
@dataclass(frozen=True)
class CancelAnnouncement:
    broadcast: Id


@BROADCASTS.kind("nofile")
@dataclass(frozen=True)
class NoFile:
    pass


@BROADCASTS.kind("nourl")
@dataclass(frozen=True)
class NoButton:
    pass


@BROADCASTS.kind("t:l")
@dataclass(frozen=True)
class ToggleLanguage:
    code: Language


@BROADCASTS.kind("t:c")
@dataclass(frozen=True)
class ToggleChannel:
    channel: Channel


@BROADCASTS.kind("t:v")
@dataclass(frozen=True)
class ToggleVerdict:
    verdict: Verdict


@BROADCASTS.kind("t:s")
@dataclass(frozen=True)
class ToggleForumStatus:
    status: ForumAudience


@BROADCASTS.kind("all")
@dataclass(frozen=True)
class Everyone:
    pass


@BROADCASTS.kind("fo")
@dataclass(frozen=True)
class ForumAttendees:
    forum: Id | None = None  # None: choose the forum


@BROADCASTS.kind("fop")
@dataclass(frozen=True)
class ForumChoicePage:
    """A page of the forums to choose from."""

    page: PageNumber


@BROADCASTS.kind("aud")
@dataclass(frozen=True)
class AudienceScreen:
    pass


@BROADCASTS.kind("pv")
@dataclass(frozen=True)
class Preview:
    pass


@BROADCASTS.kind("go")
@dataclass(frozen=True)
class SendAsk:
    pass


@BROADCASTS.kind("now")
@dataclass(frozen=True)
class SendNow:
    pass


# ---- questions to coordinators, the coordinators' list -------------------------------------

HANDOVER = Codec("ho")
DESK = Codec("hd")  # under each copy of a question in the coordinators' chat
COORDINATORS = Codec("co")

TelegramUserId = Annotated[int, Range(1, 2**52 - 1)]


@HANDOVER.kind()
@dataclass(frozen=True)
class AskCoordinator:
    """A new question, or the open one."""


@HANDOVER.kind("reply")
@dataclass(frozen=True)
class ReplyToAnswer:
    """Under a coordinator's answer: write more to the open question."""


@DESK.kind("close")
@dataclass(frozen=True)
class CloseQuestion:
    thread: Id


@COORDINATORS.kind()
@dataclass(frozen=True)
class CoordinatorList:
    page: PageNumber | None = None


@COORDINATORS.kind("add")
@dataclass(frozen=True)
class AddCoordinator:
    pass


@COORDINATORS.kind("rm")
@dataclass(frozen=True)
class RemoveCoordinator:
    telegram_id: TelegramUserId


# ---- typed questions answered from the knowledge base --------------------------------------

FAQ = Codec("faq")


@FAQ.kind("e")
@dataclass(frozen=True)
class FaqEntryPress:
    """An entry's answer: a likely or related question pressed."""

    entry: str


@FAQ.kind("ask")
@dataclass(frozen=True)
class AskAbout:
    """The typed question (kept in the session) to a coordinator: asks to confirm."""


@FAQ.kind("send")
@dataclass(frozen=True)
class SendToCoordinator:
    """Confirmed: the typed question goes to the coordinators."""


@FAQ.kind("un")
@dataclass(frozen=True)
class Unanswered:
    """The coordinators' list of questions without a confident answer."""

    page: PageNumber | None = None
