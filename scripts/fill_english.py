"""English is the source language: after `pybabel update`, copy each new English msgid
into its empty msgstr so the English catalog is complete like the others."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po, write_po

PATH = Path(__file__).resolve().parent.parent / "locales" / "en" / "LC_MESSAGES" / "bot.po"


def main() -> None:
    with PATH.open("rb") as source:
        catalog = read_po(source, locale="en")
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            if not all(message.string):
                message.string = (message.id[0], message.id[1])
        elif not message.string:
            message.string = message.id
        message.flags.discard("fuzzy")
    with PATH.open("wb") as target:
        write_po(target, catalog, no_location=True, sort_output=True, width=100)


if __name__ == "__main__":
    main()
