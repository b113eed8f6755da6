#!/usr/bin/python3
"""bench-document.py POLYTRANSD [options]: the document benchmark. Starts
polytransd on a model and translates the same sentences with batched decoding
(batch_size N) and one at a time (batch_size 1), in one run, two ways:

  document  one translate request whose `texts` are the sentences (a document
            the daemon cuts into segments that fill the batch);
  requests  each sentence its own translate request, from 8 connections at
            once (sentences of different requests share the batch).

It prints sentences per second and generated tokens per second for each, the
speed-up of batching, and whether both settings gave the same translations
(greedy decoding must not depend on the batch).

Options:
  --model FILE       the model (default: the bundled model of the source tree)
  --sentences FILE   one sentence a line, or a TSV whose second column is used
                     (default: the English side of tests/bundled/heldout.tsv)
  -n N               sentences (default 200; the file is cycled if shorter)
  --batch N          batch_size of the batched run (default 8)
  --from L --to L    the language pair (default en -> de)
  --max-tokens N     answer budget per sentence (default: the daemon's)
  --threads N        engine threads (default 0: one per core)
  --retry-beams N    retry_beams of the daemon (default: its own, 4); 0 for a
                     model with random weights, whose answers all fail their
                     checks and would each be retried with beam search
  --only document|requests   run one of the two ways
"""

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ptdtest import Client, Daemon, Skip  # noqa: E402

SRC = os.path.dirname(os.path.dirname(HERE))


def load_sentences(path, n):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if "\t" in line:
                line = line.split("\t")[1]
            if line.strip():
                out.append(line.strip())
    if not out:
        raise SystemExit("%s: no sentences" % path)
    return [out[i % len(out)] for i in range(n)]


def params(args, **kw):
    p = {"from": args.src, "to": args.dst}
    if args.max_tokens:
        p["max_tokens"] = args.max_tokens
    p.update(kw)
    return p


def run_document(d, args, sents):
    c = Client(d.sock, timeout=3600)
    t0 = time.perf_counter()
    r = c.call("translate", params(args, texts=sents))
    el = time.perf_counter() - t0
    c.close()
    return el, r["tokens"], r["texts"]


def run_requests(d, args, sents, conns=8):
    out = [None] * len(sents)
    toks = [0] * conns
    errors = []

    def one(k):
        try:
            c = Client(d.sock, timeout=3600)
            for i in range(k, len(sents), conns):
                r = c.call("translate", params(args, text=sents[i]))
                out[i] = r["text"]
                toks[k] += r["tokens"]
            c.close()
        except Exception as e:  # reported below
            errors.append(repr(e))

    th = [threading.Thread(target=one, args=(k,)) for k in range(conns)]
    t0 = time.perf_counter()
    for t in th:
        t.start()
    for t in th:
        t.join()
    el = time.perf_counter() - t0
    if errors:
        raise SystemExit("requests failed: %s" % errors[0])
    return el, sum(toks), out


def measure(exe, args, sents, batch, way):
    settings = {"batch_size": batch, "threads": args.threads, "log_level": "warn"}
    if args.retry_beams is not None:
        settings["retry_beams"] = args.retry_beams
    with Daemon(exe, model=None, settings=settings, args=["--model", args.model]) as d:
        c = Client(d.sock, timeout=600)
        c.call("translate", params(args, text=sents[0]))  # warm-up: weights in cache
        c.close()
        res = (run_document if way == "document" else run_requests)(d, args, sents)
        d.stop()
    return res


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("exe")
    ap.add_argument("--model", default=os.environ.get("MODEL") or
                    os.path.join(SRC, "tools", "bundled", "bundled.gguf"))
    ap.add_argument("--sentences", default=os.path.join(SRC, "tests", "bundled", "heldout.tsv"))
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--from", dest="src", default="en")
    ap.add_argument("--to", dest="dst", default="de")
    ap.add_argument("--max-tokens", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--retry-beams", type=int)
    ap.add_argument("--only", choices=("document", "requests"))
    args = ap.parse_args()
    if not os.path.exists(args.model):
        print("SKIP: no model at %s (--model FILE)" % args.model)
        return 77
    sents = load_sentences(args.sentences, args.n)
    print("model %s, %d sentences %s -> %s, threads %s, retry_beams %s" % (
        os.path.basename(args.model), len(sents), args.src, args.dst, args.threads or "auto",
        "4 (default)" if args.retry_beams is None else args.retry_beams))
    ways = [args.only] if args.only else ["document", "requests"]
    try:
        for way in ways:
            got = {}
            for batch in (args.batch, 1):
                el, toks, texts = measure(args.exe, args, sents, batch, way)
                got[batch] = (el, texts)
                print("%-9s batch_size %2d: %7.2f s, %7.2f sentences/s, %8.1f tokens/s "
                      "(%d tokens)" % (way, batch, el, len(sents) / el, toks / el, toks))
            b, o = got[args.batch], got[1]
            print("%-9s batching speed-up: %.2fx; translations %s" % (
                way, o[0] / b[0], "identical" if b[1] == o[1] else
                "DIFFER in %d of %d" % (sum(x != y for x, y in zip(b[1], o[1])), len(sents))))
    except Skip as e:
        print("SKIP: %s" % e)
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
