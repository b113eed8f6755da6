#!/usr/bin/python3
"""Tokenizer parity on settings the shared fixtures do not have.

    test_variants.py TOK_IDS TOOLS_DIR CORPUS

Trains small SentencePiece BPE models (vocab 2000, character coverage 0.995, on a slice of
tools/data/tok-corpus.txt) with:
  - user-defined pieces and some pieces re-typed UNUSED (SentencePiece
    splits an UNUSED piece back into the parts it was merged from);
  - the same with nmt_nfkc and treat_whitespace_as_suffix, and that without
    unused pieces (the engine then merges word by word, cutting after "▁");
  - no dummy prefix and no removal of extra whitespace;
converts each with tools/make-tiny-model --tokenizer and tools/polylm-convert
(tiny weights), and compares the engine's ids (tok-ids) with sp.encode on
the corpus and on random strings rich in the user-defined pieces, and
engine_detokenize with sp.decode on those ids and on random id sequences.
"""
import os
import random
import subprocess
import sys
import tempfile

try:
    import sentencepiece as spm
except ImportError:
    print("SKIP: python3-sentencepiece is not installed")
    sys.exit(77)

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
from test_parity import (compare, compare_decode, engine_decode, engine_ids,  # noqa: E402
                         load_corpus, random_id_seqs)

USER = ["<|user|>", "<|assistant|>", "ab", "abc", "▁hello", "の", "ﬁ"]


# ---- a minimal protobuf rewriter, enough to re-type pieces -------------
def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def enc_varint(v):
    o = bytearray()
    while True:
        c, v = v & 0x7F, v >> 7
        o.append(c | 0x80 if v else c)
        if not v:
            return bytes(o)


def fields(b):
    i, r = 0, []
    while i < len(b):
        t, i = varint(b, i)
        f, w = t >> 3, t & 7
        if w == 0:
            v, i = varint(b, i)
        elif w == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif w == 5:
            v, i = b[i:i + 4], i + 4
        elif w == 1:
            v, i = b[i:i + 8], i + 8
        else:
            raise ValueError("unexpected wire type %d" % w)
        r.append((f, w, v))
    return r


def ser(fs):
    o = bytearray()
    for f, w, v in fs:
        o += enc_varint(f << 3 | w)
        o += enc_varint(v) if w == 0 else (enc_varint(len(v)) + v if w == 2 else v)
    return bytes(o)


def mark_unused(path, rate, seed):
    """Re-types about `rate` of the multi-character normal pieces UNUSED."""
    rng = random.Random(seed)
    out, marked = [], 0
    for f, w, v in fields(open(path, "rb").read()):
        if f == 1:  # ModelProto.pieces
            pf = fields(v)
            piece = [x[2] for x in pf if x[0] == 1][0].decode()
            typ = ([x[2] for x in pf if x[0] == 3] or [1])[0]
            if typ == 1 and len(piece) >= 2 and rng.random() < rate:
                pf = [x for x in pf if x[0] != 3] + [(3, 0, 5)]
                marked += 1
            v = ser(pf)
        out.append((f, w, v))
    open(path, "wb").write(ser(out))
    return marked


def build(tmp, tools, name, train_text, unused_rate, **opts):
    prefix = os.path.join(tmp, name)
    spm.SentencePieceTrainer.train(
        input=train_text, model_prefix=prefix, model_type="bpe", vocab_size=2000, character_coverage=0.995,
        byte_fallback=True, split_digits=True, num_threads=1, minloglevel=2,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, **opts)
    model = prefix + ".model"
    if unused_rate > 0 and mark_unused(model, unused_rate, 7) == 0:
        sys.exit("%s: no piece was re-typed UNUSED" % name)
    hf = prefix + "-hf"
    gguf = prefix + ".gguf"
    for cmd in ([sys.executable, os.path.join(tools, "make-tiny-model"), hf, "--tokenizer", model,
                 "--layers", "1", "--embd", "16", "--heads", "2", "--ff", "32", "--ctx", "16"],
                [sys.executable, os.path.join(tools, "polylm-convert"), hf, gguf, "--outtype", "f32"]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            sys.exit("%s failed: %s" % (os.path.basename(cmd[1]), r.stderr.strip()))
    return model, gguf


def random_items(corpus, seed):
    rng = random.Random(seed)
    chars = sorted(set("".join(corpus)))
    atoms = chars + [" "] * 20 + ["\t", "\n", "  ", "<s>"] + [u.replace("▁", " ") for u in USER] * 8
    return ["".join(rng.choice(atoms) for _ in range(rng.randrange(0, 30))) for _ in range(1500)]


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: test_variants.py TOK_IDS TOOLS_DIR CORPUS")
    tok_ids, tools, corpus_path = sys.argv[1:]
    corpus = load_corpus(corpus_path)
    variants = [
        ("user-unused", 0.15, dict(user_defined_symbols=USER, normalization_rule_name="identity")),
        ("user-unused-nfkc-suffix", 0.15, dict(user_defined_symbols=USER, normalization_rule_name="nmt_nfkc",
                                               treat_whitespace_as_suffix=True)),
        ("nfkc-suffix", 0.0, dict(user_defined_symbols=USER, normalization_rule_name="nmt_nfkc",
                                  treat_whitespace_as_suffix=True)),
        ("no-prefix-keep-spaces", 0.0, dict(normalization_rule_name="nmt_nfkc", add_dummy_prefix=False,
                                            remove_extra_whitespaces=False)),
    ]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        # A slice of the project's tokenizer corpus plus the parity corpus.
        train_text = os.path.join(tmp, "train.txt")
        with open(os.path.join(tools, "data", "tok-corpus.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")[::8]
        with open(train_text, "w", encoding="utf-8") as f:
            f.write("\n".join(lines + corpus) + "\n")
        for name, rate, opts in variants:
            model, gguf = build(tmp, tools, name, train_text, rate, **opts)
            sp = spm.SentencePieceProcessor(model_file=model)
            n_unused = sum(sp.is_unused(i) for i in range(sp.get_piece_size()))
            print("%s: %d pieces, %d unused" % (name, sp.get_piece_size(), n_unused))
            items = corpus + random_items(corpus, 99)
            got = engine_ids(tok_ids, gguf, items, False)
            failures += compare(sp, name, items, got, sp.encode)
            seqs = [[int(x) for x in g.split()] for g in got if not g.startswith("ERR")]
            seqs += random_id_seqs(sp, 5, 1000)
            failures += compare_decode(sp, name, seqs, engine_decode(tok_ids, gguf, seqs))
    if failures:
        sys.exit("%d mismatches" % failures)
    print("tokenizer variants: all ids match")


if __name__ == "__main__":
    main()
