#!/usr/bin/env python
"""After a benchmark rerun: set every quoted number in the README, the docs and the notebooks' Markdown to what its
results file says now, and paste every pasted block again (conventions: docs/quoting.md).

    .venv/bin/python scripts/refresh_quotes.py            # rewrite the pages, list each change
    .venv/bin/python scripts/refresh_quotes.py --check    # change nothing; exit 1 when a quote is stale

A quote it cannot refresh (its source cannot be read, or the text before it does not look like the value) is listed
for a person to edit; the exit status is then 1. Read the changes before committing: a number that moved may need
the sentence around it rewritten.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emo_utils.quotes import quoting_pages, refresh_page

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only list what is stale; change no file")
    args = parser.parse_args()
    changed, left = [], []
    for page in quoting_pages(ROOT):
        page_changes, page_left = refresh_page(page, ROOT, write=not args.check)
        changed += page_changes
        left += page_left
    for line in changed:
        print(("stale: " if args.check else "set: ") + line)
    for mismatch in left:
        print(f"by hand: {mismatch}")
    print(f"{len(changed)} quote(s) {'stale' if args.check else 'refreshed'}, {len(left)} left to edit by hand")
    return 1 if left or (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
