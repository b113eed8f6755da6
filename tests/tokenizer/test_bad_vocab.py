#!/usr/bin/python3
"""A broken vocabulary gets a clear error, never a crash.

    test_bad_vocab.py TOK_IDS TOOLS_DIR FIXTURE_DIR

Copies tok-nfkc.gguf with one tokenizer key damaged at a time (a piece type
out of range, a piece defined twice, no unknown piece, a missing byte piece,
an empty piece, counts that disagree, a charsmap whose trie does not fit,
an id past the vocabulary, another tokenizer model) and checks that loading
fails with exit 1 and a message naming the problem. Then it scrambles bytes
of the charsmap's trie and strings (seeded) and checks that tokenizing
still ends normally: a corrupt trie may give other ids but must not read
out of bounds (run under the sanitizer build to make that strict).
"""
import os
import random
import subprocess
import sys
import tempfile

import numpy as np

TOOLS = sys.argv[2] if len(sys.argv) > 2 else "tools"
sys.path.insert(0, TOOLS)
import ptgguf  # noqa: E402

TEXTS = ["Hello world", "ＡＢＣ１２３ ㍻ ﬁ", "  spaces   here ", "東京都に行きます。",
         "ภาษาไทย", "cafe\u0301 \u3000 x", "\t\n\r", "𠀋 emoji 👨‍👩‍👧"]


def copy_gguf(src, dst, change):
    """Writes src to dst with change(kv, kv_types) applied to the keys."""
    r = ptgguf.GGUFReader(src)
    kv = dict(r.kv)
    kv_types = dict(r.kv_types)
    change(kv, kv_types)
    w = ptgguf.GGUFWriter(dst, alignment=r.alignment)
    for key, value in kv.items():
        vtype, et = kv_types[key]
        if vtype == ptgguf.T_ARRAY:
            w.add_array(key, et, value)
        else:
            w._add(key, vtype, value)
    for name, t in r.tensors.items():
        w.add_tensor_info(name, t["ne"], t["type"])
    w.write_header()
    for name in r.tensors:
        w.write_tensor_data(name, np.array(r.tensor_bytes(name)))
    w.close()
    r.close()


def run(tok_ids, gguf):
    inp = "".join(s.encode("utf-8").hex() + "\n" for s in TEXTS)
    return subprocess.run([tok_ids, gguf], input=inp, capture_output=True, text=True, timeout=60)


def setv(key, fn):
    def change(kv, kv_types):
        kv[key] = fn(kv[key])
    return change


def set_list(key, i, v):
    def fn(old):
        new = list(old) if isinstance(old, list) else old.copy()
        new[i] = v
        return new
    return setv(key, fn)


def byte_piece_id(kv):
    return kv["tokenizer.ggml.tokens"].index("<0x41>")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: test_bad_vocab.py TOK_IDS TOOLS_DIR FIXTURE_DIR")
    tok_ids, _, fix = sys.argv[1:]
    src = os.path.join(fix, "tok-nfkc.gguf")
    kv0 = ptgguf.GGUFReader(src).kv
    cm_len = len(kv0["tokenizer.ggml.precompiled_charsmap"])
    dup = kv0["tokenizer.ggml.tokens"][101]

    def bad_charsmap_size(old):
        new = old.copy()
        new[0:4] = np.frombuffer(np.uint32(cm_len).tobytes(), dtype=np.uint8)
        return new

    def typed(key, et):
        def change(kv, kv_types):
            kv_types[key] = (kv_types[key][0], et)
        return change

    cases = [
        ("type out of range", set_list("tokenizer.ggml.token_type", 5, 9), "token_type[5] = 9"),
        ("duplicate piece", set_list("tokenizer.ggml.tokens", 100, dup), "defined twice"),
        ("no unknown piece", set_list("tokenizer.ggml.token_type", 0, 3), "no unknown piece"),
        ("missing byte piece", lambda kv, t: set_list("tokenizer.ggml.token_type",
                                                      byte_piece_id(kv), 1)(kv, t),
         "255 of the 256 byte pieces"),
        ("empty piece", set_list("tokenizer.ggml.tokens", 50, ""), "must not be empty"),
        ("long piece", set_list("tokenizer.ggml.tokens", 50, "x" * 241), "241 bytes"),
        ("scores count", setv("tokenizer.ggml.scores", lambda a: a[:-1]), "scores"),
        ("charsmap size", setv("tokenizer.ggml.precompiled_charsmap", bad_charsmap_size),
         "does not fit"),
        ("bos id", setv("tokenizer.ggml.bos_token_id", lambda v: 1 << 30), "bos_token_id"),
        ("tokenizer model", setv("tokenizer.ggml.model", lambda v: "gpt2"), "\"gpt2\""),
        ("scores type", lambda kv, t: (setv("tokenizer.ggml.scores", lambda a: a.astype(np.int32))(kv, t),
                                       typed("tokenizer.ggml.scores", ptgguf.T_INT32)(kv, t)),
         "element types"),
    ]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "bad.gguf")
        for label, change, want in cases:
            copy_gguf(src, dst, change)
            r = run(tok_ids, dst)
            msg = r.stderr.strip()
            ok = r.returncode == 1 and want in msg
            print("%-20s %s: exit %d: %s" % (label, "ok" if ok else "FAIL", r.returncode, msg))
            failures += not ok

        rng = random.Random(1234)
        for k in range(12):
            def scramble(kv, kv_types):
                a = kv["tokenizer.ggml.precompiled_charsmap"].copy()
                for _ in range(1 + k * 4):
                    a[rng.randrange(4, len(a))] = rng.randrange(256)
                kv["tokenizer.ggml.precompiled_charsmap"] = a
            copy_gguf(src, dst, scramble)
            r = run(tok_ids, dst)
            lines = r.stdout.split("\n")[:-1]
            ok = r.returncode in (0, 1) and (r.returncode == 1 or len(lines) == len(TEXTS))
            if not ok:
                print("scrambled charsmap %d FAIL: exit %d, %d lines: %s"
                      % (k, r.returncode, len(lines), r.stderr.strip()[-500:]))
            failures += not ok
        print("scrambled charsmaps: done")
    if failures:
        sys.exit("%d failures" % failures)
    print("bad vocabularies: all rejected or survived cleanly")


if __name__ == "__main__":
    main()
