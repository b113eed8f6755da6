#!/usr/bin/python3
"""test-batch.py POLYTRANSD TEST: continuous batching in polytransd with the
tiny fixture model. Tests:

  same    translate requests sent together (several pairs, several segments
          each, streamed or not) get exactly the answers they get when each is
          sent alone, and alone with batch_size 1; the daemon's debug log shows
          segments in more than one slot and prompts started on a cached
          prefix (with fewer prefix_cache entries than pairs, so the least
          recently used pair is evicted and computed again).
  cancel  cancelling one of several requests decoded together ends it with
          `cancelled` while the others finish with their answers alone.
  noretry with retry_beams 0 no answer is retried with beam search (answers of
          the random-weight model fail their checks: they are kept, with a
          warning that says so); with the default, failed answers are retried.
"""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptdtest import Client, Daemon, check, run  # noqa: E402

REQUESTS = [
    {"text": "Guten Morgen. Wie geht es dir heute?", "from": "de", "to": "en"},
    {"text": "Bonjour tout le monde. Je suis content.\n\nAu revoir.", "from": "fr", "to": "en"},
    {"text": "The weather is nice today. We go to the park.", "from": "en", "to": "de"},
    {"text": "今天天气很好。我们去公园吧。", "from": "zh", "to": "en"},
    {"text": "Das ist ein langer Satz über das Wetter, die Stadt und den Fluss.",
     "from": "de", "to": "en", "max_tokens": 40},
    {"text": "Hallo.", "from": "de", "to": "en"},
    {"texts": ["Eins.", "Zwei und drei.", "Vier, fünf, sechs."], "from": "de", "to": "fr"},
    {"text": "Привет, мир! Как дела?", "from": "ru", "to": "en", "stream": True},
    {"text": "Das Haus ist groß. Der Garten ist klein.", "from": "de", "to": "en",
     "stream": True},
    {"text": "こんにちは。元気ですか？", "from": "ja", "to": "en"},
]

# What must agree between two answers to the same request.
KEYS = ("text", "texts", "from", "to", "warnings", "tokens")


def answer(r):
    return {k: r.get(k) for k in KEYS}


def send_alone(d, reqs):
    """Each request on its own, one after the other."""
    out = []
    c = Client(d.sock, timeout=300)
    for p in reqs:
        notes = []
        r = c.call("translate", p, notes)
        out.append((answer(r), notes))
    c.close()
    return out


def send_together(d, reqs):
    """Every request at once, each from its own connection."""
    out = [None] * len(reqs)
    errors = []
    start = threading.Barrier(len(reqs))

    def one(i):
        try:
            c = Client(d.sock, timeout=300)
            start.wait()
            notes = []
            r = c.call("translate", reqs[i], notes)
            out[i] = (answer(r), notes)
            c.close()
        except Exception as e:  # reported below
            errors.append("request %d: %r" % (i, e))

    th = [threading.Thread(target=one, args=(i,)) for i in range(len(reqs))]
    for t in th:
        t.start()
    for t in th:
        t.join(600)
    check(not errors, "\n".join(errors))
    return out


def streamed_text(notes):
    """The text of a request's streamed segments, item by item."""
    items = {}
    for n in notes:
        p = n[2][0]
        items.setdefault(p.get("item", 0), []).append((p["index"], p["text"]))
    return {k: "".join(t for _, t in sorted(v)) for k, v in items.items()}


