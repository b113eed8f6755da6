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

Every request is appended to $MOCK_LOG as a JSON line. With $MOCK_NOMODEL
set it prints a no-model message and exits 1, as polytransd does.
"""

import fcntl
import json
import os
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
        for key, _ in sel.select(0.2):
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
    serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
