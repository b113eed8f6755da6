#!/usr/bin/python3
"""Tokenizer parity: the engine's ids against the SentencePiece library's.

    test_parity.py TOK_IDS FIXTURE_DIR CORPUS [PLAIN_CORPUS]

For both fixture tokenizers (tiny-hf/tokenizer.model with tiny-f32.gguf,
identity normalization; tok-nfkc-hf/tokenizer.model with tok-nfkc.gguf,
nmt_nfkc with a precompiled charsmap) it compares, item by item:
  1. every corpus item: engine (ENGINE_TOK_NO_SPECIAL) vs sp.encode(item);
  2. every corpus item with special-token splitting: engine (default flags)
     vs HF's slow LlamaTokenizer rule, i.e. the text split at the literal
     "<s>", "</s>", "<unk>" (leftmost, longest), each part sp.encode'd;
  3. a few thousand random strings drawn from the corpus's characters plus
     spaces, tabs and newlines (seeded, so a failure reproduces);
  4. decoding: engine_detokenize vs sp.decode on the ids of every corpus
     item and on random id sequences (a third byte pieces, so invalid and
     incomplete UTF-8 meets pieces and controls). <unk> is left out: the
     engine skips it where SentencePiece writes " \u2047 ".
PLAIN_CORPUS (tools/data/tok-corpus.txt: the tokenizers' training text, all
18 languages, one item per line, no escapes) adds every one of its lines to
check 1.
TOK_IDS is the small C program tok-ids (engine_tokenize over hex lines,
engine_detokenize with --decode). It fails listing the first mismatches.
"""
import os
import random
import re
import subprocess
import sys

try:
    import sentencepiece as spm
except ImportError:
    print("SKIP: python3-sentencepiece is not installed")
    sys.exit(77)

SPECIALS = ("<s>", "</s>", "<unk>")
N_RANDOM = 3000


def unescape(line):
    def rep(m):
        s = m.group(0)
        if s in ("\\n", "\\t", "\\r", "\\\\"):
            return {"\\n": "\n", "\\t": "\t", "\\r": "\r", "\\\\": "\\"}[s]
        return chr(int(s[2:], 16))
    return re.sub(r"\\(?:u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[ntr\\])", rep, line)


def load_corpus(path):
    items = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line[:-1] if line.endswith("\n") else line
            if line.startswith("#"):
                continue
            items.append(unescape(line))
    return items