def t_same(exe):
    settings = {"log_level": "debug", "batch_size": 4, "prefix_cache": 2}
    with Daemon(exe, settings=settings) as d:
        alone = send_alone(d, REQUESTS)
        together = send_together(d, REQUESTS)
        # Twice: the second round starts on prefixes cached by the first.
        together2 = send_together(d, REQUESTS)
        log = d.stderr()
        check(d.stop() == 0, "exit status")
    with Daemon(exe, settings={"batch_size": 1}) as d1:
        single = send_alone(d1, REQUESTS)
    for i, p in enumerate(REQUESTS):
        a = alone[i][0]
        check("text" in a or "texts" in a, "request %d: %r" % (i, a))
        check(together[i][0] == a, "request %d: together %r, alone %r" % (i, together[i][0], a))
        check(together2[i][0] == a, "request %d: second round %r, alone %r"
              % (i, together2[i][0], a))
        check(single[i][0] == a, "request %d: batch_size 1 %r, batch_size 4 %r"
              % (i, single[i][0], a))
        if p.get("stream"):
            for got in (alone[i][1], together[i][1]):
                check(len(got) >= 2, "request %d: %d segments streamed" % (i, len(got)))
                check(streamed_text(got) == {0: a["text"]},
                      "request %d: streamed %r, answer %r" % (i, streamed_text(got), a["text"]))
    slots = {int(m) for m in re.findall(r"batched generate: slot (\d+),", log)}
    check(len(slots) >= 2, "segments only ever in slots %r:\n%s" % (slots, log[-3000:]))
    check(max(slots) < 4, "slot %d with batch_size 4" % max(slots))
    reused = [int(m) for m in re.findall(r"batched generate: slot \d+, prompt \d+ tokens "
                                         r"\((\d+) reused", log)]
    check(any(n > 10 for n in reused), "no prompt started on a cached prefix: %r" % reused)
    computed = re.findall(r"prefix cache: (\w+->\w+), \d+ tokens computed", log)
    pairs = {(p["from"], p["to"]) for p in REQUESTS}
    check(len(set(computed)) == len(pairs),
          "prefixes computed for %r, pairs %r" % (set(computed), pairs))
    check(len(computed) > len(pairs), "2 cache entries for %d pairs, yet no pair was "
          "computed twice: %r" % (len(pairs), computed))
    print("%d requests, %d segments decoded in %d slots; %d prefix computations for %d pairs"
          % (len(REQUESTS), len(reused), len(slots), len(computed), len(pairs)))


LONG = " ".join("Das ist der Satz Nummer %d, und er ist ziemlich lang." % i for i in range(60))


def t_cancel(exe):
    others = [REQUESTS[0], REQUESTS[2], REQUESTS[6], REQUESTS[8]]
    with Daemon(exe, settings={"log_level": "debug"}) as d:
        alone = send_alone(d, others)
        victim = Client(d.sock, timeout=300)
        mid = victim.send("translate", {"text": LONG, "from": "de", "to": "en", "stream": True})
        # The victim is in the slots once its first segment streams.
        while True:
            m = victim.read_msg()
            if m[0] == 2:
                break
        out = [None] * len(others)
        errors = []

        def one(i):
            try:
                c = Client(d.sock, timeout=300)
                notes = []
                out[i] = (answer(c.call("translate", others[i], notes)), notes)
                c.close()
            except Exception as e:  # reported below
                errors.append("request %d: %r" % (i, e))

        th = [threading.Thread(target=one, args=(i,)) for i in range(len(others))]
        for t in th:
            t.start()
        time.sleep(0.05)
        r = victim.call("cancel", {"request": mid})
        check(r == {"cancelled": True}, "cancel: %r" % r)
        m = victim.wait_reply(mid)
        check(m[2] is not None and m[2]["code"] == "cancelled", "cancelled request: %r" % m)
        for t in th:
            t.join(600)
        check(not errors, "\n".join(errors))
        for i in range(len(others)):
            check(out[i][0] == alone[i][0], "request %d beside a cancelled one: %r, alone %r"
                  % (i, out[i][0], alone[i][0]))
        st = victim.call("status", {})
        check(st["queue"] == 0 and st["in_flight"] == 0, "work left after the cancel: %r" % st)
        log = d.stderr()
        check(d.stop() == 0, "exit status")
    slots = {int(m) for m in re.findall(r"batched generate: slot (\d+),", log)}
    check(len(slots) >= 2, "never more than one slot in use: %r" % slots)
    print("cancelled a request beside %d others decoded with it (slots %s)"
          % (len(others), sorted(slots)))


def t_noretry(exe):
    reqs = REQUESTS[:4]
    logs, warns = {}, {}
    for rb in (0, 4):
        with Daemon(exe, settings={"log_level": "debug", "retry_beams": rb}) as d:
            res = send_together(d, reqs)
            logs[rb] = d.stderr()
            check(d.stop() == 0, "exit status")
        warns[rb] = [w for a, _ in res for w in (a["warnings"] or [])]
    check("beam search:" not in logs[0], "a beam search with retry_beams 0")
    check(any("kept as it is" in w for w in warns[0]), "no warning: %r" % warns[0])
    check(not any("retry" in w for w in warns[0]), "a retry named: %r" % warns[0])
    check("beam search: 4 beams" in logs[4], "no retry with the default")
    check(any("after a retry with 4 beams" in w for w in warns[4]), "warnings: %r" % warns[4])
    print("retry_beams 0: %d warnings, no beam search; 4: retries" % len(warns[0]))


if __name__ == "__main__":
    sys.exit(run({"same": t_same, "cancel": t_cancel, "noretry": t_noretry}))
