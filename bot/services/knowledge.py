"""Typed questions matched to the knowledge base (bot/content/faq*.yaml), offline.

How it matches (the measurements and the reasons are in the README, "Typed questions"):

1. `fold` writes any text in one spelling: lower case, NFKC, the Kazakh letters folded
   to their nearest plain ones (қ→к, ү/ұ→у, і→и, ә→а, ө→о, ғ→г, ң→н, һ→х, ё→е), then
   Cyrillic written in Latin letters, and the Latin Kazakh alphabet and the common
   ways of typing Kazakh in Latin folded the same way (q→k, w→u, zh→j, ...), and the
   letters of tote (Kazakh in the Arabic script) to the same Latin ones, its hamza
   dropped as the Cyrillic soft letters lose their marks. So "kandas bolu ushin",
   "кандас болу үшін", "qandas bolu üşın" and "قانداس بولۋ ٴۇشىن" are one text, and a
   question typed in another language or script than the user's still meets its
   phrasings. Words people type for what the content writes another way (old names the
   glossary keeps out of the content, such as "оралман"; the other language's name of
   an office, "ХҚКО" for "ЦОН") are read with the content's term too (`Synonyms`,
   bot/content/faq.synonyms.yaml), in the phrasings and the questions alike.
2. Every phrasing of every entry (the examples and the short question of each
   language, and the answer with a lower weight) is one small document of features:
   the character 3-grams of its words (with the word's edges, which cope with Kazakh
   and Russian endings and with typos) and each word's first five letters (its stem).
   Features are weighted by TF-IDF, the IDF counted over entries, not phrasings.
3. Question words, particles and pronouns count for 0.3. A question's lexical
   score for an entry is 0.3 of the best cosine similarity between the question and
   one of the entry's phrasings, 0.7 of its cosine with the entry's phrasings pooled,
   that cosine's length normalisation pivoted a little towards the mean entry's, so
   that an entry with many phrasings is not held back by their number (0..1).
   Words only, every score is then multiplied by how much of the question the best
   entry holds (the share of its words, by their stems' IDF, that the entry's phrasings
   have, to `COVERAGE_POWER`): the ranking stays, and a question that shares one word
   with an entry and is about something else is less sure.
   A question typed as one of an entry's phrasings (in the one spelling of `fold`) is
   that entry's, score 1, unless the phrasing belongs to two entries. The best entry
   is answered when its score reaches `CONFIDENT`; entries from
   `OFFERED` up are offered as likely questions; below `OFFERED` the text is
   off-topic. Each text of bot/content/faq.outside.yaml (subjects the base does not
   answer: the weather, prices, other countries' visas...) is an entry of its own under
   an id beginning with `OUTSIDE`; a question whose best match is one of them is
   off-topic whatever its score (`decide`).
4. With `FAQ_SENTENCE_MODEL` on, a meaning score is added (bot/services/meaning.py:
   sentence vectors of a multilingual model): `LEXICAL_SHARE` of the lexical score plus
   the rest of the meaning one, against `MEANING_CONFIDENT` and `MEANING_OFFERED`.
   It answers more questions right and keeps more off-topic text apart, and costs
   about 100 MB of memory and some 10 ms a question (README, "Typed questions").

Every number here was chosen by `python -m bench.faq --tune` on the evaluation set
(tests/fixtures/faq_eval/). The index is built once per content and answers in a few
milliseconds; it holds its postings in typed arrays.
"""

from __future__ import annotations

import math
import re
import unicodedata
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import LANGUAGES

if TYPE_CHECKING:
    from bot.content import Content
    from bot.services.meaning import Meaning

