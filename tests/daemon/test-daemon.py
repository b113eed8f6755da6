#!/usr/bin/python3
"""test-daemon.py POLYTRANSD TEST [ARGS]: integration tests of polytransd with
the tiny fixture model (random weights: nonsense text, but the whole path
runs). Each TEST is one meson test; see tests/daemon/meson.build."""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptdtest import (Client, Closed, Daemon, RPCError, Skip, check, fail,  # noqa: E402
                     fixture, run)

# Texts in several languages with odd spacing: indentation, blank lines,
# list markers, CRLF, trailing blanks, a number-only line.
DOCS = {
    "de": "Guten Morgen.  Wie geht es dir?\n\n  - Das Wetter ist schön.\n\t12345\n",
    "fr": "Bonjour tout le monde.\r\nJe suis content.  \r\n\r\n",
    "zh": "今天天气很好。我们去公园吧。\n\n    第二段。",
    "ru": "  Привет, мир!\n1. Первый пункт.\n2. Второй пункт.\n",
    "ja": "こんにちは。元気ですか？\n",
    "ar": "مرحبا بالعالم.\n\nكيف حالك؟ ",
}


def ws_shape(s):
    """The whitespace structure of a text: its line ends, and each line's
    leading and trailing blanks."""
    lines = re.split(r"(\r\n|\n|\r)", s)
    shape = []
    for i, part in enumerate(lines):
        if i % 2 == 1:
            shape.append(("eol", part))
            continue
        lead = re.match(r"[ \t]*", part).group(0)
        trail = re.search(r"[ \t]*$", part).group(0) if part.strip() else ""
        shape.append(("line", lead, trail, part.strip() == ""))
    return shape


