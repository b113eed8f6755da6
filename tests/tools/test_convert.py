#!/usr/bin/python3
"""The converted tiny models: every contract key with its type and value, every
tensor with its shape, type and values (checked against the Hugging Face files
read independently and against the SentencePiece library), .bin == safetensors,
sharded checkpoints without the transformer. prefix, prompt-kind guessing."""

import json
import os
import shutil

import numpy as np

import tconv as T
from tconv import check

import ptgguf as G

FIX = T.fixtures()
import sentencepiece as spm  # noqa: E402

HF = os.path.join(FIX, "tiny-hf")
cfg = json.load(open(os.path.join(HF, "config.json")))
sp = spm.SentencePieceProcessor(model_file=os.path.join(HF, "tokenizer.model"))
d, ff, L, V, C = cfg["n_embd"], cfg["n_inner"], cfg["n_layer"], cfg["vocab_size"], cfg["n_positions"]

U32, I32, F32, BOOL, STR, ARR = G.T_UINT32, G.T_INT32, G.T_FLOAT32, G.T_BOOL, G.T_STRING, G.T_ARRAY


def check_keys(r, name, ftype, quantized, nfkc=False):
    t = r.kv_types
    kv = r.kv
    want = {
        "general.architecture": (STR, "gpt2"), "general.file_type": (U32, ftype),
        "gpt2.context_length": (U32, C), "gpt2.embedding_length": (U32, d),
        "gpt2.feed_forward_length": (U32, ff), "gpt2.block_count": (U32, L),
        "gpt2.attention.head_count": (U32, cfg["n_head"]),
        "tokenizer.ggml.model": (STR, "llama"),
        "tokenizer.ggml.bos_token_id": (U32, sp.piece_to_id("<s>")),
        "tokenizer.ggml.eos_token_id": (U32, sp.piece_to_id("</s>")),
        "tokenizer.ggml.unknown_token_id": (U32, sp.unk_id()),
        "tokenizer.ggml.add_bos_token": (BOOL, True), "tokenizer.ggml.add_eos_token": (BOOL, False),
        "tokenizer.ggml.add_space_prefix": (BOOL, True),
        "tokenizer.ggml.remove_extra_whitespaces": (BOOL, nfkc),
        "polytrans.prompt_kind": (STR, "base"),
        "polytrans.tokenizer.normalizer": (STR, "nmt_nfkc" if nfkc else "identity"),
        "polytrans.tokenizer.byte_fallback": (BOOL, True),
        "polytrans.tokenizer.split_digits": (BOOL, True),
        "polytrans.tokenizer.escape_whitespaces": (BOOL, True),
        "polytrans.tokenizer.treat_whitespace_as_suffix": (BOOL, False),
    }
    for k, (ty, v) in want.items():
        check(k in kv and t[k][0] == ty and kv[k] == v,
              "%s: %s = %r (type %s), want %r (type %d)" % (name, k, kv.get(k), t.get(k), v, ty))
    check(t.get("general.name", (0,))[0] == STR and kv.get("polytrans.source") == os.path.basename(
        os.path.dirname(os.path.join(FIX, "tok-nfkc-hf" if nfkc else "tiny-hf", ""))),
        "%s: general.name and polytrans.source name the folder" % name)
    check(t["gpt2.attention.layer_norm_epsilon"][0] == F32
          and abs(kv["gpt2.attention.layer_norm_epsilon"] - 1e-5) < 1e-10, "%s: epsilon f32 1e-5" % name)
    check(("general.quantization_version" in kv) == quantized
          and (not quantized or (t["general.quantization_version"][0] == U32
                                 and kv["general.quantization_version"] == 2)),
          "%s: general.quantization_version only when quantized" % name)
    check("tokenizer.ggml.padding_token_id" not in kv, "%s: no padding id (no <pad> piece)" % name)
    check(kv["tokenizer.ggml.eos_token_id"] == 2 and cfg["eos_token_id"] == V - 1,
          "%s: eos is </s> = 2 although config.json says %d" % (name, cfg["eos_token_id"]))
    for k, et in (("tokenizer.ggml.tokens", STR), ("tokenizer.ggml.scores", F32),
                  ("tokenizer.ggml.token_type", I32)):
        check(t.get(k) == (ARR, et) and len(kv[k]) == V, "%s: %s array of %d" % (name, k, V))


