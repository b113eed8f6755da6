#!/usr/bin/python3
"""test_client_mock.py POLYTRANS MOCK_DAEMON: the client against a mock daemon.

The mock (mock-daemon.py) answers with canned, checkable behaviour, so this
test pins the client's side exactly: output order of streamed segments,
atomic -o, splitting of large inputs, error replies, timeouts, Ctrl-C,
JSON output, and starting a daemon when none runs. Suite 'unit': no model.
"""

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

CLIENT = os.path.abspath(sys.argv[1])
MOCK = os.path.abspath(sys.argv[2])
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)


def expected(text, to):
    """The mock's translation of one request."""
    out = []
    for m in re.finditer(r"[^\n]+\n*|\n+", text):
        p = m.group(0)
        body = p.rstrip("\n")
        out.append("<%s>%s%s" % (to.upper(), body.upper(), p[len(body):]) if body else p)
    return "".join(out)


class Env:
    def __init__(self, tmp):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "run", "polytrans.sock")
        self.log = os.path.join(tmp, "mock.log")
        os.makedirs(os.path.join(tmp, "run"), mode=0o700, exist_ok=True)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(tmp, "run"),
                        XDG_STATE_HOME=os.path.join(tmp, "state"), MOCK_LOG=self.log,
                        LC_ALL="C.UTF-8")
        # Only auto_start() lets the client start a daemon: elsewhere a
        # crashed mock must show as a failure, not be replaced silently.
        self.env["POLYTRANSD"] = os.path.join(tmp, "no-daemon-here")
        self.env.pop("POLYTRANS_MODEL", None)
        self.daemon = None

    def run(self, *args, stdin=b"", timeout=30, env=None):
        r = subprocess.run([CLIENT] + list(args), input=stdin, capture_output=True,
                           timeout=timeout, env=env or self.env, cwd=self.tmp)
        return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")

    def start(self, **extra):
        self.stop()
        env = dict(self.env, **extra)
        self.daemon = subprocess.Popen([MOCK, "--socket", self.sock], env=env)
        for _ in range(100):
            if os.path.exists(self.sock):
                return
            time.sleep(0.05)
        raise SystemExit("mock daemon did not start")

    def stop(self):
        if self.daemon:
            self.daemon.terminate()
            self.daemon.wait(10)
            self.daemon = None

    def entries(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(x) for x in f]

    def clear_log(self):
        if os.path.exists(self.log):
            os.unlink(self.log)


def usage_errors(e):
    for args, needle in [((), "--to LANG"), (("--to", "xx"), "zh en es de fr pt ru it ar ja ko th vi id pl tr nl he"),
                         (("--to", "de", "--bogus"), "--bogus"), (("--to", "de", "--beams", "0"), "--beams"),
                         (("--to", "de", "--beams", "17"), "--beams"), (("--to", "de", "--max-tokens", "x"), "--max-tokens"),
                         (("--to", "de", "--timeout", "-1"), "--timeout"), (("--lines",), "--lines"),
                         (("--detect", "--status"), "alone"), (("--languages", "f.txt"), "no files"),
                         (("--to", "de", "-o"), "needs a value"), (("--from", "klingon", "--to", "de"), "klingon"),
                         (("--status", "--to", "de"), "translating"), (("-x",), "'-x'")]:
        rc, out, err = e.run(*args)
        check(rc == 2, "usage %s: exit %d, want 2" % (args, rc))
        check(needle in err, "usage %s: %r not in %r" % (args, needle, err))
        check("Try 'polytrans --help'" in err, "usage %s: no hint" % (args,))
        check(out == "", "usage %s: stdout %r" % (args, out))
    rc, out, err = e.run("--help")
    check(rc == 0 and "--to LANG" in out and "--no-start" in out and err == "", "--help")
    rc, out, err = e.run("--version")
    check(rc == 0 and re.match(r"polytrans \d+\.\d+", out), "--version: %r" % out)


def no_daemon(e):
    rc, out, err = e.run("--to", "de", "--no-start", stdin=b"Hallo")
    check(rc == 3, "--no-start without daemon: exit %d, want 3 (%s)" % (rc, err))
    check("not running" in err, "--no-start message: %r" % err)
    rc, out, err = e.run("--status", "--no-start", "--socket", os.path.join(e.tmp, "none.sock"))
    check(rc == 3, "--socket without daemon: exit %d" % rc)
    # Invalid UTF-8 is found before any daemon is needed.
    rc, out, err = e.run("--to", "de", "--no-start", stdin=b"abc\xff\xfedef")
    check(rc == 1 and "invalid UTF-8 at byte 3" in err, "invalid UTF-8: %d %r" % (rc, err))
    rc, out, err = e.run("--detect", "--no-start", stdin=b"ok\n\xc3(")
    check(rc == 1 and "byte 3" in err, "invalid UTF-8 detect: %d %r" % (rc, err))
    rc, out, err = e.run("--to", "de", "--no-start", "missing.txt")
    check(rc == 1 and "missing.txt" in err, "missing file: %d %r" % (rc, err))