# Chosen by `python -m bench.faq --tune` on tests/fixtures/faq_eval/*.yaml: the score
# that best separates questions answered right from off-topic ones (the smaller of the
# two shares as high as it goes), and the lowest score still worth offering as a likely
# question (the share of the texts the offers serve, a question with its entry among
# them or an off-topic text offered nothing, as high as it goes).
CONFIDENT = 0.1
OFFERED = 0.06
# With the sentence model: the share of the lexical score in an entry's score (the rest
# is the meaning's), and the two thresholds for that score, chosen the same way.
LEXICAL_SHARE = 0.7
# The sentence vectors' cosine under which two texts count as unrelated.
MEANING_FLOOR = 0.85
MEANING_CONFIDENT = 0.28
MEANING_OFFERED = 0.2
# The ids under which the index holds the subjects of faq.outside.yaml (what the base
# does not answer) begin with this. A question whose best match is one of them is not
# answered and offered nothing.
OUTSIDE = "~outside:"
# At most this many likely questions are offered.
OFFER_COUNT = 3
# The answer's own words count for less than the phrasings people type.
ANSWER_WEIGHT = 0.5
# A feature that weighs less than this share of its phrasing's vector (one found in
# nearly every entry) is left out of the index: it changes no ranking and costs time.
MIN_WEIGHT = 0.03
# The same for an entry's pooled vector, which has many more features: only the ones
# that weigh are kept, so that a question is still answered in a few milliseconds. The
# floor is low: with hundreds of features each weighs little, and at 0.06 it dropped
# the rarer words that tell neighbouring entries apart (Kazakh top-1 6 points lower).
MIN_POOLED_WEIGHT = 0.01
STEM = 5
# A typed word that begins with a synonym of faq.synonyms.yaml this long or longer is
# read as its term, its ending dropped ("оралмандар"); a shorter one only as a whole
# word ("цон", not "contact" for "con").
SYNONYM_PREFIX = 5
# A question's features with an IDF below this are not looked up (see `parts`).
QUERY_IDF_FLOOR = 0.4
# A question's score for an entry: this share of its best phrasing's cosine, the rest
# the cosine with the entry as one document (every word of its phrasings pooled), which
# meets a question that takes its words from several phrasings. The pooled vector, with
# its rarer features kept, tells entries apart better than any one phrasing: 0.7.
POOLED_SHARE = 0.7
# An entry's pooled vector is long when it has many phrasings, and a cosine with it is
# then low for any question: its score is divided by its length to the power 1 - this
# and by the mean length of the entries' pooled vectors to this power (pivoted length
# normalisation), which lifts the entries with many phrasings a little against those
# with few. The texts about what the base does not answer keep the plain cosine. 0.1 and
# 0.15 reach the same goal on the tuning set (0 a little less), 0.15 one more English
# question right; 0.2 reached more there but answered a held-out Russian question no
# more, 0.25 and up let more English off-topic text through.
POOLED_PIVOT = 0.15
# Words only: every entry's score is multiplied by the share of the question's words
# (by their stems' IDF) that the best entry's phrasings hold, to this power, and not by
# less than this floor to it: a question one shared word ties to an entry ("turkish
# citizenship", "train tickets") is less sure, its ranking unchanged. Chosen with the
# thresholds on the tuning set: 0.6 and 0.7 reach the same goal (0.7 a little higher
# sum), 0.5, 0.75 and 0.9 less.
COVERAGE_POWER = 0.7
COVERAGE_MIN = 0.05
# Question words, particles and pronouns: they say what kind of question it is, not what
# it is about, and count for this much (folded spellings: "кім", "кто" and "who" alike;
# "please" in the three languages too). 0.2 answered a question or two fewer.
STOP_WEIGHT = 0.3
_STOP_WORDS = """
    a an the is are am be do does did i me my we our you your to of for in on at it can
    what who how when where which why much many will would should could get there this
    that pls please so with about any have has need want whats its im dont not or and
    if as by from too also then just now
    кім не қалай қашан қайда қанша қандай неге ма ме ба бе па пе мен біз сіз сен ол бұл
    осы менің біздің сіздің керек бар ғой ғана да де та те ше және немесе үшін бола
    мүмкін мені маған сізге өтінемін
    кто что как когда где какой какая какие сколько почему ли я мы вы мой наш ваш это
    на в во с и а у о по за до от для мне нам можно нужно надо есть меня тоже вообще же
    бы или если то так уже еще будет быть пожалуйста плиз пжл
    """

# Kazakh letters to their nearest plain ones, ё to е; then Cyrillic to Latin (ц as ts,
# as the 2021 alphabet and tote, تس, write it).
_KAZAKH = str.maketrans({"қ": "к", "ғ": "г", "ң": "н", "ө": "о", "ә": "а", "ү": "у", "ұ": "у",
                         "і": "и", "һ": "х", "ё": "е"})