def check_vocab(r, proc, name):
    toks, scores, types = r.kv["tokenizer.ggml.tokens"], r.kv["tokenizer.ggml.scores"], r.kv["tokenizer.ggml.token_type"]
    n = proc.vocab_size()
    check(toks == [proc.id_to_piece(i) for i in range(n)], "%s: tokens equal SentencePiece's pieces" % name)
    check(np.array_equal(scores, np.array([proc.get_score(i) for i in range(n)], dtype=np.float32)),
          "%s: scores equal SentencePiece's" % name)

    def ty(i):
        if proc.is_unknown(i):
            return 2
        if proc.is_control(i):
            return 3
        if proc.is_unused(i):
            return 5
        if proc.is_byte(i):
            return 6
        return 1
    want = np.array([ty(i) for i in range(n)], dtype=np.int32)
    check(np.array_equal(types, want), "%s: token types equal SentencePiece's" % name)
    check(int((types == 6).sum()) == 256, "%s: 256 byte pieces" % name)


def expected_tensors():
    """gguf name -> (numpy shape, HF name, transposed)."""
    e = {"token_embd.weight": ((V, d), "transformer.wte.weight", False),
         "position_embd.weight": ((C, d), "transformer.wpe.weight", False)}
    for i in range(L):
        h, b = "transformer.h.%d." % i, "blk.%d." % i
        for g, hf, shape, tr in (
                ("attn_norm.weight", "ln_1.weight", (d,), False), ("attn_norm.bias", "ln_1.bias", (d,), False),
                ("attn_qkv.weight", "attn.c_attn.weight", (3 * d, d), True),
                ("attn_qkv.bias", "attn.c_attn.bias", (3 * d,), False),
                ("attn_output.weight", "attn.c_proj.weight", (d, d), True),
                ("attn_output.bias", "attn.c_proj.bias", (d,), False),
                ("ffn_norm.weight", "ln_2.weight", (d,), False), ("ffn_norm.bias", "ln_2.bias", (d,), False),
                ("ffn_up.weight", "mlp.c_fc.weight", (ff, d), True), ("ffn_up.bias", "mlp.c_fc.bias", (ff,), False),
                ("ffn_down.weight", "mlp.c_proj.weight", (d, ff), True),
                ("ffn_down.bias", "mlp.c_proj.bias", (d,), False)):
            e[b + g] = (shape, h + hf, tr)
    e["output_norm.weight"] = ((d,), "transformer.ln_f.weight", False)
    e["output_norm.bias"] = ((d,), "transformer.ln_f.bias", False)
    e["output.weight"] = ((V, d), "lm_head.weight", False)
    return e


MATRICES = ("token_embd.weight", "output.weight", "attn_qkv.weight", "attn_output.weight",
            "ffn_up.weight", "ffn_down.weight")


def check_tensors(r, name, ggml_type, ref, tol):
    exp = expected_tensors()
    check(list(r.tensors) == list(exp), "%s: tensor names and order" % name)
    for g, (shape, hf, tr) in exp.items():
        if g not in r.tensors:
            continue
        t = r.tensors[g]
        want_type = ggml_type if g.endswith(MATRICES) else G.GGML_F32
        ok = t["ne"] == list(reversed(shape)) and t["type"] == want_type and t["offset"] % 32 == 0
        x = r.tensor_f32(g)
        y = ref[hf].T if tr else ref[hf]
        err = float(np.max(np.abs(x - y)))
        lim = tol(g, y) if want_type != G.GGML_F32 else 0.0
        check(ok and x.shape == y.shape and err <= lim,
              "%s: %s ne=%s type=%s max err %.3g <= %.3g" % (name, g, t["ne"], G.GGML_NAME.get(t["type"]), err, lim))


