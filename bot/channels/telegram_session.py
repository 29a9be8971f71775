"""aiogram's aiohttp session, with the answer classes it has used kept alive.

Requests go out exactly as aiogram builds them. aiogram checks each answer with
`Response[<the method's result type>]`, a parametrized pydantic generic. pydantic keeps
those classes in a weak cache (`WeakValueDictionary`), and aiogram holds no reference
to them either, so after every garbage collection a bare bot compiles
`Response[Message]` again on its next request (tens of milliseconds of CPU, and spikes
in the reply time). This session holds each answer class it has seen, so each one is
compiled once per process. It uses only aiogram's public `check_response` and the class
of the answer it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods.base import Response, TelegramMethod, TelegramType

if TYPE_CHECKING:
    from aiogram import Bot


class BotApiSession(AiohttpSession):
    # Every `Response[T]` class an answer came in so far, shared by all sessions of the
    # process: a few dozen at most, one per result type of the methods the bot calls.
    kept_responses: ClassVar[set[type[Response[Any]]]] = set()

    def check_response(self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int,
                       content: str) -> Response[TelegramType]:
        response = super().check_response(bot=bot, method=method, status_code=status_code,
                                          content=content)
        self.kept_responses.add(type(response))
        return response
