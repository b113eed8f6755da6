#!/usr/bin/python3
"""Cross-check of proto/ with Python's msgpack (python3-msgpack), an
independent implementation:

1. what proto/ encodes (every sample message) is standard msgpack-RPC and
   holds exactly the values tests/proto/samples.c put in;
2. messages Python encodes, in every form a client may use, are decoded by
   proto/ to the same values (checked by re-encoding them from the typed
   structs), and invalid ones give the right error event.

Usage: xcheck.py PATH-TO-proto-xcheck
"""
import subprocess
import sys

try:
    import msgpack
except ImportError:
    print("skip: python3-msgpack is not installed (apt-get install python3-msgpack)")
    sys.exit(77)

TOOL = sys.argv[1]
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


JOB = {'job': '20261127-0001', 'state': 'queued', 'to': 'de', 'files': 2,
       'done': 0, 'total': 300, 'percent': 0.0, 'eta_s': None,
       'created': 1795000000}
JOB_FULL = dict(JOB, state='running', done=150, percent=50.0, eta_s=12.5,
                errors=[{'file': 'a.md', 'message': 'disk full'}])
TEXTS = ['Guten Morgen.', '', '日本語のテキスト']

# What samples.c builds, written out independently.
EXPECTED = [
    [0, 1, 'translate', [{'text': 'Hello, world.\n\nSecond paragraph.', 'to': 'zh',
                          'from': 'auto'}]],
    [0, 2, 'translate', [{'texts': TEXTS, 'to': 'zh', 'from': 'de', 'beams': 4,
                          'max_tokens': 512, 'stream': True, 'format': 'text'}]],
    [0, 3, 'detect', [{'text': 'Dzień dobry', 'top': 5}]],
    [0, 13, 'languages', [{}]],
    [0, 14, 'status', [{}]],
    [0, 15, 'api_info', [{}]],
    [0, 20, 'cancel', [{'request': 2}]],
    [0, 21, 'job.submit', [{'files': [{'name': 'notes.txt', 'content': b'hello\n'},
                                      {'name': 'bin.srt', 'content': b'\x00\x01\xff'}],
                            'to': 'fr', 'from': 'auto', 'format': 'srt',
                            'output': '/tmp/out', 'priority': -5, 'subscribe': True}]],
    [0, 22, 'job.submit', [{'paths': ['/home/u/a.md', '/home/u/b c.po'], 'to': 'pt-BR',
                            'from': 'auto'}]],
    [0, 23, 'job.status', [{'job': '20261127-0001', 'subscribe': True}]],
    [0, 24, 'job.list', [{}]],
    [0, 35, 'job.cancel', [{'job': 'abc_DEF-9'}]],
    [0, 36, 'job.result', [{'job': 'abc_DEF-9'}]],
    [1, 1, None, {'text': '你好，世界。', 'from': 'en', 'to': 'zh', 'tokens': 7, 'ms': 123}],
    [1, 2, None, {'texts': TEXTS, 'from': 'en', 'to': 'zh',
                  'warnings': ['segment 2: target language uncertain'],
                  'tokens': 1 << 40, 'ms': 123}],
    [1, 3, None, {'language': 'de', 'confidence': 0.91,
                  'candidates': [{'language': 'de', 'confidence': 0.91},
                                 {'language': 'nl', 'confidence': 0.05},
                                 {'language': 'en', 'confidence': 0.01}]}],
    [1, 11, None, {'languages': [
        {'code': 'de', 'name': 'German', 'native': 'Deutsch', 'script': 'Latn'},
        {'code': 'zh', 'name': 'Chinese', 'native': '中文', 'script': 'Hans'}]}],
    [1, 14, None, {'protocol': 1, 'version': '0.1.0', 'methods': ['translate', 'detect']}],
    [1, 20, None, {'cancelled': True}],
    [1, 13, None, {'version': '0.1.0',
                   'model': {'path': '/home/u/.local/share/polytrans/models/polylm-1.7b.gguf',
                             'name': 'PolyLM-1.7B', 'kind': 'base', 'bundled': False,
                             'type': 'q8_0', 'params': 1700000000, 'context': 2048},
                   'uptime_s': 3600.25, 'queue': 3, 'in_flight': 2, 'clients': 5,
                   'counters': {'requests': 1000, 'errors': 4, 'tokens': 123456},
                   'tokens_per_s': 42.5, 'rss_bytes': 2 << 30, 'jobs': 1}],
    [1, 21, None, {'job': '20261127-0001'}],
    [1, 23, None, JOB_FULL],
    [1, 24, None, {'jobs': [JOB, JOB_FULL]}],
    [1, 25, None, {'cancelled': False}],
    [1, 26, None, {'job': '20261127-0001', 'state': 'done',
                   'outputs': [{'name': 'a.md', 'path': '/tmp/out/a.md'},
                               {'name': 'notes.txt', 'content': b'bonjour\n'}],
                   'report': {'segments': 300, 'flagged': 1,
                              'messages': ['segment 7: lost %s']}}],
    [1, 27, {'code': 'unsupported_language',
             'message': '"xx" is not one of the 18 languages'}, None],
    [2, 'translate.segment', [{'request': 2, 'item': 2, 'index': 0, 'text': '日本語の '}]],
    [2, 'job.progress', [JOB]],
]