def translating(e):
    text = "Hallo Welt.\nWie geht es?\n\nZweiter Absatz.\nvier\nfünf\n"
    rc, out, err = e.run("--to", "en", stdin=text.encode())
    check(rc == 0 and out == expected(text, "en"), "stdin: %d %r %r" % (rc, out, err))
    files = []
    for i, body in enumerate(["eins\nzwei\n", "drei", "vier\n\nfünf\nsechs\n"]):
        p = os.path.join(e.tmp, "in%d.txt" % i)
        with open(p, "w") as f:
            f.write(body)
        files.append((p, body))
    rc, out, err = e.run("--to", "fr", files[0][0], "-", files[2][0], stdin=b"stdin\n")
    want = expected(files[0][1], "fr") + expected("stdin\n", "fr") + expected(files[2][1], "fr")
    check(rc == 0 and out == want, "several files in order: %r" % out)
    # Language names and tags are normalized before sending.
    for given, code in [("German", "de"), ("zh-CN", "zh"), ("iw", "he"), ("PT_br", "pt")]:
        e.clear_log()
        rc, out, err = e.run("--to", given, "--from", "English", "--beams", "3",
                             "--max-tokens", "77", stdin=b"x")
        tr = [x for x in e.entries() if x.get("method") == "translate"]
        check(rc == 0 and tr and tr[0]["to"] == code and tr[0]["from"] == "en" and
              tr[0]["beams"] == 3 and tr[0]["max_tokens"] == 77,
              "--to %s: %s %r" % (given, tr, err))
    rc, out, err = e.run("--to", "de", stdin=b"WARNME bitte\n")
    check(rc == 0 and "polytrans: warning: standard input: segment 0 is not in the target language" in err,
          "warning on stderr: %r" % err)
    rc, out, err = e.run("--to", "de", "--json", stdin=b"WARNME a\nb\n")
    j = json.loads(out)
    check(rc == 0 and j == {"text": expected("WARNME a\nb\n", "de"), "from": "de", "to": "de",
                            "warnings": ["segment 0 is not in the target language"]},
          "--json translate: %r" % out)
    rc, out, err = e.run("--to", "de", "--json", files[0][0], files[1][0])
    lines = [json.loads(x) for x in out.splitlines()]
    check(rc == 0 and [x["file"] for x in lines] == [files[0][0], files[1][0]] and
          lines[1]["text"] == expected("drei", "de"), "--json several: %r" % out)
    rc, out, err = e.run("--to", "de", stdin=b"")
    check(rc == 0 and out == "", "empty input")


def output_file(e):
    dst = os.path.join(e.tmp, "out", "result.txt")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    rc, out, err = e.run("--to", "es", "-o", dst, stdin=b"uno\ndos\n")
    with open(dst) as f:
        got = f.read()
    check(rc == 0 and out == "" and got == expected("uno\ndos\n", "es"), "-o: %r" % got)
    mode = os.stat(dst).st_mode & 0o777
    um = os.umask(0)
    os.umask(um)
    check(mode == 0o666 & ~um, "-o mode %o, umask %o" % (mode, um))
    bad = os.path.join(e.tmp, "bad.txt")
    with open(bad, "w") as f:
        f.write("FAILME\n")
    good = os.path.join(e.tmp, "in0.txt")
    rc, out, err = e.run("--to", "es", "-o", dst, good, bad)
    with open(dst) as f:
        check(f.read() == got, "-o replaced after a failure")
    check(rc == 1 and "unsupported_language" in err, "-o failure: %d %r" % (rc, err))
    check(os.listdir(os.path.dirname(dst)) == ["result.txt"],
          "temporary file left: %s" % os.listdir(os.path.dirname(dst)))
    fresh = os.path.join(e.tmp, "out", "fresh.txt")
    rc, out, err = e.run("--to", "es", "-o", fresh, bad)
    check(rc == 1 and not os.path.exists(fresh), "-o created on failure")
    rc, out, err = e.run("--to", "es", "-o", good, good)
    check(rc == 2, "-o over an input: %d" % rc)


