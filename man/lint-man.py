#!/usr/bin/python3
"""lint-man.py GROFF PAGE...: formats each man page with groff's warnings
all on and fails if groff says anything, or if a page lacks the sections
every page here has (NAME, SYNOPSIS or DESCRIPTION)."""
import re
import subprocess
import sys


def main():
    groff, pages = sys.argv[1], sys.argv[2:]
    bad = 0
    for page in pages:
        before = bad
        r = subprocess.run([groff, '-t', '-man', '-ww', '-z', '-Tutf8', page],
                           capture_output=True, text=True)
        if r.returncode != 0 or r.stderr.strip():
            print(f'{page}: groff: {r.stderr.strip() or "exit " + str(r.returncode)}')
            bad += 1
        with open(page, encoding='utf-8') as f:
            text = f.read()
        sections = re.findall(r'^\.SH\s+"?([A-Z ]+)"?', text, re.M)
        for need in ('NAME', 'DESCRIPTION'):
            if need not in sections:
                print(f'{page}: no {need} section')
                bad += 1
        if not re.search(r'^\.TH\s', text, re.M):
            print(f'{page}: no .TH line')
            bad += 1
        print(f'{page}: {"ok" if bad == before else "problems"} ({len(sections)} sections)')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
