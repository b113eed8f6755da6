#!/usr/bin/python3
"""Load: 64 clients x 200 requests, mixed, against one polytransd with the
tiny fixture model on a loopback Unix socket (issue 7, item 3).

Each client sends its 200 requests one operation at a time, in a seeded
random mix:
  translate   a short sentence, a few answer tokens: a translation comes back
  detect      a sentence in one of several languages: a language comes back
  status      the daemon's counters
  cancel      a translate, then `cancel` of it (2 requests): cancelled true
              and the translate answered `cancelled`, or cancelled false and
              the translate answered with its translation
  disconnect  a translate, then the connection closed without reading
              (the daemon cancels it); the client connects again
Every request must be answered (or cancelled) as asked, with no error; a
third of the translate requests stream their segments. Afterwards the
daemon holds as many descriptors and threads as before.

Memory: the daemon's RSS (VmRSS of /proc/PID/status) is sampled while the
load runs; the highest RSS during the first thousand answered requests
and the highest during the last thousand may differ by at most
4 MiB (32 MiB in an AddressSanitizer build, whose quarantine, 16 MiB
here, holds freed memory). It prints requests per second and the
memory figures. LOAD_CLIENTS and LOAD_REQUESTS change the shape (for a
longer run by hand); LOAD_SEED the mix; LOAD_TRACE=1 prints the RSS
along the run.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hardtest import Client, Closed, Daemon, Skip, check, fail, sanitized  # noqa: E402

SENTENCES = [
    ("de", "Guten Morgen, wie geht es dir?"),
    ("fr", "Le chat dort sur le canapé."),
    ("es", "Mañana vamos a la playa con mis amigos."),
    ("it", "Oggi il tempo è bellissimo."),
    ("ru", "Сегодня мы идём в кино."),
    ("pl", "Wczoraj byłem w sklepie."),
    ("en", "The weather is lovely today."),
]
TARGETS = ["en", "de", "fr", "zh"]
MIX = [("translate", 40), ("detect", 25), ("status", 15), ("cancel", 10),
       ("disconnect", 10)]


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = 0
        self.by_kind = {}

    def add(self, kind, n=1):
        with self.lock:
            self.n += n
            self.by_kind[kind] = self.by_kind.get(kind, 0) + n

    def note(self, what):
        """An outcome, not a request."""
        with self.lock:
            self.by_kind[what] = self.by_kind.get(what, 0) + 1


def pick(rng):
    r = rng.uniform(0, sum(w for _, w in MIX))
    for kind, w in MIX:
        if r < w:
            return kind
        r -= w
    return MIX[-1][0]


def translate_params(rng, tokens):
    src, text = rng.choice(SENTENCES)
    # A third streamed: segment notifications go to clients that may have
    # left or cancelled by then.
    return {"text": text, "to": rng.choice([t for t in TARGETS if t != src]),
            "from": src, "max_tokens": tokens, "stream": rng.random() < 0.3}


def expect_ok(m, what):
    check(m[2] is None, "%s: error %r" % (what, m[2]))
    return m[3]


def client_run(sock, k, n_req, seed, count, errors):
    rng = random.Random(seed * 1000 + k)
    c = Client(sock, timeout=120)
    sent = 0
    try:
        while sent < n_req:
            kind = pick(rng)
            if kind == "cancel" and n_req - sent < 2:
                kind = "status"
            if kind == "translate":
                res = expect_ok(c.wait_reply(c.send("translate", translate_params(rng, 3))),
                                "translate")
                check(isinstance(res.get("text"), str) and res.get("to"), "translate: %r" % res)
                sent += 1
            elif kind == "detect":
                lang, text = rng.choice(SENTENCES)
                res = expect_ok(c.wait_reply(c.send("detect", {"text": text})), "detect")
                check(isinstance(res.get("language"), str) and len(res["language"]) >= 2,
                      "detect: %r" % res)
                sent += 1
            elif kind == "status":
                res = expect_ok(c.wait_reply(c.send("status", {})), "status")
                check("counters" in res and "clients" in res, "status: %r" % res)
                sent += 1
            elif kind == "cancel":
                # A longer answer, so that the cancel usually finds it.
                tid = c.send("translate", translate_params(rng, 24))
                cid = c.send("cancel", {"request": tid})
                cres = expect_ok(c.wait_reply(cid), "cancel")
                tm = c.wait_reply(tid)
                if cres.get("cancelled"):
                    check(tm[2] is not None and tm[2].get("code") == "cancelled",
                          "cancel said cancelled, the request was answered %r" % (tm[2:],))
                    count.note("cancelled")
                else:
                    expect_ok(tm, "translate cancelled too late")
                    count.note("cancel-too-late")
                sent += 2
            else:
                c.send("translate", translate_params(rng, 24))
                c.close()
                c = Client(sock, timeout=120)
                sent += 1
            count.add(kind, 2 if kind == "cancel" else 1)
    except Closed:
        errors.append("client %d: the daemon closed the connection after %d requests"
                      % (k, sent))
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        errors.append("client %d after %d requests: %s" % (k, sent, e))
    finally:
        c.close()


def sample(d, count, total, samples, stop):
    while not stop.is_set():
        rss = d.rss_kb()
        if rss is not None:
            samples.append((count.n, rss))
        time.sleep(0.05)


def main(exe):
    n_clients = int(os.environ.get("LOAD_CLIENTS", 64))
    n_req = int(os.environ.get("LOAD_REQUESTS", 200))
    seed = int(os.environ.get("LOAD_SEED", 7))
    asan = sanitized(exe)
    bound_kb = 32768 if asan else 4096
    total = n_clients * n_req
    # Room for every client's requests in the queue: a busy reply would be
    # an error here, and queue limits have their own tests.
    with Daemon(exe, settings={"max_clients": n_clients + 8, "queue_size": 4 * n_clients,
                               "max_tokens": 3, "log_level": "warn"}) as d:
        time.sleep(0.3)  # the start-up check's connection is closed by now
        fds0, threads0 = d.n_fds(), len(os.listdir("/proc/%d/task" % d.proc.pid))
        count, errors, samples = Counter(), [], []
        stop = threading.Event()
        sampler = threading.Thread(target=sample, args=(d, count, total, samples, stop))
        sampler.start()
        threads = [threading.Thread(target=client_run,
                                    args=(d.sock, k, n_req, seed, count, errors))
                   for k in range(n_clients)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        dt = time.time() - t0
        stop.set()
        sampler.join()
        check(not any(t.is_alive() for t in threads), "clients still running after 600 s")
        if errors:
            fail("%d clients failed; first: %s\n%s" % (len(errors), errors[0],
                                                       d.stderr()[-3000:]))
        check(count.n == total, "%d requests sent, expected %d" % (count.n, total))
        check(d.alive(), "polytransd died:\n%s" % d.stderr()[-3000:])
        # Afterwards: nothing queued or running, no client left but us.
        c = Client(d.sock)
        for _ in range(100):
            st = c.call("status", {})
            if st["clients"] == 1 and st["queue"] == 0 and st["in_flight"] == 0:
                break
            time.sleep(0.1)
        check(st["clients"] == 1, "clients left after the load: %r" % st)
        check(st["queue"] == 0 and st["in_flight"] == 0,
              "work left after the load: %r" % st)
        c.close()
        time.sleep(0.3)
        fds1, threads1 = d.n_fds(), len(os.listdir("/proc/%d/task" % d.proc.pid))
        print("daemon descriptors %d before, %d after; threads %d before, %d after"
              % (fds0, fds1, threads0, threads1))
        check(fds1 == fds0, "descriptors leaked: %d before the load, %d after" % (fds0, fds1))
        check(threads1 == threads0, "threads: %d before the load, %d after"
              % (threads0, threads1))
        first = [r for n, r in samples if n <= 1000]
        last = [r for n, r in samples if n >= total - 1000]
        check(first and last, "too few memory samples (%d)" % len(samples))
        rss_first, rss_last = max(first), max(last)
        print("load: %d clients x %d requests = %d in %.1f s: %.0f requests/s"
              % (n_clients, n_req, total, dt, total / dt))
        print("mix: %s" % ", ".join("%s %d" % kv for kv in sorted(count.by_kind.items())))
        print("daemon RSS: %d kB (max, first 1000 requests), %d kB (max, last 1000), "
              "growth %+d kB (bound %d kB%s), peak (VmHWM) %s kB"
              % (rss_first, rss_last, rss_last - rss_first, bound_kb,
                 ", AddressSanitizer build" if asan else "", d.status_field("VmHWM")))
        if os.environ.get("LOAD_TRACE"):
            step, mark = max(1000, total // 20), 0
            for n, r in samples:
                if n >= mark:
                    print("  after %6d requests: RSS %d kB" % (n, r))
                    mark += step
        check(rss_last - rss_first <= bound_kb,
              "daemon memory grew by %d kB under load (bound %d kB)"
              % (rss_last - rss_first, bound_kb))
        d.stop()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: test-load.py POLYTRANSD")
        sys.exit(2)
    try:
        main(sys.argv[1])
    except Skip as e:
        print("SKIP: %s" % e)
        sys.exit(77)
    print("ok")
