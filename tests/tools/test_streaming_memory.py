#!/usr/bin/python3
"""polylm-convert streams: converting a synthetic ~470 MB F32 checkpoint
(8 layers, d=1024, ff=4096, plus a stored lm_head) must peak below
BOUND_MB = 128 MiB of resident memory (getrusage of the child), under 30% of
the checkpoint, which only holds if tensors are read, converted and written
one at a time (measured: about 80 MiB).  The largest single tensor is 16 MiB;
the bound leaves room for the interpreter and numpy (~35 MiB) and a few
copies of one tensor or embedding chunk.  The
output is spot-checked against the input."""

import collections
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np

import tconv as T
from tconv import check

import ptgguf as G

BOUND_MB = 128
FIX = T.fixtures()
d, ff, L, C, V, H = 1024, 4096, 8, 512, 8000, 16

tmp = T.tmpdir()
try:
    hf = T.copy_hf(os.path.join(FIX, "tiny-hf"), os.path.join(tmp, "big-hf"), weights=False)
    cfg = json.load(open(os.path.join(hf, "config.json")))
    cfg.update(n_embd=d, n_inner=ff, n_layer=L, n_positions=C, n_ctx=C, n_head=H)
    json.dump(cfg, open(os.path.join(hf, "config.json"), "w"))
    shapes = collections.OrderedDict([("transformer.wte.weight", (V, d)), ("transformer.wpe.weight", (C, d))])
    for i in range(L):
        h = "transformer.h.%d." % i
        shapes.update([(h + "ln_1.weight", (d,)), (h + "ln_1.bias", (d,)),
                       (h + "attn.c_attn.weight", (d, 3 * d)), (h + "attn.c_attn.bias", (3 * d,)),
                       (h + "attn.c_proj.weight", (d, d)), (h + "attn.c_proj.bias", (d,)),
                       (h + "ln_2.weight", (d,)), (h + "ln_2.bias", (d,)),
                       (h + "mlp.c_fc.weight", (d, ff)), (h + "mlp.c_fc.bias", (ff,)),
                       (h + "mlp.c_proj.weight", (ff, d)), (h + "mlp.c_proj.bias", (d,))])
    shapes.update([("transformer.ln_f.weight", (d,)), ("transformer.ln_f.bias", (d,)),
                   ("lm_head.weight", (V, d))])
    head, off = {}, 0
    for n, s in shapes.items():
        nb = int(np.prod(s)) * 4
        head[n] = {"dtype": "F32", "shape": list(s), "data_offsets": [off, off + nb]}
        off += nb
    blob = json.dumps(head).encode()
    blob += b" " * (-len(blob) % 8)
    st = os.path.join(hf, "model.safetensors")
    rng = np.random.default_rng(5)
    keep = {}
    wte = None
    with open(st, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for n, s in shapes.items():
            x = wte if n == "lm_head.weight" else rng.standard_normal(s, dtype=np.float32)
            if n == "transformer.wte.weight":
                wte = x
            if n in ("transformer.h.7.mlp.c_proj.weight", "transformer.wte.weight"):
                keep[n] = x[:, :40].copy()      # a sample; the test stays small
            f.write(x.tobytes())
            del x
    del wte
    size_mb = os.path.getsize(st) / 2**20
    out = os.path.join(tmp, "big.gguf")
    t0 = time.time()
    # Measured through a small wrapper process: a child's ru_maxrss starts
    # from what it inherits at fork, so it must not be forked from this one.
    wrapper = ("import resource, subprocess, sys\n"
               "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
               "sys.stderr.write(r.stderr)\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "sys.exit(r.returncode)\n")
    r = subprocess.run([sys.executable, "-c", wrapper, sys.executable, os.path.join(T.TOOLS, "polylm-convert"),
                        hf, out, "--outtype", "f16"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    secs = time.time() - t0
    peak_mb = int(r.stdout.strip() or 1 << 30) / 1024
    print("checkpoint %.0f MiB, conversion %.1f s, child peak RSS %.0f MiB (bound %d MiB)"
          % (size_mb, secs, peak_mb, BOUND_MB))
    check(r.returncode == 0, "converts: " + r.stderr.strip()[-200:])
    check(size_mb > 400, "checkpoint is over 400 MiB (%.0f)" % size_mb)
    check(peak_mb < BOUND_MB, "peak RSS %.0f MiB < %d MiB" % (peak_mb, BOUND_MB))
    if r.returncode == 0:
        g = G.GGUFReader(out)
        x = g.tensor_f32("blk.7.ffn_down.weight")
        y = keep["transformer.h.7.mlp.c_proj.weight"].T
        x = x[:40]
        check(x.shape == (40, ff) and np.abs(x - y).max() <= np.abs(y).max() * 2 ** -11,
              "blk.7.ffn_down.weight is the transposed c_proj, to f16 precision")
        check(np.array_equal(g.tensor_f32("output.weight"), g.tensor_f32("token_embd.weight"))
              and np.abs(g.tensor_f32("token_embd.weight")[:, :40] - keep["transformer.wte.weight"]).max()
              <= np.abs(keep["transformer.wte.weight"]).max() * 2 ** -11, "embeddings written in chunks")
finally:
    shutil.rmtree(tmp)
T.finish()