_LATIN = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "j", "з": "z",
    "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch",
    "ш": "sh", "щ": "sh", "ъ": "", "ы": "i", "ь": "", "э": "e", "ю": "iu", "я": "ia",
    # Latin Kazakh (2021 alphabet and older ones) and how Kazakh is typed in Latin
    "ä": "a", "ğ": "g", "ı": "i", "ñ": "n", "ö": "o", "ş": "sh", "ū": "u", "ü": "u",
    "ç": "ch", "q": "k", "w": "u", "y": "i", "x": "h",
    # Tote: its letters (after NFKC, which splits ٵ ٶ ٷ ٸ into a letter and the hamza)
    "ا": "a", "ب": "b", "ۆ": "v", "گ": "g", "ع": "g", "د": "d", "ە": "e", "ه": "e",
    "ج": "j", "ز": "z", "ي": "i", "ك": "k", "ق": "k", "ل": "l", "م": "m", "ن": "n",
    "ڭ": "n", "و": "o", "پ": "p", "ر": "r", "س": "s", "ت": "t", "ۋ": "u", "ۇ": "u",
    "ف": "f", "ح": "h", "ھ": "h", "چ": "ch", "ش": "sh", "ى": "i", "ی": "i", "ٴ": "",
    "ء": "", "٠": "0", "١": "1", "٢": "2", "٣": "3", "٤": "4", "٥": "5", "٦": "6",
    "٧": "7", "٨": "8", "٩": "9",
})
_DIGRAPHS = (("zh", "j"), ("kh", "h"))
_WORD = re.compile(r"[a-z0-9]+")
_REPEATS = re.compile(r"(.)\1+")


def fold(text: str) -> str:
    """The one spelling matching compares (see the module's doc)."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_KAZAKH).translate(_LATIN)
    # Any other accent (é, ñ written as n + ~) goes; letters of other scripts stay out.
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(ch))
    for digraph, letter in _DIGRAPHS:
        text = text.replace(digraph, letter)
    return " ".join(_REPEATS.sub(r"\1", word) for word in _WORD.findall(text))


def _idf(entries: int, total: int) -> float:
    """Okapi BM25's IDF (never below zero): near zero for a feature of every entry."""
    return math.log(1 + (total - entries + 0.5) / (entries + 0.5))


class Synonyms:
    """Words people type for the content's terms (faq.synonyms.yaml: "оралман" for
    "кандас"), compared in the one spelling of `fold`."""

    def __init__(self, terms: Mapping[str, Iterable[str]] | None = None) -> None:
        self._terms: dict[str, tuple[str, ...]] = {}
        for term, words in (terms or {}).items():
            for word in words:
                self._terms[fold(word)] = tuple(fold(term).split())
        self._lengths = sorted({len(word) for word in self._terms
                                if len(word) >= SYNONYM_PREFIX}, reverse=True)
        self.key = tuple(sorted(self._terms.items()))

    def read(self, words: list[str]) -> list[str]:
        """`words` (folded), each synonym followed by its term's words (the typed word
        stays: "оралман" also asks about the word itself)."""
        if not self._terms:
            return words
        read: list[str] = []
        for word in words:
            term = self._term(word)
            read += [word] if term is None else [word, *term]
        return read

    def _term(self, word: str) -> tuple[str, ...] | None:
        """The term of a synonym typed whole, or with an ending after one of at least
        `SYNONYM_PREFIX` letters."""
        if word in self._terms:
            return self._terms[word]
        return next((self._terms[word[:length]] for length in self._lengths
                     if len(word) > length and word[:length] in self._terms), None)

    @classmethod
    def of(cls, content: Content) -> Synonyms:
        return cls(content.faq.synonyms)


def features(text: str, synonyms: Synonyms | None = None) -> dict[str, float]:
    """The features of a text, weighted: its words' character 3-grams and stems (each
    synonym read as its term)."""
    found: dict[str, float] = defaultdict(float)
    words = fold(text).split()
    for word in synonyms.read(words) if synonyms is not None else words:
        weight = STOP_WEIGHT if word in STOP_WORDS else 1.0
        for feature in _word_features(word):
            found[feature] += weight
    return found


