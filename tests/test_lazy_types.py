"""aiogram's models built on first use (bot/channels/lazy_types.py) are the same models.

Each check runs in a fresh interpreter: one imports aiogram as it comes, the other after
`bot.channels` (which defers the building)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys
if sys.argv[1] == "lazy":
    import bot.channels  # noqa: F401
import aiogram
import aiogram.methods as methods
import aiogram.types as types
from aiogram.methods.base import Response, TelegramMethod
from pydantic.json_schema import GenerateJsonSchema


class Schema(GenerateJsonSchema):
    def handle_invalid_for_json_schema(self, schema, error_info):
        return {"not in JSON": error_info}  # an arbitrary class: named, compared alike

before = {
    "types built": sum(getattr(getattr(types, name), "__pydantic_complete__", False)
                       for name in types.__all__),
    "methods built": sum(getattr(getattr(methods, name), "__pydantic_complete__", False)
                         for name in methods.__all__
                         if name not in ("Request", "Response", "TelegramMethod")),
}
update = types.Update.model_validate_json(sys.stdin.read())
answer = Response[types.Message].model_validate(
    {"ok": True, "result": {"message_id": 5, "date": 0, "text": "Сәлем",
                            "chat": {"id": 7, "type": "private"}}})
schemas = {}
for name in types.__all__:
    model = getattr(types, name)
    if hasattr(model, "model_json_schema"):
        schemas[name] = model.model_json_schema(schema_generator=Schema)
for name in methods.__all__:
    model = getattr(methods, name)
    if isinstance(model, type) and issubclass(model, TelegramMethod):
        schemas[name] = model.model_json_schema(schema_generator=Schema)
sent = methods.SendMessage(chat_id=7, text="Сәлем",
                           reply_markup={"inline_keyboard": [[{"text": "Иә",
                                                               "callback_data": "y"}]]})
print(json.dumps({
    "before": before,
    "update": update.model_dump(mode="json", exclude_none=True),
    "answer": answer.result.model_dump(mode="json", exclude_none=True),
    "sent": sent.model_dump(mode="json", exclude_none=True, exclude={"parse_mode",
        "link_preview_options", "protect_content", "disable_web_page_preview"}),
    "schemas": schemas,
}, ensure_ascii=False, sort_keys=True, default=str))
"""

UPDATE = {"update_id": 9, "callback_query": {
    "id": "77", "chat_instance": "-1", "data": "prj:bereke",
    "from": {"id": 7, "is_bot": False, "first_name": "Айгүл", "language_code": "kk"},
    "message": {"message_id": 5, "date": 0, "text": "Жобалар",
                "chat": {"id": 7, "type": "private"},
                "reply_markup": {"inline_keyboard": [[{"text": "Береке",
                                                       "callback_data": "prj:bereke"}]]}}}}


def probe(mode: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=PROJECT,
                          input=json.dumps(UPDATE), capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def probes() -> dict[str, dict[str, object]]:
    return {mode: probe(mode) for mode in ("eager", "lazy")}


def test_nothing_is_built_at_import(probes: dict[str, dict[str, object]]) -> None:
    assert probes["lazy"]["before"] == {"types built": 0, "methods built": 0}
    eager = probes["eager"]["before"]
    assert isinstance(eager, dict) and eager["types built"] > 400  # what the import costs


def test_every_model_is_the_same_once_built(probes: dict[str, dict[str, object]]) -> None:
    lazy, eager = probes["lazy"]["schemas"], probes["eager"]["schemas"]
    assert isinstance(lazy, dict) and isinstance(eager, dict)
    assert len(lazy) > 550  # every type and every method
    assert lazy.keys() == eager.keys()
    different = [name for name in lazy if lazy[name] != eager[name]]
    assert different == []


def test_updates_and_answers_read_alike(probes: dict[str, dict[str, object]]) -> None:
    for part in ("update", "answer", "sent"):
        assert probes["lazy"][part] == probes["eager"][part], part
    update = probes["lazy"]["update"]
    assert isinstance(update, dict)
    assert update["callback_query"]["message"]["reply_markup"]["inline_keyboard"][0][0][
        "text"] == "Береке"
