"""aiogram's aiohttp session, sending requests without files as a JSON body.

aiogram sends every request as an HTML form, which percent-encodes each byte of a
Cyrillic text (three times its size on the wire, and the slowest part of a request).
The Bot API takes `application/json` as well, so a request without a file goes out as
compact UTF-8 JSON; one with a file still goes as multipart form data. The answer is
read and checked by aiogram exactly as before.

aiogram checks each answer with `Response[<the method's result type>]`. pydantic keeps
such parametrized classes only weakly, so after every garbage collection the next request
compiled the class again (tens of milliseconds for `Response[Message]`); this session
holds each one it has used.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, cast

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods.base import Response, TelegramMethod, TelegramType
from aiohttp import ClientError, ClientTimeout

if TYPE_CHECKING:
    from aiogram import Bot

_HEADERS = {"Content-Type": "application/json"}


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

    def json_body(self, bot: Bot, method: TelegramMethod[Any]) -> bytes | None:
        """The request as JSON bytes; None when it carries a file (multipart then)."""
        files: dict[str, Any] = {}
        fields = self.prepare_value(method.model_dump(warnings=False), bot=bot, files=files,
                                    _dumps_json=False)
        if files:
            return None
        # The form drops empty strings; so does the JSON body.
        body = {key: value for key, value in fields.items() if value != ""}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType],
                           timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
                           ) -> TelegramType:
        data = self.json_body(bot, method)
        if data is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(url, data=data, headers=_HEADERS,
                                    timeout=ClientTimeout(total=self.timeout if timeout is None
                                                          else timeout)) as response:
                raw_result = await response.text()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") \
                from error
        except ClientError as error:
            raise TelegramNetworkError(method=method,
                                       message=f"{type(error).__name__}: {error}") from error
        checked = self.check_response(bot=bot, method=method, status_code=response.status,
                                      content=raw_result)
        return cast(TelegramType, checked.result)