def _word_features(word: str) -> list[str]:
    marked = f"<{word}>"
    return [*(marked[i:i + 3] for i in range(len(marked) - 2)), "~" + word[:STEM]]


@dataclass(frozen=True)
class Match:
    entry_id: str
    score: float


@dataclass(frozen=True)
class Answer:
    confident: bool  # the best match passes the threshold chosen from the evaluation set
    matches: list[Match]  # best first, at most 3, only those worth offering


_CACHE: dict[tuple[tuple[tuple[str, str, float], ...], bool, object], KnowledgeBase] = {}
# The index last given out for a content's knowledge base (the same object: no need to
# compare its phrasings at every question).
_LAST: dict[bool, tuple[object, KnowledgeBase]] = {}


class KnowledgeBase:
    """The index of every language's phrasings of every entry."""

    def __init__(self, phrases: Iterable[tuple[str, str, float]], *, meaning: bool = False,
                 synonyms: Synonyms | None = None) -> None:
        """`phrases`: (entry id, text, weight); an entry has as many as it likes.
        `meaning`: add the sentence model's score (FAQ_SENTENCE_MODEL). `synonyms`: the
        words read as the content's terms, in the phrasings and the questions."""
        self._synonyms = synonyms
        # Built with the features as numbers and each phrasing's vector in two typed
        # arrays, one phrasing at a time: the temporaries of the build stay small (a dict
        # per phrasing would be most of the memory the typed questions add).
        numbers: dict[str, int] = {}
        vocabulary: dict[str, int] = {}
        documents: list[tuple[int, array[int], array[float], float]] = []
        typed_texts: list[tuple[int, str]] = []
        # A phrasing people type (not an answer), by the hash of its one spelling: the
        # entry it belongs to, or -1 when it belongs to more than one.
        self._typed: dict[int, int] = {}
        self.entry_ids: list[str] = []
        for entry_id, text, weight in phrases:
            found = features(text, synonyms)
            if not found:
                continue
            number = numbers.setdefault(entry_id, len(numbers))
            if number == len(self.entry_ids):
                self.entry_ids.append(entry_id)
            documents.append((number,
                              array("I", (vocabulary.setdefault(feature, len(vocabulary))
                                          for feature in found)),
                              array("f", found.values()), weight))
            if weight == 1.0:  # a phrasing people type, not an answer
                key = hash(fold(text))
                self._typed[key] = number if self._typed.get(key, number) == number else -1
                if meaning:
                    typed_texts.append((number, text))
        documents.sort(key=lambda document: document[0])  # an entry's phrasings together
        entries_with = array("I", bytes(4 * len(vocabulary)))
        last_entry = array("i", [-1]) * len(vocabulary)
        for number, found_ids, _counts, _weight in documents:
            for feature in found_ids:
                if last_entry[feature] != number:
                    last_entry[feature] = number
                    entries_with[feature] += 1
        total = max(1, len(self.entry_ids))
        self._unseen = _idf(0, total)  # a feature no entry has
        idf = array("d", (_idf(entries, total) for entries in entries_with))
        names = list(vocabulary)
        self._idf = {name: idf[feature] for name, feature in vocabulary.items()}
        del vocabulary, entries_with, last_entry
        self._owner = array("I", (document[0] for document in documents))
        self._postings = self._index(((ids, counts, weight)
                                      for _number, ids, counts, weight in documents),
                                     idf, names, MIN_WEIGHT)
        pooled = list(_pooled(documents))
        lengths = [_length(found, counts, idf) for found, counts, _weight in pooled]
        real = [length for number, length in enumerate(lengths)
                if not self.entry_ids[number].startswith(OUTSIDE)]
        mean = sum(real) / len(real) if real else 1.0
        self._pooled = self._index(
            ((found, counts, 1.0 if self.entry_ids[number].startswith(OUTSIDE)
              else (lengths[number] / mean) ** POOLED_PIVOT)
             for number, (found, counts, _weight) in enumerate(pooled)),
            idf, names, MIN_POOLED_WEIGHT)
        self._meaning: Meaning | None = None
        self.confident, self.offered = CONFIDENT, OFFERED
        if meaning:
            from bot.services.meaning import Meaning  # numpy and the model only when used

            self._meaning = Meaning(typed_texts)
            self.confident, self.offered = MEANING_CONFIDENT, MEANING_OFFERED

    @staticmethod
    def _index(vectors: Iterable[tuple[array[int], array[float], float]], idf: array[float],
               names: list[str], floor: float
               ) -> dict[str, tuple[array[int], array[float]]]:
        """Postings of TF-IDF vectors (features by number, with their counts), each of
        unit length times its weight."""
        postings: dict[int, tuple[array[int], array[float]]] = {}
        for document, (found, counts, weight) in enumerate(vectors):
            values = [count * idf[feature] for feature, count in zip(found, counts,
                                                                      strict=True)]
            norm = _length(found, counts, idf)
            for feature, value in zip(found, values, strict=True):
                if value >= floor * norm:
                    posting = postings.get(feature)
                    if posting is None:
                        posting = postings[feature] = (array("I"), array("f"))
                    posting[0].append(document)
                    posting[1].append(weight * value / norm)
        return {names[feature]: posting for feature, posting in postings.items()}

    @classmethod
    def build(cls, content: Content, *, meaning: bool = False) -> KnowledgeBase:
        """Every language's examples and questions, and the answers' words."""
        return cls(list(phrases(content)), meaning=meaning, synonyms=Synonyms.of(content))

    @classmethod
    def of(cls, content: Content, *, meaning: bool = False) -> KnowledgeBase:
        """The index of this content, built on first use and kept for the same phrases
        (the content is fixed while the bot runs; the same files loaded again find it
        built)."""
        last = _LAST.get(meaning)
        if last is not None and last[0] is content.faq:  # the running bot's one content
            return last[1]
        synonyms = Synonyms.of(content)
        key = (tuple(phrases(content)), meaning, synonyms.key)
        held = _CACHE.get(key)
        if held is None:
            held = cls(list(key[0]), meaning=meaning, synonyms=synonyms)
            _CACHE.clear()
            _CACHE[key] = held
        _LAST[meaning] = (content.faq, held)
        return held

    def ranked(self, text: str) -> list[Match]:
        """Every entry the text shares a feature with (or, with the sentence model, means
        something like), best first."""
        lexical, cosines = self.parts(text)
        if self._meaning is not None:
            lexical = blend(lexical, cosines, LEXICAL_SHARE, MEANING_FLOOR)
        ranked = sorted(lexical.items(), key=lambda item: -item[1])
        return [Match(self.entry_ids[entry], score) for entry, score in ranked]

    def parts(self, text: str) -> tuple[dict[int, float], list[tuple[int, float]]]:
        """The lexical score (0..1) of every entry the text shares a feature with, and
        with the sentence model every entry's best cosine; by entry number."""
        found = features(text, self._synonyms)
        query: dict[str, float] = {}
        for feature, count in found.items():
            query[feature] = count * self._idf.get(feature, self._unseen)
        norm = math.sqrt(sum(value * value for value in query.values()))
        if not norm:
            return {}, []
        # The features found in most entries add little to any score and walk the
        # longest postings: the question's vector keeps its length, not their walk.
        query = {feature: value for feature, value in query.items()
                 if self._idf.get(feature, self._unseen) >= QUERY_IDF_FLOOR}
        best: dict[int, float] = defaultdict(float)
        owner = self._owner
        for document, score in _dot(query, self._postings).items():
            entry = owner[document]
            best[entry] = max(best[entry], (1 - POOLED_SHARE) * score)
        for entry, score in _dot(query, self._pooled).items():
            best[entry] += POOLED_SHARE * score
        lexical = {entry: min(1.0, score / norm) for entry, score in best.items()}
        if self._meaning is None and lexical:
            # How much of the question the best entry accounts for scales every score
            # alike: the ranking stays, the confidence falls when one shared word
            # ("citizenship", "tickets") carries an entry and the rest of the question
            # is about something else.
            top = max((entry for entry in lexical
                       if not self.entry_ids[entry].startswith(OUTSIDE)),
                      key=lexical.__getitem__, default=None)
            if top is not None:
                share = max(COVERAGE_MIN, self.coverage(text, top)) ** COVERAGE_POWER
                lexical = {entry: score * share for entry, score in lexical.items()}
        typed = self._typed.get(hash(fold(text)), -1)
        if typed >= 0:  # typed as one of the entry's phrasings: that entry, for sure
            lexical[typed] = 1.0
        return lexical, [] if self._meaning is None else self._meaning.cosines(text)

    def coverage(self, text: str, entry: int) -> float:
        """The share of the text's words (not question words or particles), each
        weighed by its stem's IDF, whose stem the entry's phrasings hold; a word found
        nowhere counts with the largest IDF."""
        words = fold(text).split()
        if self._synonyms is not None:
            words = self._synonyms.read(words)
        total = held = 0.0
        for word in (word for word in words if word not in STOP_WORDS):
            stem = _word_features(word)[-1]
            weight = self._idf.get(stem, self._unseen)
            total += weight
            posting = self._pooled.get(stem)
            if posting is not None and entry in posting[0]:
                held += weight
        return held / total if total else 1.0

    def ask(self, text: str) -> Answer:
        """The entries a question typed in any of the languages matches."""
        return decide(self.ranked(text), self.confident, self.offered)