def check_encoded():
    raw = subprocess.run([TOOL, 'encode'], check=True, stdout=subprocess.PIPE).stdout
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True)
    unpacker.feed(raw)
    got = list(unpacker)
    check(len(got) == len(EXPECTED), "encode: %d messages, expected %d" % (len(got), len(EXPECTED)))
    for i, (g, e) in enumerate(zip(got, EXPECTED)):
        check(g == e, "encode: message %d differs:\n  got      %r\n  expected %r" % (i, g, e))
        # Standard msgpack-RPC shapes.
        if g[0] in (0, 1):
            check(len(g) == 4 and isinstance(g[1], int) and 0 <= g[1] < 1 << 32,
                  "encode: message %d shape" % i)
        else:
            check(len(g) == 3 and isinstance(g[1], str), "encode: message %d shape" % i)
    print("encode: %d messages checked" % len(got))


def run_decode(msgs, ids=()):
    data = b''.join(msgpack.packb(m, use_bin_type=True) for m in msgs)
    out = subprocess.run([TOOL, 'decode'] + ['%d=%s' % p for p in ids], input=data,
                         check=True, stdout=subprocess.PIPE).stdout.decode()
    return out.splitlines()


def message_of(line):
    if not line.startswith('MESSAGE '):
        return ('not a message', line)
    return msgpack.unpackb(bytes.fromhex(line[8:]), raw=False)