def large_input(e):
    e.stop()
    e.start(MOCK_MAX_TEXT="5000")
    paras = ["Absatz %d: %s" % (i, "wort " * (i % 37 + 5)) for i in range(400)]
    text = "\n\n".join(paras) + "\n"
    e.clear_log()
    rc, out, err = e.run("--to", "en", stdin=text.encode())
    tr = [x for x in e.entries() if x.get("method") == "translate"]
    ok = [x for x in tr if x["len"] <= 5000]
    check(rc == 0 and out == expected(text, "en"), "split input joined: %d %r" % (rc, err[-300:]))
    check(len(ok) >= len(text) // 5000 and sum(x["len"] for x in ok) == len(text.encode()),
          "split requests: %d ok of %d" % (len(ok), len(tr)))
    check(all(x["from"] == "de" for x in ok[1:]), "source pinned after the first piece")
    # No break in the text: cut at characters, halved until it fits.
    rc, out, err = e.run("--to", "en", stdin=("ä" * 6000).encode())
    check(rc == 0 and out == ("<EN>" + "Ä" * 1500) * 4, "cut at characters: %d %r" % (rc, err))
    e.stop()
    e.start(MOCK_MAX_TEXT="500")
    rc, out, err = e.run("--to", "en", stdin=("x" * 3000).encode())
    check(rc == 1 and "too_large" in err and out == "", "unsplittable: %d %r" % (rc, err))
    e.stop()
    e.start()


def failures(e):
    rc, out, err = e.run("--to", "de", stdin=b"DROPME\n")
    check(rc == 3 and "closed" in err, "dropped connection: %d %r" % (rc, err))
    e.clear_log()
    t0 = time.time()
    rc, out, err = e.run("--to", "de", "--timeout", "1.5", stdin=b"SLOWME\n")
    took = time.time() - t0
    check(rc == 1 and "timed out" in err and 1.4 < took < 10, "timeout: %d %.1f %r" % (rc, took, err))
    time.sleep(0.3)
    check(any(x.get("method") == "cancel" for x in e.entries()), "timeout sends cancel")
    # Ctrl-C: cancel in the daemon, no -o file, status 130.
    e.clear_log()
    dst = os.path.join(e.tmp, "int.txt")
    p = subprocess.Popen([CLIENT, "--to", "de", "-o", dst], stdin=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e.env)
    p.stdin.write(b"SLOWME\n")
    p.stdin.close()
    for _ in range(100):
        if any(x.get("method") == "translate" for x in e.entries()):
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    rc = p.wait(10)
    time.sleep(0.3)
    check(rc == 130, "SIGINT: exit %d" % rc)
    check(any(x.get("method") == "cancel" for x in e.entries()), "SIGINT sends cancel")
    check(not os.path.exists(dst) and not [f for f in os.listdir(e.tmp) if f.startswith("int.txt")],
          "SIGINT leaves no output")


def detecting(e):
    rc, out, err = e.run("--detect", stdin=b"der Hund und die Katze")
    check(rc == 0 and out == "de\n", "detect: %r %r" % (out, err))
    rc, out, err = e.run("--detect", "--verbose", stdin=b"hola amigo")
    check(rc == 0 and out == "es 0.75\n", "detect -v: %r" % out)
    lines = ["hola", "", "der Mann", "hello", "12345", "  ", "und so"] * 5
    rc, out, err = e.run("--detect", "--lines", stdin=("\n".join(lines) + "\n").encode())
    want = ["es", "und", "de", "en", "und", "und", "de"] * 5
    check(rc == 0 and out.split("\n")[:-1] == want, "--lines order: %r" % out)
    rc, out, err = e.run("--detect", "--lines", "--json", stdin=b"hola\r\nder\n")
    js = [json.loads(x) for x in out.splitlines()]
    check(rc == 0 and [(x["line"], x["language"]) for x in js] == [(1, "es"), (2, "de")] and
          js[0]["candidates"][0] == {"language": "es", "confidence": 0.75}, "--lines --json: %r" % out)
    a, b = os.path.join(e.tmp, "a.txt"), os.path.join(e.tmp, "b.txt")
    with open(a, "w") as f:
        f.write("hola")
    with open(b, "w") as f:
        f.write("der")
    rc, out, err = e.run("--detect", a, b)
    check(rc == 0 and out == "%s: es\n%s: de\n" % (a, b), "detect files: %r" % out)


