#!/usr/bin/env python3
"""Replaces the generated text of a markdown file: everything between the
lines `<!-- NAME:begin -->` and `<!-- NAME:end -->` (the markers stay).

usage: python3 bench/md_block.py FILE.md NAME < TEXT
bench/report.sh writes docs/performance.md's blocks through it."""
import sys


def replace(path, name, text):
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    md = open(path).read()
    if md.count(begin) != 1 or md.count(end) != 1 or md.index(begin) > md.index(end):
        sys.exit(f"md_block: {path} needs one '{begin}' and one '{end}' after it")
    a, b = md.index(begin) + len(begin), md.index(end)
    open(path, "w").write(md[:a] + "\n" + text.rstrip("\n") + "\n" + md[b:])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    replace(sys.argv[1], sys.argv[2], sys.stdin.read())
