"""Build the WordNet part of the contrast lexicon (core/tiered_cache/rules/contrast_pairs.txt).

    apt-get install -y wordnet-base          # WordNet 3.0 under /usr/share/wordnet
    python -m training.build_contrast        # rewrites the [wordnet] section only

Reads the direct antonym pointers ("!") of adjectives, verbs, nouns and adverbs: lexical
pointers between two lemmas, so "hot"/"cold" but not every satellite of "hot". Keeps single
lowercase alphabetic lemmas of 2+ letters; a pair is written once (sorted). The curated sections
of the file (boundaries, times, qualifiers, ...) are kept as they are.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
LEXICON = (
    Path(__file__).resolve().parent.parent
    / "core"
    / "tiered_cache"
    / "rules"
    / "contrast_pairs.txt"
)
POS_FILES = ("data.adj", "data.verb", "data.noun", "data.adv")
_WORD = re.compile(r"^[a-z]{2,}$")
HEADER = "[wordnet]"
LICENCE = """\
# WordNet 3.0 direct antonyms (lemma pairs), derived by training/build_contrast.py.
# WordNet Release 3.0 This software and database is being provided to you, the LICENSEE, by
# Princeton University under the following license. By obtaining, using and/or copying this
# software and database, you agree that you have read, understood, and will comply with these
# terms and conditions.: Permission to use, copy, modify and distribute this software and
# database and its documentation for any purpose and without fee or royalty is hereby granted,
# provided that you agree to comply with the following copyright notice and statements,
# including the disclaimer, and that the same appear on ALL copies of the software, database
# and documentation, including modifications that you make for internal use or for
# distribution. WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
# THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO
# REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. BY WAY OF EXAMPLE, BUT NOT LIMITATION,
# PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES OF MERCHANT- ABILITY OR FITNESS
# FOR ANY PARTICULAR PURPOSE OR THAT THE USE OF THE LICENSED SOFTWARE, DATABASE OR
# DOCUMENTATION WILL NOT INFRINGE ANY THIRD PARTY PATENTS, COPYRIGHTS, TRADEMARKS OR OTHER
# RIGHTS. The name of Princeton University or Princeton may not be used in advertising or
# publicity pertaining to distribution of the software and/or database. Title to copyright in
# this software, database and any associated documentation shall at all times remain with
# Princeton University and LICENSEE agrees to preserve same.
"""


def _synsets(path: Path) -> dict[str, list[str]]:
    """offset -> lemmas (lowercase, adjective markers like "(a)" removed)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        parts = line.split()
        count = int(parts[3], 16)
        out[parts[0]] = [re.sub(r"\(.*\)$", "", parts[4 + 2 * i]).lower() for i in range(count)]
    return out


def antonyms(root: Path = WORDNET) -> set[tuple[str, str]]:
    """Direct antonym lemma pairs of all four parts of speech."""
    pairs: set[tuple[str, str]] = set()
    lemmas = {name: _synsets(root / name) for name in POS_FILES}
    for name in POS_FILES:
        path = root / name
        synsets = lemmas[name]
        for line in path.read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue
            parts = line.split()
            count = int(parts[3], 16)
            at = 4 + 2 * count
            pointers = int(parts[at])
            for p in range(pointers):
                symbol, offset, pos, st = parts[at + 1 + 4 * p : at + 5 + 4 * p]
                if symbol != "!":
                    continue
                src, dst = int(st[:2], 16), int(st[2:], 16)
                target_file = {"a": "data.adj", "s": "data.adj", "v": "data.verb",
                               "n": "data.noun", "r": "data.adv"}[pos]  # fmt: skip
                targets = lemmas[target_file]
                if offset not in targets or not src or not dst:
                    continue
                a = synsets[parts[0]][src - 1]
                b = targets[offset][dst - 1]
                if a != b and _WORD.match(a) and _WORD.match(b):
                    pairs.add((min(a, b), max(a, b)))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wordnet", type=Path, default=WORDNET)
    parser.add_argument("--out", type=Path, default=LEXICON)
    args = parser.parse_args()
    pairs = sorted(antonyms(args.wordnet))
    text = args.out.read_text() if args.out.exists() else ""
    marker = f"\n{HEADER}\n"
    curated = text.split(marker)[0].rstrip() + "\n\n" if marker in text else text
    body = "\n".join(f"{a} {b}" for a, b in pairs)
    args.out.write_text(f"{curated}{HEADER}\n{LICENCE}{body}\n")
    print(f"{len(pairs)} WordNet antonym pairs -> {args.out}")


if __name__ == "__main__":
    main()
