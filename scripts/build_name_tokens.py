"""Write the word statistics of live PyPI names (``data/name_tokens.npz``) from the name
list (``../shared/data/pypi_names.tsv.gz``): in how many names each word occurs (words in
at least two names are kept) and, for each popular project, how many live names start or
end with it; and the piece counts bursts weigh (``data/name_pieces.npz``: in how many live
names each name's first and last 2-6 characters occur, ``detector/names/bursts.py``, and
how many hold each popular name glued at one end, ``detector/names/runs.py``).
Read by ``detector/names/lexicon.py`` (no pickle: plain arrays and a JSON
header). The shipped weights do not use these statistics yet (docs/names.md, "What the
forward figures chose"); the forward run builds its own from before its cut.

    python scripts/build_name_tokens.py [--shared ../shared] [--before 2023-01]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from detector.names import bursts
from detector.names import evaluation as ev
from detector.names import lexicon as lx
from detector.popular import shipped_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared"
    )
    parser.add_argument("--before", default="", help="only names last released before YYYY-MM")
    parser.add_argument("--out", type=Path, default=lx.SHIPPED_TOKENS)
    parser.add_argument("--pieces-out", type=Path, default=bursts.SHIPPED_PIECES)
    parser.add_argument("--only-pieces", action="store_true",
                        help="write only the piece counts (the shipped file)")
    args = parser.parse_args()
    print("reading the live names ...", flush=True)
    rows = ev.read_live(args.shared / "data" / "pypi_names.tsv.gz")
    names = [row.name for row in rows if not args.before or (row.month and row.month < args.before)]
    note = f"written by scripts/build_name_tokens.py from {len(names)} names" + (
        f" last released before {args.before}" if args.before else ""
    )
    stats = bursts.PieceCounts.build(names)
    stats.save(args.pieces_out, note)
    print(f"{len(stats.counts):,} pieces and {len(stats.glued):,} glued popular names written"
          f" to {args.pieces_out}", flush=True)
    if args.only_pieces:
        return
    print(f"counting words of {len(names):,} names ...", flush=True)
    total, tokens = lx.token_counts(names)
    popular = [name for name in shipped_corpus().ranks if len(name) >= 4]
    print(f"counting live names around {len(popular):,} popular names ...", flush=True)
    prefixes, suffixes = lx.brand_counts(names, popular)
    lx.save_tokens(args.out, total, tokens, prefixes, suffixes, note)
    kept = sum(1 for count in tokens.values() if count >= lx.MIN_TOKEN_NAMES)
    print(f"{kept:,} words, {len(prefixes):,} / {len(suffixes):,} brands written to {args.out}")


if __name__ == "__main__":
    main()
