#!/usr/bin/python3
"""mock-daemon.py --socket PATH [--model FILE]: a stand-in for polytransd.

Speaks the msgpack-RPC protocol of polytrans-protocol(7) with canned
behaviour, so the client's handling of streaming, errors, cancellation,
splitting and daemon start-up can be tested exactly, without a model:

  translate  the text is cut after every run of line ends; each piece
             becomes "<TO>" + PIECE.upper() with its line ends kept;
             segments are streamed in swapped pairs (1, 0, 3, 2, ...) to
             test that the client reorders them. Special words:
             FAILME (error reply "unsupported_language"), WARNME (a
             warning), SLOWME (no answer until cancelled), DROPME (the
             connection is closed). A text longer than $MOCK_MAX_TEXT
             bytes gets "too_large".
  detect     "de" for texts with "der"/"und", "es" with "hola", "und"
             for texts without letters, else "en".
  languages  the 18 codes; status: a fixed map; api_info: protocol 1.
  job.*      jobs kept for the life of the mock (so a later client can
             reattach): one segment per piece as translate cuts them,
             done at one per $MOCK_JOB_STEP seconds (0.02), job.progress
             sent to subscribers at each one. Words in a file: SLOWJOB
             (0.5 s per segment), FAILJOB (fails halfway, a disk error on
             that file), FLAGME (the report flags segment 1), BADDOC (the
             submission is refused). $MOCK_NOJOBS answers every job method
             as a polytransd without jobs does; $MOCK_DASH_ID makes ids
             start with '-'. With $MOCK_STATE (a file) jobs survive a
             restart of the mock, their clocks running on meanwhile.

Every request is appended to $MOCK_LOG as a JSON line. With $MOCK_NOMODEL
set it prints a no-model message and exits 1, as polytransd does.
"""

import fcntl
import json
import os
import random
import re
import selectors
import signal
import socket
import sys
import time

import msgpack

LANGS = [("zh", "Chinese", "中文", "Hans"), ("en", "English", "English", "Latn"),
         ("es", "Spanish", "Español", "Latn"), ("de", "German", "Deutsch", "Latn"),
         ("fr", "French", "Français", "Latn"), ("pt", "Portuguese", "Português", "Latn"),
         ("ru", "Russian", "Русский", "Cyrl"), ("it", "Italian", "Italiano", "Latn"),
         ("ar", "Arabic", "العربية", "Arab"), ("ja", "Japanese", "日本語", "Jpan"),
         ("ko", "Korean", "한국어", "Kore"), ("th", "Thai", "ไทย", "Thai"),
         ("vi", "Vietnamese", "Tiếng Việt", "Latn"), ("id", "Indonesian", "Bahasa Indonesia", "Latn"),
         ("pl", "Polish", "Polski", "Latn"), ("tr", "Turkish", "Türkçe", "Latn"),
         ("nl", "Dutch", "Nederlands", "Latn"), ("he", "Hebrew", "עברית", "Hebr")]

