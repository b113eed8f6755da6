#!/usr/bin/python3
"""polylm-convert refuses bad checkpoints with one clear line and leaves no
output behind: lm_head != wte, a missing tensor (named), a wrong shape, a
UNIGRAM tokenizer, no </s>, bad hyperparameters, a truncated file, a pickle
that tries to run code."""

import json
import os
import pickle
import shutil
import zipfile

import numpy as np

import tconv as T
from tconv import check

from hfckpt import proto_fields, encode_varint

FIX = T.fixtures()
HF = os.path.join(FIX, "tiny-hf")
ref = T.read_safetensors(os.path.join(HF, "model.safetensors"))
tmp = T.tmpdir()


def variant(name, tensors=None, config=None, tokenizer=None):
    d = T.copy_hf(HF, os.path.join(tmp, name), weights=tensors is None)
    if tensors is not None:
        T.write_safetensors(os.path.join(d, "model.safetensors"), tensors)
    if config is not None:
        c = json.load(open(os.path.join(HF, "config.json")))
        c.update(config)
        json.dump(c, open(os.path.join(d, "config.json"), "w"))
    if tokenizer is not None:
        open(os.path.join(d, "tokenizer.model"), "wb").write(tokenizer)
    return d


def refused(folder, fragments, what):
    out = os.path.join(tmp, "out.gguf")
    if os.path.exists(out):
        os.unlink(out)
    rc, err = T.convert(folder, out, "--outtype", "f16")
    lines = [l for l in err.splitlines() if l]
    ok = (rc == 1 and "Traceback" not in err and len(lines) == 1 and lines[0].startswith("polylm-convert: error:")
          and all(f in err for f in fragments)
          and not os.path.exists(out) and not os.path.exists(out + ".tmp"))
    check(ok, "%s refused: %s" % (what, err.strip() or "(rc %d, no message)" % rc))


def rebuild(msg, field, patch):
    """Re-encode a protobuf message with `field` (length-delimited) patched."""
    out = b""
    for f, t, v in proto_fields(msg):
        key = encode_varint(f << 3 | t)
        if f == field and t == 2:
            v = patch(v)
        if t == 0:
            out += key + encode_varint(v)
        elif t == 2:
            out += key + encode_varint(len(v)) + v
        else:
            out += key + v
    return out


def set_varint(msg, field, value):
    body = b"".join(encode_varint(f << 3 | t) + (encode_varint(v) if t == 0 else
                    encode_varint(len(v)) + v if t == 2 else v)
                    for f, t, v in proto_fields(msg) if f != field)
    return body + encode_varint(field << 3) + encode_varint(value)


tok = open(os.path.join(HF, "tokenizer.model"), "rb").read()

try:
    # lm_head differs from wte in one row.
    bad = dict(ref)
    bad["lm_head.weight"] = ref["lm_head.weight"].copy()
    bad["lm_head.weight"][4321, 5] += 0.25
    refused(variant("lmhead", bad), ["lm_head.weight differs", "row 4321"], "lm_head != wte")

    # A value that F16 cannot hold is an error naming the tensor, not an inf.
    big = dict(ref)
    big["transformer.h.1.mlp.c_fc.weight"] = ref["transformer.h.1.mlp.c_fc.weight"].copy()
    big["transformer.h.1.mlp.c_fc.weight"][3, 9] = 1e5
    bigdir = variant("f16-overflow", big)
    refused(bigdir, ["blk.1.ffn_up.weight", "does not fit in F16"], "F16 overflow")
    rc, err = T.convert(bigdir, os.path.join(tmp, "ok.gguf"), "--outtype", "bf16")
    check(rc == 0, "the same checkpoint converts to bf16")

    # A missing tensor is named.
    miss = {k: v for k, v in ref.items() if k != "transformer.h.1.mlp.c_fc.bias"}
    refused(variant("missing", miss), ["h.1.mlp.c_fc.bias"], "missing tensor")

    # A tensor with the wrong shape is named with both shapes.
    shp = dict(ref)
    shp["transformer.h.0.mlp.c_fc.weight"] = np.ascontiguousarray(ref["transformer.h.0.mlp.c_fc.weight"].T)
    refused(variant("shape", shp), ["h.0.mlp.c_fc.weight", "[256, 64]", "[64, 256]"], "wrong shape")

    # UNIGRAM tokenizer (trainer_spec.model_type = 1).
    uni = rebuild(tok, 2, lambda ts: set_varint(ts, 3, 1))
    refused(variant("unigram", tokenizer=uni), ["UNIGRAM", "PolyLM uses BPE"], "UNIGRAM tokenizer")

    # No </s> piece: rename piece 2.
    def rename(piece):
        return rebuild(piece, 1, lambda v: b"</x>" if v == b"</s>" else v)
    noeos = rebuild(tok, 1, rename)
    refused(variant("noeos", tokenizer=noeos), ["no </s> piece"], "tokenizer without </s>")
    refused(variant("garbage-tok", tokenizer=b"\xff\xff\xff"), ["tokenizer.model"], "garbage tokenizer.model")

    # Hyperparameters.
    refused(variant("act", config={"activation_function": "gelu"}), ["activation_function"], "erf GELU")
    refused(variant("heads", config={"n_head": 5}), ["not a multiple of n_head"], "n_embd % n_head")
    refused(variant("layers", config={"n_layer": 3}), ["h.2."], "more layers than stored")
    refused(variant("nolayer", config={"n_layer": None}), ["n_layer"], "n_layer null")
    refused(variant("ninner", config={"n_inner": 128}), ["mlp.c_fc.weight", "[64, 128]"], "n_inner mismatch")
    refused(variant("ninner-null", config={"n_inner": None, "n_embd": 32, "n_head": 4}),
            ["wte.weight", "[8000, 32]"], "n_inner null (4*d) with the wrong n_embd")

    # Truncated weights file.
    tr = variant("trunc")
    p = os.path.join(tr, "model.safetensors")
    with open(p, "r+b") as f:
        f.truncate(os.path.getsize(p) - 1000)
    refused(tr, ["model.safetensors"], "truncated safetensors")

    # No weights at all.
    refused(T.copy_hf(HF, os.path.join(tmp, "empty"), weights=False),
            ["no model*.safetensors or pytorch_model*.bin"], "folder without weights")

    # A pickle that names os.system is refused before anything runs.
    ev = T.copy_hf(HF, os.path.join(tmp, "evil"), weights=False)
    marker = os.path.join(tmp, "pwned")

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + marker,))
    with zipfile.ZipFile(os.path.join(ev, "pytorch_model.bin"), "w") as z:
        z.writestr("pytorch_model/data.pkl", pickle.dumps({"x": Evil()}, protocol=2))
    refused(ev, ["refusing global", "system"], "pickle with os.system")
    check(not os.path.exists(marker), "the hostile pickle did not run")

    # A .bin that is not a zip (torch < 1.6 legacy format).
    lg = T.copy_hf(HF, os.path.join(tmp, "legacy"), weights=False)
    open(os.path.join(lg, "pytorch_model.bin"), "wb").write(pickle.dumps({"a": 1}, protocol=2) + b"\0" * 64)
    refused(lg, ["not a torch zip checkpoint"], "legacy .bin format")
finally:
    shutil.rmtree(tmp)

T.finish()