def engine_ids(tok_ids, gguf, items, special):
    args = [tok_ids, gguf] + (["--special"] if special else [])
    inp = "".join(s.encode("utf-8").hex() + "\n" for s in items)
    r = subprocess.run(args, input=inp, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        sys.exit("tok-ids failed (%d): %s" % (r.returncode, r.stderr.strip()))
    lines = r.stdout.split("\n")[:len(items)]
    if len(lines) != len(items):
        sys.exit("tok-ids printed %d lines for %d items" % (len(lines), len(items)))
    return lines


def engine_decode(tok_ids, gguf, seqs):
    inp = "".join(" ".join(map(str, ids)) + "\n" for ids in seqs)
    r = subprocess.run([tok_ids, gguf, "--decode"], input=inp, capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        sys.exit("tok-ids --decode failed (%d): %s" % (r.returncode, r.stderr.strip()))
    lines = r.stdout.split("\n")[:len(seqs)]
    return [bytes.fromhex(x) if not x.startswith("ERR") else x for x in lines]


def random_id_seqs(sp, seed, n):
    rng = random.Random(seed)
    nv = sp.get_piece_size()
    byte_ids = [i for i in range(nv) if sp.is_byte(i)]
    seqs = []
    for _ in range(n):
        seq = []
        while len(seq) < rng.randrange(1, 40):
            i = rng.choice(byte_ids) if rng.random() < 0.33 else rng.randrange(nv)
            if not sp.is_unknown(i):
                seq.append(i)
        seqs.append(seq)
    return seqs


def compare_decode(sp, label, seqs, got):
    bad = 0
    for ids, have in zip(seqs, got):
        want = sp.decode(ids).encode("utf-8")
        if have != want:
            bad += 1
            if bad <= 8:
                print("MISMATCH %s decode %s %s" % (label, ids, [sp.id_to_piece(i) for i in ids]))
                print("   sentencepiece: %r" % want.decode("utf-8", "replace"))
                print("   engine:        %r" % (have if isinstance(have, str) else have.decode("utf-8", "replace")))
    print("%s decode: %d/%d sequences match" % (label, len(seqs) - bad, len(seqs)))
    return bad


def hf_split_encode(sp, text):
    """HF slow tokenizer: split out special-token strings, encode the rest."""
    ids, start, i = [], 0, 0
    while i < len(text):
        best = None
        for s in SPECIALS:
            if text.startswith(s, i) and (best is None or len(s) > len(best)):
                best = s
        if best is None:
            i += 1
            continue
        if i > start:
            ids += sp.encode(text[start:i])
        ids.append(sp.piece_to_id(best))
        i += len(best)
        start = i
    if start < len(text):
        ids += sp.encode(text[start:])
    return ids


def random_items(corpus, seed):
    rng = random.Random(seed)
    chars = sorted(set("".join(corpus)))
    chars += [" "] * 20 + ["\t", "\n", "  "]
    return ["".join(rng.choice(chars) for _ in range(rng.randrange(0, 40)))
            for _ in range(N_RANDOM)]


def compare(sp, label, items, got, expect_fn):
    bad = []
    for i, s in enumerate(items):
        want = " ".join(map(str, expect_fn(s)))
        if got[i] != want:
            bad.append((i, s, want, got[i]))
    for i, s, want, have in bad[:8]:
        print("MISMATCH %s item %d: %r" % (label, i, s))
        print("   sentencepiece: %s  %s" % (want, [sp.id_to_piece(int(x)) for x in want.split()]))
        print("   engine:        %s" % have)
    print("%s: %d/%d items match" % (label, len(items) - len(bad), len(items)))
    return len(bad)


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: test_parity.py TOK_IDS FIXTURE_DIR CORPUS [PLAIN_CORPUS]")
    tok_ids, fix, corpus_path = sys.argv[1:4]
    corpus = load_corpus(corpus_path)
    if len(corpus) < 100:
        sys.exit("corpus has only %d items" % len(corpus))
    plain = []
    if len(sys.argv) == 5:
        with open(sys.argv[4], encoding="utf-8") as f:
            plain = [line for line in f.read().split("\n") if line]
    failures = 0
    for model, gguf in (("tiny-hf/tokenizer.model", "tiny-f32.gguf"),
                        ("tok-nfkc-hf/tokenizer.model", "tok-nfkc.gguf")):
        sp = spm.SentencePieceProcessor(model_file=os.path.join(fix, model))
        g = os.path.join(fix, gguf)
        got = engine_ids(tok_ids, g, corpus, False)
        failures += compare(sp, gguf + " corpus", corpus, got, sp.encode)
        seqs = [[int(x) for x in line.split()] for line in got if not line.startswith("ERR")]
        seqs += random_id_seqs(sp, 777, N_RANDOM)
        failures += compare_decode(sp, gguf, seqs, engine_decode(tok_ids, g, seqs))
        failures += compare(sp, gguf + " corpus+specials", corpus,
                            engine_ids(tok_ids, g, corpus, True),
                            lambda s: hf_split_encode(sp, s))
        if plain:
            failures += compare(sp, gguf + " plain corpus", plain,
                                engine_ids(tok_ids, g, plain, False), sp.encode)
        rnd = random_items(corpus, 20240501)
        failures += compare(sp, gguf + " random", rnd,
                            engine_ids(tok_ids, g, rnd, False), sp.encode)
    if failures:
        sys.exit("%d mismatches" % failures)
    print("tokenizer parity: all ids match")


if __name__ == "__main__":
    main()