def decide(ranked: list[Match], confident: float, offered: float) -> Answer:
    """What a ranking (best first) comes to with these thresholds: nothing when text
    about what the base does not answer ranks first."""
    if ranked and ranked[0].entry_id.startswith(OUTSIDE):
        return Answer(confident=False, matches=[])
    worth = [match for match in ranked if not match.entry_id.startswith(OUTSIDE)][:OFFER_COUNT]
    worth = [match for match in worth if match.score >= offered]
    return Answer(confident=bool(worth) and worth[0].score >= confident, matches=worth)


def blend(lexical: dict[int, float], cosines: Iterable[tuple[int, float]], share: float,
          floor: float) -> dict[int, float]:
    """`share` of the lexical score plus the rest of the meaning one: the part of the
    cosine above `floor`, stretched to 0..1."""
    scores = {entry: share * score for entry, score in lexical.items()}
    for entry, cosine in cosines:
        if cosine > floor:
            scores[entry] = scores.get(entry, 0.0) + (1 - share) * min(
                1.0, (cosine - floor) / (1 - floor))
    return scores


def _length(found: array[int], counts: array[float], idf: array[float]) -> float:
    """The length of a TF-IDF vector (1 for an empty one)."""
    return math.sqrt(sum((count * idf[feature]) ** 2
                         for feature, count in zip(found, counts, strict=True))) or 1.0


