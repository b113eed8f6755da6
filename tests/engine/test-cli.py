#!/usr/bin/python3
"""test-cli: the command-line contract of polytrans-model on the tiny
fixture model: exit statuses (0 ok, 1 failure with one "polytrans-model:"
line, 2 usage), info, tokenize (against python3-sentencepiece when it is
installed), detokenize, run (--ids, --logits-out, stop strings, beams),
quantize, bench (--json on the tiny shape), and the errors for invalid UTF-8 and missing files.

Usage: test-cli.py PATH/TO/polytrans-model [polytrans-model.1]
(env FIXTURES: the fixtures). With the man page, every option and command
of --help must be documented in it, and every option it documents must be
one --help knows.
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

failures = 0
passes = 0


def check(cond, what):
    global failures, passes
    if cond:
        passes += 1
    else:
        failures += 1
        print("check failed: " + what, file=sys.stderr)


def pm(*args, stdin=b""):
    """Runs the tool; returns (status, stdout bytes, stderr text)."""
    argv = [PM] + [a if isinstance(a, bytes) else str(a) for a in args]
    p = subprocess.run(argv, input=stdin, capture_output=True, timeout=120)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def one_error_line(err):
    lines = err.strip("\n").split("\n")
    return len(lines) == 1 and lines[0].startswith("polytrans-model: ")


def test_usage():
    rc, out, err = pm("--help")
    check(rc == 0 and b"Usage: polytrans-model" in out, "--help: status %d" % rc)
    for cmd in (b"info", b"tokenize", b"detokenize", b"run", b"quantize", b"bench",
                b"--logits-out", b"--threads", b"--tensors"):
        check(cmd in out, "--help does not mention %r" % cmd)
    rc, out, err = pm("run", "--help")
    check(rc == 0 and b"--max-tokens" in out, "run --help: status %d" % rc)
    rc, out, err = pm()
    check(rc == 2 and "Usage" in err and out == b"", "no arguments: status %d" % rc)
    cases = [
        ("frobnicate",),
        ("--bogus",),
        ("info",),
        ("info", TINY, "extra"),
        ("info", TINY, "--nope"),
        ("tokenize",),
        ("run", TINY),                                    # no --prompt
        ("run", TINY, "--prompt", "x", "--max-tokens", "abc"),
        ("run", TINY, "--prompt", "x", "--max-tokens", "-1"),
        ("run", TINY, "--prompt", "x", "--top-p", "0"),
        ("run", TINY, "--prompt", "x", "--beams", "0"),
        ("run", TINY, "--prompt", "x", "--beams", "2", "--temperature", "1"),
        ("run", TINY, "--prompt", "x", "--threads", "0"),
        ("run", TINY, "--prompt", "x", "--stop", ""),
        ("quantize", TINY, "out.gguf"),
        ("quantize", TINY, "out.gguf", "q9_9"),
        ("detokenize", TINY, "12x"),
        ("bench", "--shape", "tiny", "--type", "q9_9"),
        ("bench", "--shape", "tiny", "--type", ","),
        ("bench", "--shape", "tiny", "--type", "q8_0,,nope"),
        ("bench", "--shape", "tiny", "--reps", "0"),
        ("bench", "--shape", "huge"),
    ]
    for args in cases:
        rc, out, err = pm(*args)
        check(rc == 2, "%s: status %d, want 2 (stderr %r)" % (" ".join(args), rc, err))
        check(err.startswith("polytrans-model: "), "%s: usage error %r" % (args, err))


def test_man_page(path):
    rc, out, err = pm("--help")
    helped = set(re.findall(r"--[a-z][a-z-]*", out.decode()))
    with open(path, encoding="utf-8") as f:
        man = f.read().replace("\\-", "-")
    documented = set(re.findall(r"--[a-z][a-z-]*", man))
    for o in sorted(helped - documented):
        check(False, "option %s of --help is not in the man page" % o)
    for o in sorted(documented - helped):
        check(False, "option %s of the man page is not in --help" % o)
    for cmd in ("info", "tokenize", "detokenize", "run", "quantize", "bench"):
        check(re.search(r"^\.(B|BI|TP).*\b%s\b" % cmd, man, re.M) is not None,
              "command %s is not in the man page" % cmd)
    check(len(helped) > 15, "--help lists only %d options" % len(helped))


def test_missing_and_bad_files(tmp):
    missing = os.path.join(tmp, "no-such-model.gguf")
    for args in (("info", missing), ("tokenize", missing, "x"),
                 ("run", missing, "--prompt", "x"), ("detokenize", missing, "1")):
        rc, out, err = pm(*args)
        check(rc == 1 and one_error_line(err) and "no-such-model.gguf" in err,
              "%s on a missing file: status %d, stderr %r" % (args[0], rc, err))
    bad = os.path.join(tmp, "bad.gguf")
    with open(bad, "wb") as f:
        f.write(b"NOTGGUF" + b"\0" * 64)
    rc, out, err = pm("info", bad)
    check(rc == 1 and one_error_line(err), "bad magic: status %d, stderr %r" % (rc, err))


def info_fields(text):
    return dict((k.strip(), v.strip()) for k, v in
                (l.split(":", 1) for l in text.splitlines() if ":" in l and not l.startswith(" ")))


def test_info():
    rc, out, err = pm("info", TINY)
    check(rc == 0, "info: status %d: %s" % (rc, err))
    f = info_fields(out.decode())
    check(f.get("architecture") == "gpt2", "info architecture %r" % f.get("architecture"))
    check(f.get("context length") == "128", "info context %r" % f.get("context length"))
    check(f.get("embedding size") == "64", "info embedding %r" % f.get("embedding size"))
    check(f.get("layers") == "2", "info layers %r" % f.get("layers"))
    check(f.get("weight type") == "f32", "info weight type %r" % f.get("weight type"))
    check(f.get("prompt kind") == "base", "info prompt kind %r" % f.get("prompt kind"))
    check("8000 tokens" in f.get("tokenizer", ""), "info tokenizer %r" % f.get("tokenizer"))
    check(re.search(rb"eos: +2 </s>", out) is not None, "info: eos line")
    check(f.get("tensor types", "").startswith("f32 29 "), "info tensor types %r"
          % f.get("tensor types"))
    m = re.search(r"in (\d+) tensors", f.get("tensor data", ""))
    check(m is not None, "info: tensor count")
    rc, out2, err = pm("info", TINY, "--tensors")
    check(rc == 0 and out2.startswith(out), "info --tensors: status %d" % rc)
    rows = [l.split() for l in out2[len(out):].decode().splitlines()
            if re.match(r"^(token_embd|position_embd|blk\.|output)", l)]
    check(m is not None and len(rows) == int(m.group(1)),
          "info --tensors lists %d tensors, info says %s" % (len(rows), m and m.group(1)))
    names = set(r[0] for r in rows)
    for n in ("token_embd.weight", "position_embd.weight", "blk.0.attn_qkv.weight",
              "blk.1.ffn_down.bias", "output_norm.weight"):
        check(n in names, "info --tensors lacks " + n)
    for r in rows:
        if r[0] == "blk.0.attn_qkv.weight":
            check(r[1] == "f32" and r[2:5] == ["64", "x", "192"], "qkv row %r" % r)


def ids_of(out):
    text = out.decode()
    check(re.fullmatch(r"(\d+( \d+)*)?\n", text) is not None,
          "ids line format %r" % text[:80])
    return [int(x) for x in text.split()]


TEXTS = ["Hello world", "Grüße aus Köln, 12345 Äpfel", "东京是日本的首都。", "a  b\tc 🙂"]


def test_tokenize():
    sp = None
    try:
        import sentencepiece
        sp = sentencepiece.SentencePieceProcessor(
            model_file=os.path.join(FIX, "tiny-hf", "tokenizer.model"))
    except Exception as e:  # the parity test proper lives in tests/tokenizer
        print("note: no sentencepiece comparison (%s)" % e)
    for t in TEXTS:
        rc, out, err = pm("tokenize", TINY, t)
        check(rc == 0, "tokenize %r: status %d %s" % (t, rc, err))
        ids = ids_of(out)
        check(ids[:1] == [1], "tokenize %r: no BOS first: %r" % (t, ids[:3]))
        rc, out2, err = pm("tokenize", TINY, t, "--no-bos")
        check(ids_of(out2) == ids[1:], "--no-bos %r: %r vs %r" % (t, out2, out))
        rc, out3, err = pm("tokenize", TINY, stdin=t.encode())
        check(rc == 0 and out3 == out, "tokenize stdin %r differs from argument" % t)
        if sp is not None:
            check(ids[1:] == sp.encode(t), "tokenize %r: %r, sentencepiece %r"
                  % (t, ids[1:], sp.encode(t)))
        rc, out4, err = pm("detokenize", TINY, *ids)
        check(rc == 0 and out4 == (t.encode() + b"\n"),
              "detokenize of %r gives %r" % (t, out4))
    # --lines: one output line per input line, each tokenized on its own.
    data = "\n".join(TEXTS) + "\n"
    rc, out, err = pm("tokenize", TINY, "--lines", stdin=data.encode())
    lines = out.decode().split("\n")
    check(rc == 0 and len(lines) == len(TEXTS) + 1 and lines[-1] == "",
          "--lines gave %d lines for %d" % (len(lines) - 1, len(TEXTS)))
    for t, l in zip(TEXTS, lines):
        rc, one, err = pm("tokenize", TINY, t)
        check(one.decode().strip() == l, "--lines %r: %r vs %r" % (t, l, one))
    rc, out, err = pm("tokenize", TINY, "--no-bos", "")
    check(rc == 0 and out == b"\n", "empty text without BOS: %r" % out)


def test_invalid_utf8():
    rc, out, err = pm("tokenize", TINY, b"ab\xffcd")
    check(rc == 1 and one_error_line(err) and "offset 2" in err,
          "tokenize invalid UTF-8: status %d, %r" % (rc, err))
    rc, out, err = pm("tokenize", TINY, "--lines", stdin=b"fine\nalso fine\nbad \xc3\x28")
    check(rc == 1 and "offset 19" in err, "stdin invalid UTF-8: status %d, %r" % (rc, err))
    rc, out, err = pm("run", TINY, "--prompt", b"Hallo \xe2\x82 Welt")
    check(rc == 1 and one_error_line(err) and "offset 6" in err and out == b"",
          "run invalid UTF-8: status %d, %r" % (rc, err))


def test_run(tmp):
    n_vocab = 8000
    rc, out, err = pm("run", TINY, "--prompt", "Hello world", "--max-tokens", "7",
                      "--ids", "--no-eos")
    check(rc == 0, "run --ids: status %d %s" % (rc, err))
    ids = ids_of(out)
    check(len(ids) == 7 and all(0 <= i < n_vocab for i in ids), "run --ids %r" % ids)
    rc, text, err = pm("run", TINY, "--prompt", "Hello world", "--max-tokens", "7",
                       "--no-eos", "--threads", "2", "-v")
    rc2, dt, err2 = pm("detokenize", TINY, *ids)
    check(rc == 0 and text == dt, "run text %r is not the ids' text %r" % (text, dt))
    check("tokens/s" in err, "-v gives no figures: %r" % err)

    # --logits-out: n_vocab little-endian floats; greedy takes their argmax.
    path = os.path.join(tmp, "logits.f32")
    rc, out, err = pm("run", TINY, "--prompt", "Hello world", "--max-tokens", "1",
                      "--ids", "--no-eos", "--logits-out", path)
    check(rc == 0 and os.path.getsize(path) == n_vocab * 4,
          "--logits-out: status %d, %d bytes" % (rc, os.path.getsize(path)))
    with open(path, "rb") as f:
        lg = struct.unpack("<%df" % n_vocab, f.read())
    best = max(range(n_vocab), key=lambda i: (lg[i], -i))
    check(ids_of(out) == [best] == ids[:1],
          "first greedy id %r is not the logits' argmax %d" % (out, best))
    os.unlink(path)
    rc, out, err = pm("run", TINY, "--prompt", "Hello world", "--max-tokens", "0",
                      "--logits-out", path)
    check(rc == 0 and out == b"" and os.path.getsize(path) == n_vocab * 4,
          "--max-tokens 0 --logits-out: status %d, output %r" % (rc, out))
    rc, out, err = pm("run", TINY, "--prompt", "x", "--logits-out",
                      os.path.join(tmp, "no-dir", "l.f32"))
    check(rc == 1 and one_error_line(err) and "no-dir" in err,
          "unwritable --logits-out: status %d %r" % (rc, err))

    # A stop string: the text ends before it.
    if len(text.strip()) >= 2:
        s = text.decode()[1]
        rc, cut, err = pm("run", TINY, "--prompt", "Hello world", "--max-tokens", "7",
                          "--no-eos", "--stop", s)
        full = text.decode()
        check(rc == 0 and cut.decode() == full[:full.index(s)] + "\n",
              "--stop %r: %r from %r" % (s, cut, full))

    # Beam search and sampling run and give valid ids; a seed reproduces.
    rc, out, err = pm("run", TINY, "--prompt", "Hello world", "--max-tokens", "5",
                      "--beams", "4", "--ids", "--no-eos")
    check(rc == 0 and len(ids_of(out)) == 5, "run --beams 4: status %d %r" % (rc, out))
    sample = ("run", TINY, "--prompt", "Hello world", "--max-tokens", "8", "--ids",
              "--temperature", "1.2", "--top-p", "0.95", "--top-k", "50", "--seed", "42",
              "--repetition-penalty", "1.1")
    rc, a, err = pm(*sample)
    rc2, b, err2 = pm(*sample)
    check(rc == 0 and rc2 == 0 and a == b, "--seed 42 twice: %r vs %r" % (a, b))

    # A prompt longer than the context: a clear failure.
    long_prompt = " ".join(["word%d" % i for i in range(200)])
    rc, out, err = pm("run", TINY, "--prompt", long_prompt)
    check(rc == 1 and one_error_line(err) and "context is 128" in err,
          "overlong prompt: status %d %r" % (rc, err))


def test_quantize(tmp):
    out_path = os.path.join(tmp, "tiny-q8.gguf")
    rc, out, err = pm("quantize", TINY, out_path, "q8_0", "--threads", "2")
    check(rc == 0 and os.path.exists(out_path), "quantize: status %d %s" % (rc, err))
    rc, out, err = pm("info", out_path)
    f = info_fields(out.decode())
    check(rc == 0 and f.get("weight type") == "q8_0", "quantized info: %r" % out[:200])
    check(re.fullmatch(r"q8_0 10 \(.*\), f32 19 \(.*\)|f32 19 \(.*\), q8_0 10 \(.*\)",
                       f.get("tensor types", "")) is not None,
          "quantized tensor types %r" % f.get("tensor types"))
    rc, out, err = pm("run", out_path, "--prompt", "Hello", "--max-tokens", "3", "--ids")
    check(rc == 0 and len(ids_of(out)) <= 3, "run on q8_0: status %d %s" % (rc, err))
    rc, out, err = pm("quantize", os.path.join(tmp, "missing.gguf"), out_path, "f16")
    check(rc == 1 and one_error_line(err), "quantize missing input: %d %r" % (rc, err))


def test_bench():
    """bench --json on the tiny shape, two types: every figure present,
    positive and consistent with the ones it is computed from."""
    rc, out, err = pm("bench", "--shape", "tiny", "--type", "q8_0,q4_0", "--threads", "2",
                      "--reps", "1", "--json")
    check(rc == 0, "bench --json: status %d %s" % (rc, err))
    try:
        d = json.loads(out)
    except ValueError as ex:
        check(False, "bench --json is not JSON: %s: %r" % (ex, out[:300]))
        return
    check(d["membw_gbps"] > 0 and d["membw_gbps"] == max(d["membw_before_gbps"],
                                                        d["membw_after_gbps"]),
          "bandwidth %r" % d["membw_gbps"])
    check(sorted(d["peaks"]) == ["bf16_dot", "fp32_fma", "int8_dot"], "peaks %r" % d["peaks"])
    for name, p in d["peaks"].items():
        check(("skipped" in p and p["skipped"]) or (p["per_s"] > 0 and p["one_thread_per_s"] > 0),
              "peak %s: %r" % (name, p))
    check([t["type"] for t in d["types"]] == ["q8_0", "q4_0"], "types %r" % d["types"])
    for t in d["types"]:
        what = "bench " + t["type"]
        check([p["tokens"] for p in t["prefill"]] == [128, 512], what + " prefill lengths")
        for p in t["prefill"]:
            check(p["tokens_per_s"] > 0 and p["flop_per_token"] > 0, what + " prefill %r" % p)
            check(abs(p["gflop_per_s"] - p["tokens_per_s"] * p["flop_per_token"] / 1e9)
                  <= 0.01 * p["gflop_per_s"] + 0.1, what + " GFLOP/s %r" % p)
            check(p["peak"] in d["peaks"], what + " prefill peak %r" % p["peak"])
        dec = t["decode"]
        check([x["batch"] for x in dec] == [1, 1, 4, 8, 16], what + " batches %r" % dec)
        for x in dec:
            check(x["tokens_per_s"] > 0 and x["floor_tokens_per_s"] > 0, what + " %r" % x)
            check(abs(x["fraction_of_floor"] - x["tokens_per_s"] / x["floor_tokens_per_s"])
                  < 0.002 + 0.001 * x["fraction_of_floor"], what + " fraction %r" % x)
        check(dec[4]["floor_tokens_per_s"] > 15.9 * dec[1]["floor_tokens_per_s"],
              what + " batch floors")
        check(t["weight_bytes"] > t["decode_bytes_per_token"] > 0, what + " bytes")
        check(t["peak_rss_bytes"] > t["weight_bytes"], what + " peak RSS %r" % t["peak_rss_bytes"])
        check(abs(t["peak_rss_bound_bytes"] - 1.1 * (t["weight_bytes"] + t["kv_cache_bytes"])) < 2,
              what + " RSS bound")
    rc, out, err = pm("bench", "--kernels", "--type", "q8_0", "--json")
    try:
        ks = json.loads(out)["kernels"]
    except (ValueError, KeyError) as ex:
        check(False, "bench --kernels --json: %s: status %d %r" % (ex, rc, out[:300]))
        ks = []
    names = sorted(set(x["kernel"] for x in ks))
    check(rc == 0 and len(ks) == 8 * len(names) and all(n.startswith("q8_0/") for n in names),
          "bench --kernels: %r" % names)
    for x in ks:
        check(x["rows_in"] in ("cache", "memory") and x["n_x"] in (1, 4, 8, 16) and
              x["weight_gbps_per_cpu_s"] > 0 and
              abs(x["gproducts_per_cpu_s"] - x["weight_gbps_per_cpu_s"] * x["n_x"] * 32 / 34)
              <= 0.02 * x["gproducts_per_cpu_s"] + 0.02, "bench --kernels row %r" % x)
    rc, out, err = pm("bench", "--shape", "tiny", "--type", "q4_0", "--threads", "1",
                      "--reps", "1")
    text = out.decode()
    check(rc == 0 and "decode batch 16" in text and "peak int8 dot" in text and
          "of the floor" in text, "bench text: status %d %r" % (rc, text[:500]))


def main():
    global PM, FIX, TINY
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    PM = sys.argv[1]
    FIX = os.environ.get("FIXTURES", "")
    TINY = os.path.join(FIX, "tiny-f32.gguf")
    if not FIX or not os.path.exists(TINY):
        print("skipped: FIXTURES/tiny-f32.gguf not found (run through meson test)")
        return 77
    base = os.environ.get("TEST_TMPDIR") or None
    with tempfile.TemporaryDirectory(prefix="test-cli-", dir=base) as tmp:
        test_usage()
        if len(sys.argv) == 3:
            test_man_page(sys.argv[2])
        test_missing_and_bad_files(tmp)
        test_info()
        test_tokenize()
        test_invalid_utf8()
        test_run(tmp)
        test_quantize(tmp)
        test_bench()
    print("%d passed, %d failed" % (passes, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