ref = T.read_safetensors(os.path.join(HF, "model.safetensors"))
check(np.array_equal(ref["lm_head.weight"], ref["transformer.wte.weight"]), "fixture: lm_head == wte")


def rel(k):
    return lambda g, y: k * float(np.max(np.abs(y)))


def q8_tol(g, y):
    # Rounding costs d/2; d itself is stored as fp16, which costs up to
    # 127 * d * 2^-11 more.  d = amax/127 of the block, at most the tensor's.
    return float(np.max(np.abs(y))) / 127 * (0.5 + 127 * 2 ** -11) + 1e-7


files = [("tiny-f32.gguf", G.GGML_F32, 0, False, None),
         ("tiny-f16.gguf", G.GGML_F16, 1, False, rel(2 ** -11)),
         ("tiny-bf16.gguf", G.GGML_BF16, 32, False, rel(2 ** -8)),
         ("tiny-q8_0.gguf", G.GGML_Q8_0, 7, True, q8_tol)]
for fname, ty, ftype, quant, tol in files:
    r = G.GGUFReader(os.path.join(FIX, fname))
    check_keys(r, fname, ftype, quant)
    check_tensors(r, fname, ty, ref, tol)
check_vocab(G.GGUFReader(os.path.join(FIX, "tiny-f32.gguf")), sp, "tiny-f32.gguf")

# The .bin checkpoint (strided views, storage offsets, shared lm_head storage)
# converts to exactly the same file contents.
a = G.GGUFReader(os.path.join(FIX, "tiny-f32.gguf"))
b = G.GGUFReader(os.path.join(FIX, "tiny-bin-f32.gguf"))
check(list(a.tensors) == list(b.tensors), "tiny-bin-f32: same tensors as tiny-f32")
check(all(np.array_equal(a.tensor_bytes(n), b.tensor_bytes(n)) for n in a.tensors),
      "tiny-bin-f32: every tensor byte-identical to tiny-f32")

# The NFKC tokenizer: precompiled charsmap carried over byte for byte.
nf = G.GGUFReader(os.path.join(FIX, "tok-nfkc.gguf"))
nsp = spm.SentencePieceProcessor(model_file=os.path.join(FIX, "tok-nfkc-hf", "tokenizer.model"))
check_keys(nf, "tok-nfkc.gguf", 0, False, nfkc=True)
check_vocab(nf, nsp, "tok-nfkc.gguf")
from hfckpt import SentencePieceModel  # noqa: E402
cm = SentencePieceModel(os.path.join(FIX, "tok-nfkc-hf", "tokenizer.model")).normalizer["precompiled_charsmap"]
check(nf.kv_types.get("tokenizer.ggml.precompiled_charsmap") == (ARR, G.T_UINT8)
      and len(cm) > 1000 and bytes(nf.kv["tokenizer.ggml.precompiled_charsmap"]) == cm,
      "tok-nfkc.gguf: precompiled_charsmap (%d bytes) present as u8 array" % len(cm))
check("tokenizer.ggml.precompiled_charsmap" not in a.kv, "tiny-f32.gguf: no charsmap for identity")