# (sent, what proto/ must decode it to: defaults filled in, sent as [map]).
GOOD = [
    ([0, 1, 'translate', [{'text': 'Hi', 'to': 'de'}]],
     [0, 1, 'translate', [{'text': 'Hi', 'to': 'de', 'from': 'auto'}]]),
    # Optional fields as nil mean "default"; params may be a bare map.
    ([0, 2, 'translate', {'texts': ['a', 'b'], 'to': 'zh-Hant', 'from': None,
                          'beams': None, 'stream': False}],
     [0, 2, 'translate', [{'texts': ['a', 'b'], 'to': 'zh-Hant', 'from': 'auto'}]]),
    ([0, 3, 'detect', [{'text': 'Merhaba'}]], [0, 3, 'detect', [{'text': 'Merhaba'}]]),
    ([0, 4, 'detect', [{'text': 'x', 'top': 18}]], [0, 4, 'detect', [{'text': 'x', 'top': 18}]]),
    # neovim's rpcrequest(ch, "languages") sends params [].
    ([0, 5, 'languages', []], [0, 5, 'languages', [{}]]),
    ([0, 6, 'status', [{}]], [0, 6, 'status', [{}]]),
    ([0, 4294967295, 'api_info', []], [0, 4294967295, 'api_info', [{}]]),
    ([0, 8, 'cancel', [{'request': 4294967295}]], [0, 8, 'cancel', [{'request': 4294967295}]]),
    # File content may come as str as well as bin; it goes back as bin.
    ([0, 9, 'job.submit', [{'files': [{'name': 'a.po', 'content': 'msgid ""\n'}],
                            'to': 'de', 'format': 'po', 'priority': 100}]],
     [0, 9, 'job.submit', [{'files': [{'name': 'a.po', 'content': b'msgid ""\n'}],
                            'to': 'de', 'from': 'auto', 'format': 'po', 'priority': 100}]]),
    ([0, 10, 'job.status', [{'job': 'j1'}]], [0, 10, 'job.status', [{'job': 'j1'}]]),
    ([0, 11, 'job.list', []], [0, 11, 'job.list', [{}]]),
    ([0, 12, 'job.cancel', [{'job': 'j1'}]], [0, 12, 'job.cancel', [{'job': 'j1'}]]),
    ([0, 13, 'job.result', [{'job': 'j1'}]], [0, 13, 'job.result', [{'job': 'j1'}]]),
    # Results: unknown fields are ignored, integers stand for floats.
    ([1, 101, None, {'language': 'tr', 'confidence': 1, 'candidates': [], 'later': 5}],
     [1, 101, None, {'language': 'tr', 'confidence': 1.0, 'candidates': []}]),
    ([1, 102, None, {'cancelled': True}], [1, 102, None, {'cancelled': True}]),
    ([1, 103, None, {'job': 'j1', 'state': 'failed', 'to': 'de', 'files': 1, 'done': 3,
                     'total': 9, 'percent': 33.3, 'eta_s': None, 'created': 0,
                     'errors': [{'file': 'a', 'message': 'read-only file system'}]}],
     [1, 103, None, {'job': 'j1', 'state': 'failed', 'to': 'de', 'files': 1, 'done': 3,
                     'total': 9, 'percent': 33.3, 'eta_s': None, 'created': 0,
                     'errors': [{'file': 'a', 'message': 'read-only file system'}]}]),
    ([1, 104, {'code': 'busy', 'message': 'queue full'}, None],
     [1, 104, {'code': 'busy', 'message': 'queue full'}, None]),
    ([2, 'translate.segment', [{'request': 1, 'index': 3, 'text': 'Hallo ', 'x': 1}]],
     [2, 'translate.segment', [{'request': 1, 'index': 3, 'text': 'Hallo '}]]),
]
GOOD_IDS = [(101, 'detect'), (102, 'job.cancel'), (103, 'job.status'), (104, 'status')]

