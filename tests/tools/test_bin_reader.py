#!/usr/bin/python3
"""hfckpt's torch .bin reader (no torch inside) against torch itself: every
dtype (BF16, F16, F32) and every kind of view torch.save keeps (transposed,
sliced with a storage offset, stepped, column slices, broadcast stride 0,
permuted 3-D, scalars, several tensors in one storage), whole and by row
ranges.  Then a bf16 .bin with the official converter's transposed views
converts to the same GGUF as the same weights in BF16 safetensors, as the real
PolyLM-1.7B checkpoint needs."""

import json
import os
import shutil

import numpy as np

import tconv as T
from tconv import check

try:
    import torch
except ImportError:
    T.skip("python3-torch is not installed (needed to write reference .bin files)")

import ptgguf as G
from hfckpt import Checkpoint

tmp = T.tmpdir()
try:
    torch.manual_seed(3)
    sd = {}
    for dt in (torch.bfloat16, torch.float16, torch.float32):
        tag = str(dt).split(".")[1]
        base = torch.randn(12, 20).to(dt)
        sd[tag + ".contig"] = base
        sd[tag + ".t"] = base.t()
        sd[tag + ".rows"] = base[3:9]
        sd[tag + ".cols"] = base[:, 5:11]
        sd[tag + ".step"] = base[1::3, ::2]
        sd[tag + ".bcast"] = torch.randn(1, 7).to(dt).expand(4, 7)
        sd[tag + ".perm"] = torch.randn(3, 4, 5).to(dt).permute(2, 0, 1)
        sd[tag + ".scalar"] = torch.tensor(-1e4).to(dt)
        sd[tag + ".vec"] = torch.randn(40).to(dt)[13:29]
    path = os.path.join(tmp, "pytorch_model.bin")
    torch.save(sd, path)
    ck = Checkpoint(tmp)
    check(ck.format == "bin" and set(ck.refs) == set(sd), "all %d tensors listed" % len(sd))
    for name, t in sd.items():
        want = t.float().numpy()
        ref = ck.refs[name]
        got = ref.read()
        check(got.dtype == np.float32 and got.shape == want.shape and np.array_equal(got, want),
              "%s: shape %s stride %s offset %d read exactly" % (name, list(t.shape), list(t.stride()),
                                                                 t.storage_offset()))
        if t.dim() >= 1 and t.shape[0] >= 3:
            check(np.array_equal(ref.read(1, 3), want[1:3]), "%s: rows 1..3 read exactly" % name)
    check(not ck.refs["float32.t"].is_contiguous() and ck.refs["float32.contig"].is_contiguous()
          and ck.refs["bfloat16.rows"].offset == 60, "view metadata (contiguity, storage offset 60)")

    # A module's state_dict (an OrderedDict carrying _metadata, as
    # save_pretrained writes it), bf16 like the real checkpoints.
    md = os.path.join(tmp, "module")
    os.makedirs(md)
    msd = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.LayerNorm(6)).to(torch.bfloat16).state_dict()
    torch.save(msd, os.path.join(md, "pytorch_model.bin"))
    mck = Checkpoint(md)
    check(hasattr(msd, "_metadata") and set(mck.refs) == set(msd)
          and all(np.array_equal(mck.refs[k].read(), v.float().numpy()) for k, v in msd.items()),
          "a module state_dict with _metadata reads exactly")

    # A bf16 checkpoint laid out like the official one, both ways.
    ref = T.read_safetensors(os.path.join(T.fixtures(), "tiny-hf", "model.safetensors"))
    hf = os.path.join(T.fixtures(), "tiny-hf")
    rounded = {k: G.bf16_to_f32(G.f32_to_bf16(v).reshape(-1)).reshape(v.shape) if v.ndim else
               G.bf16_to_f32(G.f32_to_bf16(v.reshape(1))).reshape(()) for k, v in ref.items()}
    a = T.copy_hf(hf, os.path.join(tmp, "polylm-1.7b-st"), weights=False)
    T.write_safetensors(os.path.join(a, "model.safetensors"),
                        {k: v for k, v in rounded.items() if k != "lm_head.weight"}, dtype="BF16")
    b = T.copy_hf(hf, os.path.join(tmp, "polylm-1.7b-bin"), weights=False)
    bsd = {}
    for k, v in rounded.items():
        if k == "lm_head.weight":
            continue
        x = torch.from_numpy(np.ascontiguousarray(v)).to(torch.bfloat16)
        if k.endswith(("mlp.c_proj.weight", "mlp.c_fc.weight", "attn.c_proj.weight")):
            x = x.t().contiguous().t()      # same values, transposed strides
        bsd[k] = x
    torch.save(bsd, os.path.join(b, "pytorch_model.bin"))
    check(not bsd["transformer.h.0.mlp.c_fc.weight"].is_contiguous(), "bf16 .bin holds transposed views")
    outs = []
    for folder, ty in ((a, "bf16"), (b, "bf16"), (b, "f32")):
        out = os.path.join(tmp, os.path.basename(folder) + "-" + ty + ".gguf")
        rc, err = T.convert(folder, out, "--outtype", ty)
        check(rc == 0, "convert %s --outtype %s: %s" % (os.path.basename(folder), ty, err.strip()[-150:]))
        outs.append(G.GGUFReader(out) if rc == 0 else None)
    if all(outs):
        sa, sb, f = outs
        check(all(np.array_equal(sa.tensor_bytes(n), sb.tensor_bytes(n)) for n in sa.tensors),
              "bf16 .bin and bf16 safetensors give identical GGUF tensors")
        check(np.array_equal(f.tensor_f32("blk.1.ffn_down.weight"), rounded["transformer.h.1.mlp.c_proj.weight"].T)
              and np.array_equal(f.tensor_f32("token_embd.weight"), rounded["transformer.wte.weight"]),
              "bf16 values widen exactly to f32 (bits << 16)")
        check(sb.tensors["token_embd.weight"]["type"] == G.GGML_BF16 and sb.kv["general.file_type"] == 32,
              "bf16 output keeps BF16 matrices")

    # 13B layout: two .bin shards with an index, lm_head stored separately
    # (its own storage, equal values) in the second shard.
    c = T.copy_hf(hf, os.path.join(tmp, "polylm-13b-shards"), weights=False)
    names = list(bsd)
    shards = (names[:len(names) // 2], names[len(names) // 2:])
    wmap = {}
    for k, part in enumerate(shards):
        fn = "pytorch_model-%05d-of-00002.bin" % (k + 1)
        sub = {n: bsd[n] for n in part}
        if k == 1:
            sub["lm_head.weight"] = bsd["transformer.wte.weight"].clone()
        torch.save(sub, os.path.join(c, fn))
        wmap.update({n: fn for n in sub})
    with open(os.path.join(c, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wmap}, f)
    out = os.path.join(tmp, "shards-bf16.gguf")
    rc, err = T.convert(c, out, "--outtype", "bf16")
    check(rc == 0 and "lm_head equal" in err, "sharded .bin with index converts, lm_head compared: "
          + err.strip()[-160:])
    if rc == 0 and outs[0] is not None:
        sc = G.GGUFReader(out)
        check(all(np.array_equal(sa.tensor_bytes(n), sc.tensor_bytes(n)) for n in sa.tensors),
              "sharded .bin gives the same tensors as the single safetensors file")
finally:
    shutil.rmtree(tmp)
T.finish()
