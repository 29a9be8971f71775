"""aiogram's aiohttp session, sending requests without files as a JSON body.

aiogram sends every request as an HTML form, which percent-encodes each byte of a
Cyrillic text (three times its size on the wire, and the slowest part of a request).
The Bot API takes `application/json` as well, so a request without a file goes out as
compact UTF-8 JSON; one with a file still goes as multipart form data. Only the body
changes: aiogram sends the request and reads and checks the answer as before.

aiogram checks each answer with `Response[<the method's result type>]`. pydantic keeps
such parametrized classes only weakly, so after every garbage collection the next request
compiled the class again (tens of milliseconds for `Response[Message]`); this session
holds each one it has used.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods.base import Response, TelegramMethod, TelegramType
from aiohttp.payload import BytesPayload

if TYPE_CHECKING:
    from aiogram import Bot


class JsonBodySession(AiohttpSession):
    # Response[T] for every result type T used so far, kept alive (see above).
    _responses: ClassVar[dict[Any, type[Response[Any]]]] = {}

    def check_response(self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int,
                       content: str) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self._responses:
            self._responses[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot=bot, method=method, status_code=status_code,
                                      content=content)

    def build_form_data(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        """The request body: compact UTF-8 JSON, or aiogram's multipart form when the
        request carries a file."""
        files: dict[str, Any] = {}
        fields = self.prepare_value(method.model_dump(warnings=False), bot=bot, files=files,
                                    _dumps_json=False)
        if files:
            return super().build_form_data(bot, method)
        # The form drops empty strings; so does the JSON body.
        body = {key: value for key, value in fields.items() if value != ""}
        return BytesPayload(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                            content_type="application/json")