def progress(e):
    """The progress line: only when stderr is a terminal, cleared at the end."""
    import pty
    text = "".join("Satz Nummer %d ist hier.\n" % i for i in range(20)).encode()
    master, slave = pty.openpty()
    p = subprocess.Popen([CLIENT, "--to", "en"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=slave, env=e.env)
    os.close(slave)
    out, _ = p.communicate(text, timeout=30)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    check(p.returncode == 0 and out.decode() == expected(text.decode(), "en"), "progress run")
    check(b"polytrans: standard input: " in err and b"/20 segments" in err and
          err.endswith(b"\r\x1b[K"), "progress line: %r" % err[-200:])
    rc, out, err = e.run("--to", "en", stdin=text)
    check(rc == 0 and err == "", "no progress off a terminal: %r" % err)
    p = subprocess.Popen([CLIENT, "--to", "en", "--quiet"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e.env)
    out, err = p.communicate(text, timeout=30)
    check(err == b"", "--quiet")


def info(e):
    rc, out, err = e.run("--languages")
    rows = out.splitlines()
    check(rc == 0 and len(rows) == 18 and rows[3].split()[:2] == ["de", "German"] and
          rows[3].endswith("Deutsch"), "--languages: %r" % rows[:4])
    rc, out, err = e.run("--languages", "--json")
    js = json.loads(out)
    check(rc == 0 and len(js) == 18 and js[17] == {"code": "he", "name": "Hebrew",
                                                   "native": "עברית", "script": "Hebr"},
          "--languages --json")
    rc, out, err = e.run("--status", "--json")
    js = json.loads(out)
    check(rc == 0 and js["model"]["name"] == "tiny" and js["counters"]["tokens"] == 42 and
          js["model"]["context"] == 512, "--status --json: %r" % out)
    rc, out, err = e.run("--status")
    check(rc == 0 and "tiny" in out and "42 tokens" in out and "12.5 tokens/s" in out,
          "--status: %r" % out)


def auto_start(e):
    e.stop()
    e.clear_log()
    model = os.path.join(e.tmp, "models", "m.gguf")
    env = dict(e.env, POLYTRANS_MODEL="models/m.gguf", POLYTRANSD=MOCK)
    # The client gets an extra inherited descriptor, as under a test
    # harness: the daemon it starts must not keep it open.
    rfd, wfd = os.pipe()
    p = subprocess.Popen([CLIENT, "--status", "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, cwd=e.tmp, pass_fds=(wfd,))
    os.close(wfd)
    out, err = p.communicate(timeout=30)
    rc, out, err = p.returncode, out.decode(), err.decode()
    check(rc == 0, "auto start: %d %r" % (rc, err))
    ready, _, _ = select.select([rfd], [], [], 5)
    check(ready and os.read(rfd, 1) == b"", "the daemon holds an inherited descriptor")
    os.close(rfd)
    starts = [x for x in e.entries() if x.get("event") == "start"]
    check(len(starts) == 1 and starts[0]["argv"] == ["--socket", e.sock, "--model", model] and
          starts[0]["sid"] and starts[0]["cwd"] == "/", "started as %r" % starts)
    pid = int(json.loads(out)["version"].split("-")[1]) if rc == 0 else 0
    rc, out, err = e.run("--to", "de", stdin=b"wieder", env=env)
    check(rc == 0 and out == expected("wieder", "de"), "reuse: %r" % err)
    check(len([x for x in e.entries() if x.get("event") == "start"]) == 1, "second call started another")
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not os.path.exists(e.sock):
                break
            time.sleep(0.05)
    # Two clients at once, the daemon slow to listen: one daemon serves both.
    e.clear_log()
    env = dict(e.env, MOCK_LISTEN_DELAY="1.0", POLYTRANSD=MOCK)
    ps = [subprocess.Popen([CLIENT, "--status", "--json"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env) for _ in range(2)]
    res = [(p.wait(30), p.stdout.read(), p.stderr.read()) for p in ps]
    check(all(r[0] == 0 for r in res), "two starting clients: %r" % res)
    vs = {json.loads(r[1])["version"] for r in res if r[0] == 0}
    check(len(vs) == 1, "two clients, two daemons: %r" % vs)
    for v in vs:
        os.kill(int(v.split("-")[1]), signal.SIGTERM)
    time.sleep(0.5)
    # A daemon without a model: its message, exit 3.
    env = dict(e.env, MOCK_NOMODEL="1", POLYTRANSD=MOCK)
    rc, out, err = e.run("--to", "de", stdin=b"x", env=env)
    check(rc == 3 and "no model found" in err and "polylm-convert" in err and
          "polytransd.log" in err, "no model: %d %r" % (rc, err))
    env = dict(e.env, POLYTRANSD=os.path.join(e.tmp, "nothing"))
    rc, out, err = e.run("--to", "de", stdin=b"x", env=env)
    check(rc == 3 and "POLYTRANSD" in err, "no daemon executable: %d %r" % (rc, err))


def main():
    with tempfile.TemporaryDirectory(prefix="pt-client-") as tmp:
        e = Env(tmp)
        try:
            usage_errors(e)
            no_daemon(e)
            e.start()
            translating(e)
            output_file(e)
            large_input(e)
            failures(e)
            detecting(e)
            info(e)
            progress(e)
            auto_start(e)
        finally:
            e.stop()
    if FAILS:
        print("%d checks failed" % len(FAILS))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
