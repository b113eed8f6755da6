#!/usr/bin/python3
"""Holds man/polytrans-protocol.7 to proto/'s tables: every method and
notification has its own entry, every field of its arguments and results
is named in that entry, and every error code and enum value is described.

Usage: doc-check.py PATH-TO-proto-doc-dump PATH-TO-polytrans-protocol.7
"""
import re
import subprocess
import sys

dump, page = sys.argv[1], sys.argv[2]
lines = subprocess.run([dump], check=True, stdout=subprocess.PIPE).stdout.decode().splitlines()
text = open(page, encoding='utf-8').read()
fails = []


def section(name, macro):
    """The text from '.SS name' or '.TP / .B name' to the next heading."""
    if macro == 'SS':
        m = re.search(r'^\.SS %s\n(.*?)(?=^\.S[SH] )' % re.escape(name), text, re.M | re.S)
    else:
        m = re.search(r'^\.SH NOTIFICATIONS\n(.*?)(?=^\.SH )', text, re.M | re.S)
        if m:
            m = re.search(r'^\.TP\n\.B %s\n(.*?)(?=^\.TP\n\.B |\Z)' % re.escape(name),
                          m.group(1), re.M | re.S)
    return m.group(1) if m else None


def names_in(sec):
    """Words set in bold (.B/.BR lines) or quoted as map keys in a section."""
    words = set()
    for args in re.findall(r'^\.BR? (.*)$', sec, re.M):
        words |= set(re.findall(r'[a-z_][a-z_.]*', args))
    words |= set(re.findall(r'\\\(dq(\w+)\\\(dq', sec))
    return words


current = None
for line in lines:
    kind, name = line.split(' ', 1)
    if kind in ('method', 'notification'):
        sec = section(name, 'SS' if kind == 'method' else 'TP')
        if sec is None:
            fails.append('%s %s has no entry' % (kind, name))
            current = set()
        else:
            current = names_in(sec)
            # job.progress and job.status share the job map described once.
            if name == 'job.progress' or name == 'job.list':
                current |= names_in(section('job.status', 'SS'))
            if name == 'job.result':
                current |= names_in(section('job.status', 'SS'))
        where = name
    elif kind in ('request', 'result', 'field'):
        if name not in current:
            fails.append('%s: %s field "%s" is not documented' % (where, kind, name))
    elif kind == 'error':
        if not re.search(r'^\.SH ERROR CODES\n(?:.*\n)*?\.B %s$' % re.escape(name), text, re.M):
            fails.append('error code %s is not documented' % name)
    elif kind == 'enum':
        if not re.search(r'\b%s\b' % re.escape(name), text):
            fails.append('enum value %s is not documented' % name)

for f in fails:
    print('FAIL:', f)
if fails:
    sys.exit(1)
print('doc-check: %d names documented' % len(lines))
