"""Prometheus metrics, shared by every channel."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

UPDATES = Counter("bot_updates_total", "Updates handled", ["channel", "kind"])
REPLIES = Counter("bot_replies_total", "Messages sent to users", ["channel"])
ERRORS = Counter("bot_errors_total", "Errors while handling or sending", ["channel", "where"])
HANDLING = Histogram(
    "bot_handling_seconds",
    "Time from receiving an update to having the replies ready",
    ["channel"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
RATE_DROPPED = Counter("bot_rate_turns_dropped_total",
                       "Shared rate-limit turns dropped as too old to use", ["limit"])
USERS = Gauge("bot_users", "Known users per channel", ["channel"])