def t_translate(exe, pm=None):
    """One text and a list, several languages: exact whitespace structure,
    streamed segments that add up to the result, the same answer as
    polytrans-model translate (the pipeline without the daemon)."""
    with Daemon(exe) as d:
        c = Client(d.sock)
        for lang, doc in DOCS.items():
            notes = []
            r = c.call("translate", {"text": doc, "to": "en", "from": lang, "stream": True},
                       notes)
            out = r["text"]
            check(r["from"] == lang and r["to"] == "en", "from/to: %r" % r)
            check(ws_shape(out) == ws_shape(doc),
                  "%s: whitespace differs:\n%r\n%r" % (lang, doc, out))
            check(isinstance(r["tokens"], int) and r["tokens"] > 0, "tokens: %r" % r)
            check(isinstance(r["ms"], int), "ms: %r" % r)
            for w in r.get("warnings", []):
                check(isinstance(w, str) and w, "warning: %r" % w)
            segs = [n[2][0] for n in notes if n[1] == "translate.segment"]
            check(segs, "%s: no translate.segment notifications" % lang)
            check([s["index"] for s in segs] == list(range(len(segs))),
                  "segment indexes: %r" % [s["index"] for s in segs])
            check("".join(s["text"] for s in segs) == out,
                  "%s: streamed segments do not add up to the result" % lang)
            if "12345" in doc:
                check("\t12345\n" in out, "a number-only line changed: %r" % out)
            if pm:
                p = subprocess.run([pm, "translate", fixture("tiny-f32.gguf"), "--to", "en",
                                    "--from", lang, "--threads", "1", doc],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                check(p.returncode == 0, "polytrans-model translate: %s" % p.stderr)
                check(p.stdout.decode() == out,
                      "%s: daemon and polytrans-model translate differ:\n%r\n%r"
                      % (lang, out, p.stdout.decode()))
        # A list, in order; text already in the target language and text
        # without words come back unchanged.
        texts = [DOCS["de"], "", "   \n", "12345 67", DOCS["fr"]]
        r = c.call("translate", {"texts": texts, "to": "es"})
        check(len(r["texts"]) == len(texts), "texts: %d answers" % len(r["texts"]))
        for a, b in zip(texts, r["texts"]):
            check(ws_shape(a) == ws_shape(b), "list: whitespace differs: %r %r" % (a, b))
        check(r["texts"][1:4] == texts[1:4], "text without words changed: %r" % r["texts"])
        r = c.call("translate", {"texts": [], "to": "es"})
        check(r["texts"] == [] and r["tokens"] == 0, "empty list: %r" % r)
        r = c.call("translate", {"text": "Hello  world.\n", "from": "en", "to": "en"})
        check(r["text"] == "Hello  world.\n" and r["tokens"] == 0, "en->en: %r" % r)
        # Auto detection reports a language.
        r = c.call("translate", {"text": DOCS["ru"], "to": "en"})
        check(re.match(r"^[a-z]{2,3}$", r["from"]), "from: %r" % r["from"])
        # Errors with a reply.
        for params, code in [({"text": "x", "to": "xx"}, "unsupported_language"),
                             ({"text": "x", "to": "de", "from": "qq"}, "unsupported_language"),
                             ({"text": "x", "to": "de", "beam": 2}, "bad_request"),
                             ({"text": 5, "to": "de"}, "bad_request"),
                             ({"to": "de"}, "bad_request")]:
            try:
                c.call("translate", params)
                fail("no error for %r" % params)
            except RPCError as e:
                check(e.code == code, "%r: %s, expected %s" % (params, e, code))
        check(d.stop() == 0, "exit status")


def t_parallel(exe):
    """20 clients, 6 requests each sent back to back: every reply matched to
    its msgid, the same text translated the same way for everyone."""
    with Daemon(exe) as d:
        results, errors = {}, []

        def client(k):
            try:
                c = Client(d.sock, timeout=300)
                ids = {}
                for j in range(6):
                    kind = ("translate", "detect", "status")[j % 3]
                    if kind == "translate":
                        p = {"text": "Das ist Satz %d." % (j % 2), "to": "en", "from": "de"}
                    elif kind == "detect":
                        p = {"text": "Bonjour le monde %d" % k}
                    else:
                        p = {}
                    ids[c.send(kind, p, msgid=1000 * k + j)] = (kind, p)
                got = {}
                while len(got) < len(ids):
                    m = c.read_msg()
                    check(m[0] == 1, "client %d: unexpected %r" % (k, m))
                    check(m[1] in ids and m[1] not in got, "client %d: msgid %r" % (k, m[1]))
                    check(m[2] is None, "client %d: error %r" % (k, m[2]))
                    got[m[1]] = m[3]
                for mid, (kind, p) in ids.items():
                    r = got[mid]
                    if kind == "translate":
                        check("text" in r and r["to"] == "en", "translate result %r" % r)
                        results.setdefault(p["text"], set()).add(r["text"])
                    elif kind == "detect":
                        check("language" in r and "candidates" in r, "detect %r" % r)
                    else:
                        check("uptime_s" in r, "status %r" % r)
                c.close()
            except Exception as e:  # reported below
                errors.append("client %d: %r" % (k, e))

        th = [threading.Thread(target=client, args=(k,)) for k in range(20)]
        for t in th:
            t.start()
        for t in th:
            t.join(600)
        check(not errors, "\n".join(errors))
        for text, outs in results.items():
            check(len(outs) == 1, "%r translated differently: %r" % (text, outs))
        st = Client(d.sock).call("status", {})
        check(st["counters"]["requests"] >= 120, "counters: %r" % st["counters"])
        check(d.stop() == 0, "exit status")


LONG = " ".join("Das ist der Satz Nummer %d, und er ist ziemlich lang." % i
                for i in range(300))


def t_cancel(exe):
    """cancel and a disconnect free the engine: the long request ends with
    `cancelled`, nothing is left in flight, a short request is answered."""
    with Daemon(exe) as d:
        a = Client(d.sock)
        notes = []
        mid = a.send("translate", {"text": LONG, "to": "en", "from": "de", "stream": True})
        while not notes:
            m = a.read_msg()
            if m[0] == 2:
                notes.append(m)
        r = a.call("cancel", {"request": mid})
        check(r == {"cancelled": True}, "cancel: %r" % r)
        m = a.wait_reply(mid)
        check(m[2] is not None and m[2]["code"] == "cancelled", "cancelled request: %r" % m)
        check(a.call("cancel", {"request": mid}) == {"cancelled": False}, "cancel again")
        check(a.call("cancel", {"request": 999}) == {"cancelled": False}, "cancel unknown")
        b = Client(d.sock)
        t0 = time.time()
        r = b.call("translate", {"text": "Hallo.", "to": "en", "from": "de"})
        short_s = time.time() - t0
        check("text" in r, "short request: %r" % r)
        # A client that goes away: its request is cancelled.
        a.send("translate", {"text": LONG, "to": "en", "from": "de"})
        time.sleep(0.3)
        a.close()
        r = b.call("translate", {"text": "Hallo.", "to": "en", "from": "de"})
        check("text" in r, "short request after a disconnect: %r" % r)
        st = b.call("status", {})
        check(st["queue"] == 0 and st["in_flight"] == 0,
              "work left after cancel/disconnect: %r" % st)
        check("client gone" in d.stderr() or "cancelled" in d.stderr(), "log: %s" % d.stderr())
        print("short request after a cancel answered in %.2f s" % short_s)
        check(d.stop() == 0, "exit status")


def t_malformed(exe):
    """Bad input gets an error reply or closes only that connection; a
    witness client is served all along and the daemon survives."""
    with Daemon(exe, settings={"max-message-bytes": 65536}) as d:
        w = Client(d.sock)

        def witness():
            r = w.call("detect", {"text": "Guten Tag"})
            check("language" in r, "witness: %r" % r)

        def expect_close(data, what, reply_code=None):
            c = Client(d.sock)
            c.send_raw(data)
            check(c.closed_by_peer(), "%s: connection not closed" % what)
            if reply_code:
                codes = [m[2]["code"] for m in c.pending if m[0] == 1 and m[2]]
                check(reply_code in codes, "%s: replies %r" % (what, c.pending))
            c.close()
            witness()

        def expect_error(data, code, msgid, what):
            c = Client(d.sock)
            c.send_raw(data)
            m = c.wait_reply(msgid)
            check(m[2] is not None and m[2]["code"] == code, "%s: %r" % (what, m))
            # The connection goes on.
            check("language" in c.call("detect", {"text": "Hola amigos"}), what)
            c.close()
            witness()

        expect_close(b"\xc1\xc1\xc1garbage", "garbage bytes")
        expect_close(os.urandom(4096), "random bytes")
        expect_close(b"\xdd\xff\xff\xff\xff", "a declared 4-billion-element array")
        expect_close(b"\x94\x00\x07\xa9translate" + b"\x91" * 100 + b"\x80",
                     "deep nesting", "too_large")
        big = msgpack.packb([0, 9, "detect", [{"text": "a" * 100000}]])
        expect_close(big, "an over-size message")
        # Truncated message, then the client goes away.
        c = Client(d.sock)
        c.send_raw(msgpack.packb([0, 1, "translate", [{"text": "Hallo", "to": "en"}]])[:-3])
        c.close()
        witness()
        pk = lambda *m: msgpack.packb(list(m))  # noqa: E731
        expect_error(pk(0, 5, "no_such_method", [{}]), "unknown_method", 5, "unknown method")
        expect_error(pk(0, 6, "detect", [{"text": 17}]), "bad_request", 6, "wrong type")
        expect_error(pk(0, 7, "detect", [{"text": "x", "top": "3"}]), "bad_request", 7,
                     "wrong type (top)")
        expect_error(pk(0, 8, "detect", "params"), "bad_request", 8, "params not an array")
        expect_error(pk(0, 10, "translate", [{"text": b"\xff\xfe", "to": "en"}]),
                     "bad_request", 10, "invalid UTF-8")
        # job.submit with a path that does not exist: an error reply either
        # way (unknown_method while batch jobs are not built in).
        c = Client(d.sock)
        m = c.wait_reply(c.send("job.submit", {"paths": ["/nonexistent/x.txt"], "to": "de"}))
        check(m[2] is not None and m[2]["code"] in ("unknown_method", "not_found",
                                                   "bad_request"), "job.submit: %r" % m)
        c.close()
        # A notification and a response sent to the daemon are ignored.
        c = Client(d.sock)
        c.send_raw(pk(2, "translate.segment", [{}]) + pk(1, 3, None, {}))
        check("language" in c.call("detect", {"text": "Dobranoc"}), "after ignored messages")
        c.close()
        check(d.proc.poll() is None, "polytransd died:\n%s" % d.stderr())
        check(d.stop() == 0, "exit status")


def t_limits(exe):
    """max_text_bytes, max_requests_per_client and queue_size answer
    too_large and busy."""
    with Daemon(exe, settings={"max-text-bytes": 1000, "max-requests-per-client": 2,
                               "queue-size": 1}) as d:
        c = Client(d.sock)
        try:
            c.call("translate", {"text": "a" * 1001, "to": "de"})
            fail("no too_large")
        except RPCError as e:
            check(e.code == "too_large", "too_large: %s" % e)
        long_text = LONG[:990]
        a = Client(d.sock)
        # The first request is being worked on once its first segment streams.
        a.send("translate", {"text": long_text, "to": "en", "from": "de", "stream": True})
        m = a.read_msg()
        check(m[0] == 2, "expected a streamed segment first: %r" % (m[:3],))
        a.send("translate", {"text": long_text, "to": "en", "from": "de"})  # waits
        m = a.wait_reply(a.send("translate", {"text": "Hallo.", "to": "en", "from": "de"}))
        check(m[2] and m[2]["code"] == "busy" and "max_requests_per_client" in m[2]["message"],
              "third request on a connection: %r" % (m[:3],))
        b = Client(d.sock)
        m = b.wait_reply(b.send("translate", {"text": "Hallo.", "to": "en", "from": "de"}))
        check(m[2] and m[2]["code"] == "busy" and "queue is full" in m[2]["message"],
              "queue full: %r" % (m[:3],))
        st = b.call("status", {})
        check(st["queue"] == 1 and st["in_flight"] == 1, "status: %r" % st)
        # Detection does not queue.
        check("language" in b.call("detect", {"text": "Hallo Welt"}), "detect while busy")
        a.close()
        check(d.stop() == 0, "exit status")
    # max_clients: one connection more is closed at once, and logged.
    with Daemon(exe, settings={"max-clients": 2}) as d:
        c1, c2 = Client(d.sock), Client(d.sock)
        time.sleep(0.2)  # the daemon has accepted both
        c3 = Client(d.sock)
        check(c3.closed_by_peer(), "a third client was served")
        check("max_clients" in d.stderr(), "no log of the refusal")
        c1.close()
        time.sleep(0.2)
        c4 = Client(d.sock)
        check(c4.call("api_info", {})["protocol"] == 1, "not served after a client left")
        check(c2.call("api_info", {})["protocol"] == 1, "second client not served")
        check(d.stop() == 0, "exit status")


def t_second(exe):
    """A second daemon on the same socket is refused; a stale socket is
    replaced; a regular file in its place is not."""
    with Daemon(exe) as d:
        p = subprocess.run(d.cmd, env=d.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        check(p.returncode == 1, "second daemon: exit %d" % p.returncode)
        check(b"already running" in p.stderr, "second daemon said: %r" % p.stderr)
        check(Client(d.sock).call("api_info", {})["protocol"] == 1,
              "the first daemon stopped serving")
        check(d.stop() == 0, "exit status")
        check(not os.path.exists(d.sock), "socket left behind after exit")
        # Stale: a socket file nothing listens on (a daemon that crashed).
        s = socket.socket(socket.AF_UNIX)
        s.bind(d.sock)
        s.close()
        check(os.path.exists(d.sock), "stale socket made")
        d.start()
        check(Client(d.sock).call("api_info", {})["protocol"] == 1, "stale socket replaced")
        check(d.stop() == 0, "exit status")
        # Not a socket: left alone.
        with open(d.sock, "w") as f:
            f.write("not a socket")
        p = subprocess.run(d.cmd, env=d.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        check(p.returncode == 1 and b"not a socket" in p.stderr,
              "a file in the socket's place: %d %r" % (p.returncode, p.stderr))
        with open(d.sock) as f:
            check(f.read() == "not a socket", "the file was changed")


def t_peer(exe):
    """A client of another uid is refused (SO_PEERCRED), even when the
    socket's mode would let it in."""
    if os.geteuid() != 0:
        raise Skip("needs root to run a client as another user (nobody)")
    setpriv = "/usr/bin/setpriv"
    if not os.path.exists(setpriv):
        raise Skip("setpriv is not installed")
    # In /tmp: the other user must be able to reach the socket's folder.
    with Daemon(exe, base=tempfile.gettempdir()) as d:
        os.chmod(d.dir, 0o711)
        os.chmod(d.sock, 0o666)
        code = ("import socket,sys\n"
                "s=socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1])\n"
                "try:\n"
                "    s.sendall(bytes([0x94,0,1,0xa8])+b'api_info'+bytes([0x90]))\n"
                "    d=s.recv(100)\n"
                "except (BrokenPipeError, ConnectionResetError):\n"
                "    d=b''\n"
                "print('closed' if not d else 'answered')\n")
        p = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                            "/usr/bin/python3", "-c", code, d.sock],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        check(p.returncode == 0, "client as nobody failed: %r" % p.stderr)
        check(p.stdout.strip() == b"closed", "client of another uid: %r" % p.stdout)
        check("refused a connection" in d.stderr(), "no log of the refusal")
        check(Client(d.sock).call("api_info", {})["protocol"] == 1, "still serving")
        check(d.stop() == 0, "exit status")


def t_sigterm(exe):
    """SIGTERM in the middle of a request: the request is answered (here
    cancelled after shutdown_timeout_ms), exit 0, the socket is removed,
    and the STOPPING=1 notification is sent."""
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    nsdir = os.environ.get("TEST_TMPDIR", "/tmp")
    npath = os.path.join(nsdir, "notify-%d.sock" % os.getpid())
    if len(npath) > 100:
        npath = "/tmp/ptd-notify-%d.sock" % os.getpid()
    if os.path.exists(npath):
        os.unlink(npath)
    ns.bind(npath)
    ns.settimeout(30)
    try:
        with Daemon(exe, settings={"shutdown-timeout-ms": 300},
                    env={"NOTIFY_SOCKET": npath, "WATCHDOG_USEC": "200000"}) as d:
            msgs = []
            while not any(m.startswith("READY=1") for m in msgs):
                msgs.append(ns.recv(4096).decode())
            c = Client(d.sock)
            notes = []
            mid = c.send("translate", {"text": LONG, "to": "en", "from": "de",
                                       "stream": True})
            while not notes:
                m = c.read_msg()
                if m[0] == 2:
                    notes.append(m)
            while not any(m == "WATCHDOG=1" for m in msgs):
                msgs.append(ns.recv(4096).decode())
            d.signal(signal.SIGTERM)
            m = c.wait_reply(mid)
            check(m[2] is not None and m[2]["code"] in ("shutting_down", "cancelled"),
                  "reply after SIGTERM: %r" % (m[2],))
            check(d.proc.wait(30) == 0, "exit status %r" % d.proc.returncode)
            check(not os.path.exists(d.sock), "socket not removed")
            ns.settimeout(2)
            try:
                while True:
                    msgs.append(ns.recv(4096).decode())
            except socket.timeout:
                pass
            check("STOPPING=1" in msgs, "notifications: %r" % msgs)
        # Without a deadline in the way, work in flight finishes.
        with Daemon(exe) as d:
            c = Client(d.sock)
            mid = c.send("translate", {"text": "Hallo Welt. Wie geht es?", "to": "en",
                                       "from": "de"})
            time.sleep(0.05)
            d.signal(signal.SIGTERM)
            m = c.wait_reply(mid)
            check(m[2] is None and "text" in m[3], "finished reply: %r" % (m,))
            check(d.proc.wait(30) == 0, "exit status")
            try:
                Client(d.sock)
                fail("connected after exit")
            except OSError:
                pass
    finally:
        ns.close()
        os.unlink(npath)


def t_activation(exe):
    """Socket activation through systemd-socket-activate."""
    sa = "/usr/bin/systemd-socket-activate"
    if not os.path.exists(sa):
        raise Skip("systemd-socket-activate is not installed")
    with Daemon(exe, wait=False, model=None) as d:
        d.stop()
        sock = os.path.join(d.dir, "activated.sock")
        p = subprocess.Popen([sa, "-l", sock, exe, "--threads", "1", "--model",
                              fixture("tiny-f32.gguf"), "--config", d.conf],
                             env=d.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            t0 = time.time()
            while not os.path.exists(sock) and time.time() - t0 < 20:
                time.sleep(0.05)
            c = Client(sock)
            r = c.call("api_info", {})
            check(r["protocol"] == 1, "api_info: %r" % r)
            r = c.call("translate", {"text": "Hallo.", "to": "en", "from": "de"})
            check("text" in r, "translate: %r" % r)
            c.close()
            p.send_signal(signal.SIGTERM)
            check(p.wait(30) == 0, "exit status %r" % p.returncode)
            err = p.stderr.read().decode()
            check("the socket systemd passed" in err, "not activated: %s" % err)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


def t_reload(exe):
    """SIGHUP reads the config file again: limits and the log level apply,
    a broken file keeps the old settings, flags still win."""
    with Daemon(exe, config="max_requests_per_client = 8\n",
                settings={"queue-size": 64}) as d:
        with open(d.conf, "w") as f:
            f.write("max_requests_per_client = 1\nlog_level = debug\nqueue_size = 2\n")
        d.signal(signal.SIGHUP)
        t0 = time.time()
        while "reloaded" not in d.stderr() and time.time() - t0 < 10:
            time.sleep(0.05)
        check("reloaded" in d.stderr(), "no reload: %s" % d.stderr())
        check("queue_size 64" in d.stderr(), "the flag lost to the file: %s" % d.stderr())
        c = Client(d.sock)
        c.call("api_info", {})
        check(re.search(r"debug: client \d+: connected", d.stderr()), "log_level not applied")
        ids = [c.send("translate", {"text": LONG[:400], "to": "en", "from": "de"})
               for _ in range(2)]
        m = c.wait_reply(ids[1])
        check(m[2] and m[2]["code"] == "busy", "reloaded limit not applied: %r" % m)
        with open(d.conf, "w") as f:
            f.write("threads = many\n")
        d.signal(signal.SIGHUP)
        t0 = time.time()
        while "keeping the settings" not in d.stderr() and time.time() - t0 < 10:
            time.sleep(0.05)
        check("polytrans.conf:1: threads" in d.stderr(), "bad file: %s" % d.stderr())
        check(c.call("api_info", {})["protocol"] == 1, "still serving")
        check(d.stop() == 0, "exit status")


def t_status(exe):
    """status and api_info have every field, with the right types."""
    with Daemon(exe) as d:
        c = Client(d.sock)
        st0 = c.call("status", {})
        c.call("translate", {"text": "Hallo Welt.", "to": "en", "from": "de"})
        st = c.call("status", {})
        for k, t in [("version", str), ("model", dict), ("uptime_s", float), ("queue", int),
                     ("in_flight", int), ("clients", int), ("counters", dict),
                     ("tokens_per_s", float), ("rss_bytes", int)]:
            check(isinstance(st.get(k), t), "status.%s: %r" % (k, st.get(k)))
        m = st["model"]
        check(m["path"].endswith("tiny-f32.gguf") and m["kind"] == "base" and
              m["type"] == "f32" and m["params"] > 0 and m["context"] == 128 and
              m["bundled"] is False, "model: %r" % m)
        check(st["clients"] == 1 and
              st["counters"]["requests"] == st0["counters"]["requests"] + 2 and
              st["counters"]["tokens"] > 0 and st["rss_bytes"] > 1 << 20, "status: %r" % st)
        ai = c.call("api_info", {})
        check(ai["protocol"] == 1 and set(ai["methods"]) >=
              {"translate", "detect", "languages", "status", "api_info", "cancel"} and
              all(x.startswith("job.") for x in set(ai["methods"]) -
                  {"translate", "detect", "languages", "status", "api_info", "cancel"}),
              "api_info: %r" % ai)
        langs = c.call("languages", {})["languages"]
        check([x["code"] for x in langs] == "zh en es de fr pt ru it ar ja ko th vi id pl tr nl he"
              .split(), "languages: %r" % langs)
        check(d.stop() == 0, "exit status")


def t_cli(exe):
    """Flags: --help names every setting, --version, usage errors exit 2,
    a missing model says how to get one, --check-config."""
    with Daemon(exe, wait=False, model=None) as d:
        d.stop()
        runp = lambda *a, **kw: subprocess.run(  # noqa: E731
            [exe] + list(a), env=kw.get("env", d.env), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=60)
        p = runp("--help")
        check(p.returncode == 0, "--help")
        for key in ("model", "socket", "threads", "log_level", "max_clients",
                    "max_requests_per_client", "max_message_bytes", "max_text_bytes",
                    "queue_size", "ctx_tokens", "max_beams", "batch_size", "prefix_cache", "retry_beams",
                    "beams", "max_tokens",
                    "shutdown_timeout_ms", "idle_exit", "state_dir", "prompt_template"):
            check(key.encode() in p.stdout, "--help lacks %s" % key)
        p = runp("--version")
        check(p.returncode == 0 and p.stdout.startswith(b"polytransd "), "--version")
        for bad in (["--bogus", "1"], ["stray"], ["--threads"]):
            p = runp(*bad)
            check(p.returncode == 2, "%r: exit %d" % (bad, p.returncode))
        p = runp("--threads", "9999", "--model", fixture("tiny-f32.gguf"))
        check(p.returncode == 1 and b"threads" in p.stderr and b"256" in p.stderr,
              "range error: %r" % p.stderr)
        # The bundled model (installed, or the source tree's for a daemon
        # run from its build folder) is found when nothing else is named.
        p = runp("--config", d.conf, "--check-config")
        if p.returncode == 0 and b"bundled.gguf" in p.stdout:
            print("note: a bundled model is found; the no-model case is not checked")
        else:
            p = runp("--config", d.conf)
            check(p.returncode == 1 and b"polylm-convert" in p.stderr and
                  b"no model" in p.stderr, "no model: %r" % p.stderr)
        p = runp("--model", fixture("tiny-f32.gguf"), "--check-config")
        check(p.returncode == 0 and b"tiny-f32.gguf" in p.stdout, "--check-config")
        # The data folder is searched.
        models = os.path.join(d.env["XDG_DATA_HOME"], "polytrans", "models")
        os.makedirs(models)
        os.symlink(fixture("tiny-f32.gguf"), os.path.join(models, "b.gguf"))
        os.symlink(fixture("tiny-q8_0.gguf"), os.path.join(models, "a.gguf"))
        p = runp("--check-config")
        check(p.returncode == 0 and b"models/a.gguf" in p.stdout, "data folder: %r" % p.stdout)
        # A damaged model file is refused with its name.
        bad = os.path.join(d.dir, "bad.gguf")
        with open(bad, "wb") as f:
            f.write(b"GGUF\x03\x00\x00\x00" + b"\x00" * 8)
        p = runp("--model", bad)
        check(p.returncode == 1 and b"bad.gguf" in p.stderr, "bad model: %r" % p.stderr)


def t_idle(exe):
    """idle_exit: the daemon exits 0 after that many idle seconds. Under
    the journal (JOURNAL_STREAM) log lines carry syslog priorities."""
    with Daemon(exe, settings={"idle-exit": 1}, env={"JOURNAL_STREAM": "8:1234"}) as d:
        check(d.proc.wait(30) == 0, "exit status %r" % d.proc.returncode)
        log = d.stderr().splitlines()
        check(any("idle_exit" in x for x in log), "log: %s" % log)
        check(log and all(re.match(r"^<[3-7]>", x) for x in log), "journal lines: %s" % log)
        check(any(x.startswith("<6>") and "serving on" in x for x in log), "info: %s" % log)


def t_backpressure(exe):
    """A client that sends without reading its replies is paused once
    8 MiB of replies wait for it, resumed when it reads; it gets every
    reply, and another client is served meanwhile."""
    with Daemon(exe, settings={"log-level": "debug"}) as d:
        c = Client(d.sock, timeout=120)
        n = 20000  # about 1.1 KB of reply each: over 20 MB in all
        req = b"".join(msgpack.packb([0, i, "languages", []]) for i in range(n))
        sender = threading.Thread(target=c.send_raw, args=(req,))
        sender.start()
        t0 = time.time()
        while "pausing its input" not in d.stderr() and time.time() - t0 < 60:
            time.sleep(0.05)
        check("pausing its input" in d.stderr(), "never paused:\n%s" % d.stderr()[-2000:])
        w = Client(d.sock)
        check("language" in w.call("detect", {"text": "Guten Tag"}), "witness not served")
        seen = set()
        while len(seen) < n:
            m = c.read_msg()
            check(m[0] == 1 and m[2] is None and m[1] not in seen, "reply %r" % m[:3])
            seen.add(m[1])
        sender.join(60)
        check(seen == set(range(n)), "replies missing")
        check(d.stop() == 0, "exit status")


TESTS = {
    "translate": t_translate, "parallel": t_parallel, "cancel": t_cancel,
    "malformed": t_malformed, "limits": t_limits, "second": t_second, "peer": t_peer,
    "sigterm": t_sigterm, "activation": t_activation, "reload": t_reload,
    "status": t_status, "cli": t_cli, "idle": t_idle, "backpressure": t_backpressure,
}

if __name__ == "__main__":
    sys.exit(run(TESTS))
