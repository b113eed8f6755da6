#!/usr/bin/python3
"""make-sample.py HELDOUT.tsv OUT.tsv [--per-lang N]: picks the committed
held-out sample (tests/bundled/heldout.tsv) from make-parallel's heldout.tsv.

Short interface strings (English of 2 to 40 characters, the other side at
most 60) in plain words, one per English text, in the order of a hash of the English text
so that the pick does not depend on the catalogue's order; N per language
[20]. heldout.tsv is the split that training never sees."""
import argparse
import hashlib
import re
import sys

# Words, spaces and light punctuation only: no formulas, placeholders or
# markup, which the pipeline protects and which say little about a model.
PLAIN = re.compile(r"[A-Za-z][A-Za-z ,.:;'()/-]*")


def key(en):
    return hashlib.sha1(en.encode('utf-8')).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('heldout')
    ap.add_argument('out')
    ap.add_argument('--per-lang', type=int, default=20)
    a = ap.parse_args()
    by_lang = {}
    with open(a.heldout, encoding='utf-8') as f:
        for line in f:
            parts = line.rstrip('\n').split('\t')
            if len(parts) != 3:
                continue
            lang, en, x = parts
            if not (2 <= len(en) <= 40 and 1 <= len(x) <= 60):
                continue
            if not PLAIN.fullmatch(en) or any(c in x for c in '&#{}%$<>'):
                continue
            seen = by_lang.setdefault(lang, {})
            seen.setdefault(en, (key(en), en, x))  # one translation per English text
    with open(a.out, 'w', encoding='utf-8') as out:
        for lang in sorted(by_lang):
            for _, en, x in sorted(by_lang[lang].values())[:a.per_lang]:
                out.write('%s\t%s\t%s\n' % (lang, en, x))
    print('%s: %d languages' % (a.out, len(by_lang)), file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