def _pooled(documents: list[tuple[int, array[int], array[float], float]]
            ) -> Iterator[tuple[array[int], array[float], float]]:
    """Each entry as one document (its phrasings in order of entry): every feature of
    its phrasings, at its largest weighted count."""
    pooled: dict[int, float] = {}
    current = documents[0][0] if documents else 0
    for number, found, counts, weight in documents:
        if number != current:
            yield array("I", pooled), array("f", pooled.values()), 1.0
            pooled, current = {}, number
        for feature, count in zip(found, counts, strict=True):
            pooled[feature] = max(pooled.get(feature, 0.0), weight * count)
    if documents:
        yield array("I", pooled), array("f", pooled.values()), 1.0


def _dot(query: dict[str, float], postings: dict[str, tuple[array[int], array[float]]]
         ) -> dict[int, float]:
    scores: dict[int, float] = defaultdict(float)
    for feature, value in query.items():
        posting = postings.get(feature)
        if posting is None:
            continue
        documents, weights = posting
        for document, weight in zip(documents, weights, strict=True):
            scores[document] += value * weight
    return scores


STOP_WORDS = frozenset(fold(word) for word in _STOP_WORDS.split())

def phrases(content: Content) -> Iterator[tuple[str, str, float]]:
    """(entry id, text, weight) of every phrasing the index holds: the source languages'
    (Kazakh in Latin or tote folds to the same spelling as its Cyrillic), and the texts
    of faq.outside.yaml under `OUTSIDE`."""
    for language in LANGUAGES:
        for entry_id, words in content.faq.texts[language].items():
            for example in (words.question, *words.examples):
                yield entry_id, example, 1.0
            yield entry_id, words.answer, ANSWER_WEIGHT
        for subject, texts in content.faq.outside.items():
            for number, text in enumerate(texts[language]):
                yield f"{OUTSIDE}{subject}:{number}", text, 1.0