START = time.time()
JOBS = {}        # id -> Job, in submission order
ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def log(entry):
    path = os.environ.get("MOCK_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def pieces(text):
    return [m.group(0) for m in re.finditer(r"[^\n]+\n*|\n+", text)]


def translate_piece(piece, to):
    body = piece.rstrip("\n")
    return "<%s>%s%s" % (to.upper(), body.upper(), piece[len(body):]) if body else piece


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.unpacker = msgpack.Unpacker(raw=False)
        self.out = bytearray()
        self.slow = {}  # msgid of SLOWME requests waiting for a cancel

    def send(self, obj):
        self.out += msgpack.packb(obj, use_bin_type=True)

    def reply(self, msgid, result=None, code=None, message=""):
        err = {"code": code, "message": message} if code else None
        self.send([1, msgid, err, None if code else result])


def do_translate(c, msgid, p):
    text, to, frm = p.get("text", ""), p["to"], p.get("from", "auto")
    log({"method": "translate", "len": len(text.encode()), "from": frm, "to": to,
         "beams": p.get("beams"), "max_tokens": p.get("max_tokens")})
    limit = int(os.environ.get("MOCK_MAX_TEXT", "0"))
    if limit and len(text.encode()) > limit:
        return c.reply(msgid, code="too_large", message="text over %d bytes" % limit)
    if "FAILME" in text:
        return c.reply(msgid, code="unsupported_language", message="mock refuses FAILME")
    if "SLOWME" in text:
        c.slow[msgid] = True
        return None
    if "DROPME" in text:
        return "drop"
    out = [translate_piece(x, to) for x in pieces(text)]
    if p.get("stream"):
        order = list(range(len(out)))
        for i in range(0, len(order) - 1, 2):
            order[i], order[i + 1] = order[i + 1], order[i]
        for i in order:
            c.send([2, "translate.segment", [{"request": msgid, "index": i, "text": out[i]}]])
    res = {"text": "".join(out), "from": "de" if frm == "auto" else frm, "to": to,
           "tokens": len(out), "ms": 1}
    if "WARNME" in text:
        res["warnings"] = ["segment 0 is not in the target language"]
    return c.reply(msgid, res)


def do_detect(c, msgid, p):
    text = p["text"]
    log({"method": "detect", "len": len(text.encode()), "top": p.get("top")})
    low = text.lower()
    if not re.search(r"[^\W\d_]", text):
        return c.reply(msgid, {"language": "und", "confidence": 0.0,
                               "candidates": [{"language": "und", "confidence": 0.0}]})
    lang = "de" if re.search(r"\b(der|und)\b", low) else "es" if "hola" in low else "en"
    cands = [{"language": lang, "confidence": 0.75}, {"language": "nl", "confidence": 0.125}]
    return c.reply(msgid, {"language": lang, "confidence": 0.75,
                           "candidates": cands[:p.get("top", 3)]})


class Job:
    def save(self):
        return {"id": self.id, "to": self.to, "files": self.files, "output": self.output,
                "created": self.created, "start": self.start}

    @classmethod
    def load(cls, d):
        j = cls({"to": d["to"], "output": d["output"]}, [tuple(f) for f in d["files"]])
        j.id, j.created, j.start = d["id"], d["created"], d["start"]
        return j

    def __init__(self, p, files):
        self.id = ("-" if os.environ.get("MOCK_DASH_ID") else random.choice(ID_CHARS[:62])) + \
            "".join(random.choice(ID_CHARS) for _ in range(21))
        self.to, self.files = p["to"], files   # files: [(name, text)]
        self.output = p.get("output")
        self.created = int(time.time())
        self.start = time.time()
        text = "".join(t for _, t in files)
        self.step = 0.5 if "SLOWJOB" in text else float(os.environ.get("MOCK_JOB_STEP", "0.02"))
        self.segs = [len([x for x in pieces(t) if x.strip("\n")]) for _, t in files]
        self.total = sum(self.segs)
        self.fail_at = self.total // 2 if "FAILJOB" in text else None
        self.flag = "FLAGME" in text
        self.state, self.done, self.errors = "running", 0, []
        self.subs = set()

    def advance(self):
        """Moves on with time; True when something changed."""
        if self.state != "running":
            return False
        done = min(self.total, int((time.time() - self.start) / self.step))
        if self.fail_at is not None and done >= self.fail_at:
            done = self.fail_at
            name = next(n for n, t in self.files if "FAILJOB" in t)
            self.state, self.errors = "failed", [{"file": name, "message": "mock: no space left on device"}]
        elif done >= self.total:
            self.state = "done"
        changed = done != self.done or self.state != "running"
        self.done = done
        return changed

    def info(self):
        eta = None
        if self.state == "running" and self.done:
            eta = (time.time() - self.start) / self.done * (self.total - self.done)
        return {"job": self.id, "state": self.state, "to": self.to, "files": len(self.files),
                "done": self.done, "total": self.total,
                "percent": 100.0 * self.done / self.total if self.total else 100.0,
                "eta_s": eta, "created": self.created, "errors": self.errors}

    def output_of(self, i):
        name, text = self.files[i]
        return "".join(translate_piece(x, self.to) for x in pieces(text))


def save_jobs():
    path = os.environ.get("MOCK_STATE")
    if path:
        with open(path, "w") as f:
            json.dump([j.save() for j in JOBS.values()], f)


def load_jobs():
    path = os.environ.get("MOCK_STATE")
    if path and os.path.exists(path):
        with open(path) as f:
            for d in json.load(f):
                j = Job.load(d)
                JOBS[j.id] = j


def tick_jobs(conns):
    for j in JOBS.values():
        if j.advance():
            for c in list(j.subs):
                if c in conns:
                    c.send([2, "job.progress", [j.info()]])
                else:
                    j.subs.discard(c)


def do_job(c, msgid, method, p):
    if os.environ.get("MOCK_NOJOBS"):
        return c.reply(msgid, code="unknown_method",
                       message="%s: batch jobs are not available in this version of polytransd" % method)
    if method == "job.submit":
        files = []
        for f in p.get("files") or []:
            content = f["content"]
            files.append((f["name"], content.decode() if isinstance(content, bytes) else content))
        for path in p.get("paths") or []:
            with open(path, encoding="utf-8") as f:
                files.append((os.path.basename(path), f.read()))
        log({"method": method, "names": [n for n, _ in files], "inline": bool(p.get("files")),
             "paths": p.get("paths"), "to": p["to"], "from": p.get("from", "auto"),
             "format": p.get("format", "auto"), "priority": p.get("priority", 0),
             "output": p.get("output"), "subscribe": p.get("subscribe", False),
             "sizes": [len(t.encode()) for _, t in files]})
        if any("BADDOC" in t for _, t in files):
            return c.reply(msgid, code="bad_request", message="doc.md: line 3: mock refuses BADDOC")
        j = Job(p, files)
        JOBS[j.id] = j
        save_jobs()
        if p.get("subscribe"):
            j.subs.add(c)
        return c.reply(msgid, {"job": j.id})
    if method == "job.list":
        log({"method": method})
        return c.reply(msgid, {"jobs": [j.info() for j in JOBS.values()]})
    j = JOBS.get(p.get("job"))
    log({"method": method, "job": p.get("job"), "subscribe": p.get("subscribe", False)})
    if j is None:
        return c.reply(msgid, code="not_found", message="no job %s" % p.get("job"))
    if method == "job.status":
        if p.get("subscribe"):
            j.subs.add(c)
        return c.reply(msgid, j.info())
    if method == "job.cancel":
        ok = j.state in ("queued", "running", "failed")
        if ok:
            j.state = "cancelled"
            for s in j.subs:
                s.send([2, "job.progress", [j.info()]])
        return c.reply(msgid, {"cancelled": ok})
    if method == "job.result":
        outs = []
        if j.state == "done":
            for i, (name, _) in enumerate(j.files):
                if j.output:
                    path = os.path.join(j.output, name)
                    with open(path, "w") as f:
                        f.write(j.output_of(i))
                    outs.append({"name": name, "path": path})
                else:
                    outs.append({"name": name, "content": j.output_of(i).encode()})
        msgs = ["%s: segment 1 lost or changed a placeholder or markup, even after a retry"
                % j.files[0][0]] if j.flag else []
        return c.reply(msgid, {"job": j.id, "state": j.state, "outputs": outs,
                               "report": {"segments": j.total, "flagged": len(msgs), "messages": msgs}})
    return c.reply(msgid, code="unknown_method", message="no method %s" % method)


def handle(c, msg):
    if msg[0] != 0:
        return None
    _, msgid, method, params = msg
    p = params[0] if params else {}
    if method == "api_info":
        return c.reply(msgid, {"protocol": 1, "version": "mock",
                               "methods": ["translate", "detect", "languages", "status",
                                           "api_info", "cancel"]})
    if method == "translate":
        return do_translate(c, msgid, p)
    if method == "detect":
        return do_detect(c, msgid, p)
    if method == "languages":
        log({"method": "languages"})
        return c.reply(msgid, {"languages": [{"code": a, "name": b, "native": n, "script": s}
                                             for a, b, n, s in LANGS]})
    if method == "status":
        log({"method": "status"})
        return c.reply(msgid, {
            "version": "mock-%d" % os.getpid(),
            "model": {"path": os.environ.get("MOCK_MODEL", "/m/tiny.gguf"), "name": "tiny",
                      "kind": "base", "type": "f32", "bundled": False, "params": 123456,
                      "context": 512},
            "uptime_s": time.time() - START, "queue": 0, "in_flight": 0, "clients": 1,
            "counters": {"requests": 3, "errors": 1, "tokens": 42},
            "tokens_per_s": 12.5, "rss_bytes": 1 << 20})
    if method.startswith("job."):
        return do_job(c, msgid, method, p)
    if method == "cancel":
        req = p["request"]
        log({"method": "cancel", "request": req})
        found = c.slow.pop(req, None) is not None
        if found:
            c.reply(req, code="cancelled", message="cancelled by the client")
        return c.reply(msgid, {"cancelled": found})
    return c.reply(msgid, code="unknown_method", message="no method %s" % method)


def serve(path):
    lock = open(path + ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(16)
    delay = float(os.environ.get("MOCK_LISTEN_DELAY", "0"))
    if delay:
        time.sleep(delay)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    conns = {}
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    while not stop:
        busy = any(j.state == "running" for j in JOBS.values())
        for key, _ in sel.select(0.01 if busy else 0.2):
            if key.data is None:
                s, _ = srv.accept()
                conns[s] = Conn(s)
                sel.register(s, selectors.EVENT_READ, conns[s])
                log({"event": "connect"})
                continue
            c = key.data
            try:
                data = c.sock.recv(1 << 20)
            except OSError:
                data = b""
            drop = not data
            if data:
                c.unpacker.feed(data)
                for msg in c.unpacker:
                    if handle(c, msg) == "drop":
                        drop = True
                        break
            if c.out and not drop:
                try:
                    c.sock.sendall(bytes(c.out))
                except OSError:
                    drop = True
                c.out.clear()
            if drop:
                sel.unregister(c.sock)
                c.sock.close()
                del conns[c.sock]
        tick_jobs(set(conns.values()))
        for c in list(conns.values()):
            if c.out:
                try:
                    c.sock.sendall(bytes(c.out))
                except OSError:
                    pass
                c.out.clear()
    os.unlink(path)


def main():
    args = sys.argv[1:]
    sock = None
    while args:
        a = args.pop(0)
        if a == "--socket":
            sock = args.pop(0)
        elif a == "--model":
            os.environ["MOCK_MODEL"] = args.pop(0)
        else:
            print("mock-daemon: unknown argument %s" % a, file=sys.stderr)
            return 2
    log({"event": "start", "argv": sys.argv[1:], "cwd": os.getcwd(), "sid": os.getsid(0) == os.getpid()})
    if os.environ.get("MOCK_NOMODEL"):
        print("polytransd: error: no model found. Convert one with polylm-convert and put "
              "it in ~/.local/share/polytrans/models/", file=sys.stderr)
        return 1
    load_jobs()
    serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