# (params of a request, error code, words the message must contain)
BAD = [
    ('translate', {'text': 'x'}, 'bad_request', 'missing field "to"'),
    ('translate', {'text': 'x', 'to': 'de', 'texts': ['y']}, 'bad_request', 'exactly one of'),
    ('translate', {'to': 'de'}, 'bad_request', 'exactly one of'),
    ('translate', {'text': 5, 'to': 'de'}, 'bad_request', 'text: a string expected'),
    ('translate', {'text': b'bytes', 'to': 'de'}, 'bad_request', 'text: a string expected'),
    ('translate', {'texts': 'x', 'to': 'de'}, 'bad_request', 'texts: an array expected'),
    ('translate', {'texts': ['a', 1], 'to': 'de'}, 'bad_request', 'texts: [1]: a string'),
    ('translate', {'text': 'x', 'to': 'German'}, 'bad_request', 'not a language code'),
    ('translate', {'text': 'x', 'to': 'auto'}, 'bad_request', 'not a language code'),
    ('translate', {'text': 'x', 'to': 'de', 'from': 'x'}, 'bad_request', 'not a language code'),
    ('translate', {'text': 'x', 'to': 'de', 'beams': 0}, 'bad_request', 'from 1 to 16'),
    ('translate', {'text': 'x', 'to': 'de', 'beams': -1}, 'bad_request', 'from 1 to 16'),
    ('translate', {'text': 'x', 'to': 'de', 'beams': 2.0}, 'bad_request', 'an integer expected'),
    ('translate', {'text': 'x', 'to': 'de', 'max_tokens': 65537}, 'bad_request', 'max_tokens'),
    ('translate', {'text': 'x', 'to': 'de', 'stream': 1}, 'bad_request', 'true or false'),
    ('translate', {'text': 'x', 'to': 'de', 'format': 'markdown'}, 'bad_request', 'not one of "auto", "text"'),
    ('translate', {'text': 'x', 'to': 'de', 'Stream': True}, 'bad_request', 'unknown field "Stream"'),
    ('translate', {'text': 'x', 'to': None}, 'bad_request', 'to: must not be nil'),
    ('detect', {'text': 'x', 'top': 19}, 'bad_request', 'top'),
    ('detect', {}, 'bad_request', 'missing field "text"'),
    ('status', {'verbose': True}, 'bad_request', 'unknown field "verbose"'),
    ('cancel', {'request': -3}, 'bad_request', 'request'),
    ('cancel', {'request': 1 << 32}, 'bad_request', 'request'),
    ('job.submit', {'to': 'de'}, 'bad_request', 'exactly one of "files" and "paths"'),
    ('job.submit', {'to': 'de', 'paths': []}, 'bad_request', 'at least one file'),
    ('job.submit', {'to': 'de', 'paths': ['relative/x.md']}, 'bad_request', 'absolute path'),
    ('job.submit', {'to': 'de', 'files': [{'name': '../x', 'content': b''}]}, 'bad_request', 'without \'/\''),
    ('job.submit', {'to': 'de', 'files': [{'name': '..', 'content': b''}]}, 'bad_request', 'file name'),
    ('job.submit', {'to': 'de', 'files': [{'name': 'a'}]}, 'bad_request', 'missing field "content"'),
    ('job.submit', {'to': 'de', 'files': [{'name': 'a' * 256, 'content': ''}]}, 'too_large', 'limit of 255'),
    ('job.submit', {'to': 'de', 'paths': ['/a'], 'format': 'docx'}, 'bad_request', '"docx" is not one of'),
    ('job.submit', {'to': 'de', 'paths': ['/a'], 'priority': 101}, 'bad_request', 'priority'),
    ('job.status', {'job': ''}, 'bad_request', 'job id'),
    ('job.status', {'job': 'a/b'}, 'bad_request', 'job id'),
    ('job.result', {'job': 'x' * 65}, 'bad_request', 'job id'),
    ('job.cancel', {'job': 7}, 'bad_request', 'a string expected'),
]


def check_decoded():
    lines = run_decode([m for m, _ in GOOD], GOOD_IDS)
    check(len(lines) == len(GOOD) + 1 and lines[-1] == 'END 0',
          "decode: %d lines for %d messages: %r" % (len(lines), len(GOOD), lines[-1:]))
    for (sent, want), line in zip(GOOD, lines):
        got = message_of(line)
        check(got == want, "decode %r:\n  got      %r\n  expected %r" % (sent, got, want))
    msgs = [[0, 1000 + i, m, [p]] for i, (m, p, _, _) in enumerate(BAD)]
    msgs.append([0, 2000, 'api_info', []])   # the connection still works after them
    lines = run_decode(msgs)
    check(len(lines) == len(msgs) + 1, "bad: %d lines for %d messages" % (len(lines), len(msgs)))
    for i, ((m, p, code, words), line) in enumerate(zip(BAD, lines)):
        want = 'REPLY_ERROR %d %s ' % (1000 + i, code)
        check(line.startswith(want) and words in line,
              "bad %s %r:\n  got      %s\n  expected %s...%s" % (m, p, line, want, words))
    check(lines[len(BAD)].startswith('MESSAGE '), "bad: last message not decoded")
    print("decode: %d good and %d bad messages checked" % (len(GOOD), len(BAD)))


def check_fatal():
    # msgid not an integer: nothing to answer, the connection is closed.
    lines = run_decode([[0, 'one', 'status', []]])
    check(lines[0].startswith('FATAL - bad_request') and 'msgid' in lines[0], repr(lines))
    out = subprocess.run([TOOL, 'decode'], input=b'hello\n', check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    check(out.startswith('FATAL - bad_request'), repr(out))
    # A truncated message waits for more bytes.
    data = msgpack.packb([0, 1, 'detect', [{'text': 'abcdef'}]])
    out = subprocess.run([TOOL, 'decode'], input=data[:-3], check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    check(out == 'END %d\n' % (len(data) - 3), repr(out))
    print("fatal: checked")


check_encoded()
check_decoded()
check_fatal()
if FAILS:
    print("%d failure(s)" % len(FAILS))
    sys.exit(1)
print("xcheck: all checks passed")
