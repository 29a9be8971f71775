"""The words for the codes the dashboard shows: statuses, verdicts, delivery results,
channels, and the changes of the audit log."""

from __future__ import annotations

from bot.core.i18n import Translator


def words(t: Translator) -> dict[str, str]:
    return {
        # a forum's status, in the bot's words (handlers/forum_admin.py)
        "forum.draft": t._("draft"), "forum.published": t._("open"),
        "forum.closed": t._("registration closed"), "forum.cancelled": t._("cancelled"),
        # announcements, questions, registrations
        "draft": t._("draft"), "closed": t._("closed"),
        "cancelled": t._("cancelled"), "scheduled": t._("scheduled"),
        "sending": t._("sending"), "done": t._("done"), "open": t._("open"),
        "confirmed": t._("registered"), "registered": t._("registered"),
        "waiting": t._("waiting list"), "checked_in": t._("arrived"),
        # verdicts
        "eligible": t._("eligible"), "needs_checking": t._("needs checking"),
        "not_eligible": t._("not eligible"),
        # deliveries
        "sent": t._("sent"), "delivered": t._("delivered"), "read": t._("read"),
        "failed": t._("failed"), "blocked": t._("blocked"),
        # channels and the rest of a chart
        "telegram": "Telegram", "whatsapp": "WhatsApp", "console": t._("terminal"),
        "other": t._("other"), "?": t._("unknown"),
        # the audit log
        "forum.create": t._("created a forum"), "forum.edit": t._("changed a forum"),
        "forum.publish": t._("published a forum"), "forum.close": t._("closed registration"),
        "forum.cancel": t._("cancelled a forum"),
        "registration.check_in": t._("checked an attendee in"),
        "broadcast.create": t._("wrote an announcement"),
        "broadcast.schedule": t._("scheduled an announcement"),
        "broadcast.cancel": t._("cancelled an announcement"),
        "question.answer": t._("answered a question"),
        "question.assign": t._("assigned a question"),
        "question.close": t._("closed a question"),
        "coordinator.add": t._("added a coordinator"),
        "coordinator.remove": t._("removed a coordinator"),
    }
