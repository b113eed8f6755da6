#!/usr/bin/python3
"""test_client_doc.py POLYTRANS MANPAGE: --help and polytrans(1) agree.

Every long option --help lists is described in the man page (as a .TP
entry), every option the man page describes is in --help, and the exit
statuses 0 1 2 3 130 are documented.
"""

import re
import subprocess
import sys


def main():
    client, man = sys.argv[1], sys.argv[2]
    r = subprocess.run([client, "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        print("--help exited %d" % r.returncode)
        return 1
    helped = set(re.findall(r"(?<![\w-])--([a-z][a-z-]*)", r.stdout))
    with open(man, encoding="utf-8") as f:
        page = f.read()
    # Options described by the page: the first line after each .TP.
    described = set()
    for m in re.finditer(r"^\.TP\n(.*)$", page, re.M):
        described |= set(re.findall(r"\\-\\-([a-z][a-z\\-]*)", m.group(1)))
    described = {d.replace("\\-", "-") for d in described}
    fails = []
    for o in sorted(helped - described):
        fails.append("--%s is in --help but not described in the man page" % o)
    for o in sorted(described - helped):
        fails.append("--%s is described in the man page but not in --help" % o)
    status = page[page.index(".SH EXIT STATUS"):page.index(".SH EXAMPLES")]
    for code in ("0", "1", "2", "3", "130"):
        if not re.search(r"^\.B %s$" % code, status, re.M):
            fails.append("exit status %s is not documented" % code)
    if len(helped) < 15:
        fails.append("only %d options found in --help" % len(helped))
    for f in fails:
        print("FAIL:", f)
    print("%d options checked" % len(helped))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
