#!/usr/bin/python3
"""bench-daemon.py POLYTRANSD: prints the daemon's own overhead on a one-word
translate request (the client's round trip minus the engine's time for it,
as the daemon logs it) and detect requests per second from 8 parallel
clients. MODEL=path picks the model (default: the tiny fixture)."""

import os
import re
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ptdtest import Client, Daemon, Skip  # noqa: E402


def main():
    exe = sys.argv[1]
    model = os.environ.get("MODEL")
    kw = {"model": None, "args": ["--model", model]} if model else {}
    try:
        d = Daemon(exe, **kw)
    except Skip as e:
        print("SKIP:", e)
        return 77
    with d:
        c = Client(d.sock)
        for _ in range(5):
            c.call("translate", {"text": "Hallo", "to": "en", "from": "de"})
        rtt = {}
        for _ in range(200):
            t0 = time.perf_counter()
            mid = c.send("translate", {"text": "Hallo", "to": "en", "from": "de"})
            m = c.wait_reply(mid)
            rtt[mid] = (time.perf_counter() - t0) * 1e3
            assert m[2] is None, m
        time.sleep(0.2)
        engine, inside = {}, {}
        for line in d.stderr().splitlines():
            m = re.search(r"translate #(\d+) client \d+: .* engine ([0-9.]+) ms.*"
                          r"\(([0-9.]+) ms\)$", line)
            if m:
                engine[int(m.group(1))] = float(m.group(2))
                inside[int(m.group(1))] = float(m.group(3))
        keys = [k for k in rtt if k in engine]
        over = sorted(rtt[k] - engine[k] for k in keys)
        own = sorted(inside[k] - engine[k] for k in keys)
        print("one-word translate (%d requests): round trip median %.3f ms, engine %.3f ms"
              % (len(keys), statistics.median(rtt[k] for k in keys),
                 statistics.median(engine[k] for k in keys)))
        print("daemon overhead (round trip - engine): median %.3f ms, min %.3f ms, p90 %.3f ms"
              % (statistics.median(over), over[0], over[int(len(over) * 0.9)]))
        print("of which inside the daemon (request time - engine): median %.3f ms, min %.3f ms"
              % (statistics.median(own), own[0]))

        counts = [0] * 8
        stop = time.perf_counter() + 3.0

        def worker(i):
            cl = Client(d.sock)
            texts = ["Guten Morgen, wie geht es?", "Bonjour tout le monde",
                     "今天天气很好", "Dzień dobry"]
            k = 0
            while time.perf_counter() < stop:
                cl.call("detect", {"text": texts[k % 4]})
                k += 1
            counts[i] = k
            cl.close()

        d2 = None  # the log at info level costs a line per request; measure as deployed
        t0 = time.perf_counter()
        th = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        el = time.perf_counter() - t0
        print("detect: %d requests from 8 parallel clients in %.2f s: %.0f requests/s"
              % (sum(counts), el, sum(counts) / el))
        del d2
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