# 13B-style layout: two safetensors shards with an index, names without the
# transformer. prefix, lm_head absent (as in the 1.7B checkpoint).
tmp = T.tmpdir()
try:
    sh = T.copy_hf(HF, os.path.join(tmp, "polylm-multialpaca-13b"), weights=False)
    names = [n for n in ref if n != "lm_head.weight"]
    half = len(names) // 2
    wmap = {}
    for k, part in enumerate((names[:half], names[half:])):
        fn = "model-%05d-of-00002.safetensors" % (k + 1)
        T.write_safetensors(os.path.join(sh, fn), {n[len("transformer."):] if n.startswith("transformer.") else n: ref[n] for n in part})
        wmap.update({n[len("transformer."):] if n.startswith("transformer.") else n: fn for n in part})
    json.dump({"metadata": {}, "weight_map": wmap}, open(os.path.join(sh, "model.safetensors.index.json"), "w"))
    out = os.path.join(tmp, "sh.gguf")
    rc, err = T.convert(sh, out, "--outtype", "f32")
    check(rc == 0, "sharded, unprefixed, no lm_head: converts (%s)" % err.strip()[-200:])
    if rc == 0:
        s = G.GGUFReader(out)
        check(all(np.array_equal(a.tensor_bytes(n), s.tensor_bytes(n)) for n in a.tensors),
              "sharded: tensors identical to tiny-f32")
        check(s.kv["polytrans.prompt_kind"] == "multialpaca", "prompt kind guessed from folder name: multialpaca")
    chat = os.path.join(tmp, "PolyLM-Chat-13B")
    os.symlink(sh, chat)
    rc, err = T.convert(chat, out, "--outtype", "f32", "--no-output-tensor", "--name", "X")
    if rc == 0:
        s = G.GGUFReader(out)
        check(s.kv["polytrans.prompt_kind"] == "chat" and "output.weight" not in s.tensors
              and s.kv["general.name"] == "X" and len(s.tensors) == len(a.tensors) - 1,
              "chat folder (symlink name): kind chat, --no-output-tensor, --name")
    else:
        check(False, "chat folder converts: " + err)
    rc, err = T.convert(chat, out, "--outtype", "q4_0", "--prompt-kind", "base")
    q4 = G.GGUFReader(out) if rc == 0 else None
    check(q4 is not None and q4.kv["polytrans.prompt_kind"] == "base" and q4.kv["general.file_type"] == 2
          and q4.tensors["blk.0.ffn_up.weight"]["type"] == G.GGML_Q4_0,
          "--prompt-kind overrides the guess; q4_0 output")
    if q4 is not None:
        x, y = q4.tensor_f32("blk.0.ffn_up.weight"), a.tensor_f32("blk.0.ffn_up.weight")
        blk_amax = np.abs(y.reshape(-1, 32)).max(axis=1, keepdims=True)
        check(np.all(np.abs(x - y).reshape(-1, 32) <= blk_amax / 8 * 1.01 + 1e-7),
              "q4_0 file: every element within its block's amax/8")

    # An embedding with more rows than the tokenizer has pieces: the extra
    # ids get unused [PADn] tokens so vocabulary and embedding agree.
    pv = T.copy_hf(HF, os.path.join(tmp, "padded"), weights=False)
    c2 = dict(cfg, vocab_size=V + 64)
    json.dump(c2, open(os.path.join(pv, "config.json"), "w"))
    w2 = dict(ref)
    w2["transformer.wte.weight"] = np.concatenate([ref["transformer.wte.weight"], np.zeros((64, d), np.float32)])
    w2["lm_head.weight"] = w2["transformer.wte.weight"]
    T.write_safetensors(os.path.join(pv, "model.safetensors"), w2)
    rc, err = T.convert(pv, out, "--outtype", "f32")
    p = G.GGUFReader(out) if rc == 0 else None
    check(p is not None and len(p.kv["tokenizer.ggml.tokens"]) == V + 64
          and p.kv["tokenizer.ggml.tokens"][V + 63] == "[PAD%d]" % (V + 63)
          and int(p.kv["tokenizer.ggml.token_type"][V + 5]) == 5
          and p.kv["tokenizer.ggml.tokens"][:V] == a.kv["tokenizer.ggml.tokens"]
          and p.tensors["token_embd.weight"]["ne"] == [d, V + 64],
          "padded embedding: %d pieces + 64 unused tokens" % V)
finally:
    shutil.rmtree(tmp)

T.finish()
