"""Entity resolution speed: synthetic organizations -> resolve(), figures printed.

    .venv/bin/python bench/bench_entities.py [registered] [name_only]

Registered organizations get random Russian-looking names; name-only ones are Latin
transliterations or one-letter misspellings of them (half), or new names (half), so every
rule (registry, exact name, fuzzy) has work to do.
"""

from __future__ import annotations

import random
import resource
import sys
import time

from baseline import best, ratio

from survtrack.analysis.entities import Org, resolve

SYLLABLES = ["тех", "лаб", "ком", "сер", "вис", "рос", "теле", "инфо", "сист", "ема", "про",
             "гео", "мега", "поли", "нет", "вид", "ео", "кон", "тро", "ль", "тра", "нс", "ави"]
LATIN = {"т": "t", "е": "e", "х": "kh", "л": "l", "а": "a", "б": "b", "к": "k", "о": "o",
         "м": "m", "с": "s", "р": "r", "в": "v", "и": "i", "ф": "f", "п": "p", "г": "g",
         "н": "n", "д": "d", "ь": "", "у": "u", "я": "ya"}


def main(registered: int = 50_000, name_only: int = 20_000) -> None:
    rnd = random.Random(7)
    names = []
    orgs = []
    for i in range(registered):
        name = "".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(2, 5)))
        names.append(name)
        orgs.append(Org(f"RU-INN:{7700000000 + i}", f'ООО "{name.upper()}"', None, "RU-INN",
                        str(7700000000 + i), "RU"))
    for i in range(name_only):
        base = rnd.choice(names)
        kind = i % 4
        if kind == 0:
            name = "".join(LATIN.get(ch, ch) for ch in base).title() + " LLC"
        elif kind == 1 and len(base) > 10:
            pos = rnd.randrange(2, len(base) - 2)
            name = f"ООО «{base[:pos]}{'о' if base[pos] != 'о' else 'а'}{base[pos + 1:]}»"
        else:
            name = "".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(3, 6)))
        orgs.append(Org(f"name:bench:{i}", name, None, None, None, None))
    start = time.perf_counter()
    result = resolve(orgs)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"organizations: {len(orgs):,} ({registered:,} registered, {name_only:,} name-only)")
    print(f"entities: {len(result.entities):,}; merges: {dict(result.merges)};"
          f" ambiguous: {len(result.ambiguous):,}")
    print(f"resolve(): {seconds:.2f} s, {len(orgs) / seconds:,.0f} organizations/s,"
          f" peak RSS {peak:.0f} MiB")

    def bare() -> int:  # group by exact folded name: the dedupe with no resolution in it
        groups: dict[str, list[Org]] = {}
        for org in orgs:
            groups.setdefault(org.name.casefold(), []).append(org)
        return len(groups)

    ratio("resolve()", seconds, "grouping by folded name", best(bare))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
