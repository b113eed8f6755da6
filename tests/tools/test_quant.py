#!/usr/bin/python3
"""ptgguf's quantizers and conversions, and its writer/reader round trip.

Q8_0 and Q4_0 are compared block by block with a scalar transcription of
llama.cpp's reference loops (quantize_row_q8_0_ref / quantize_row_q4_0_ref,
float32 arithmetic via numpy scalars), including ties and all-zero blocks, and
their dequantized values must stay within the bounds the formats allow:
Q8_0 |err| <= d/2 + 127*|d - fp16(d)| with d = amax/127; Q4_0 |err| <= |d| + 7*|d - fp16(d)| with
d = max/-8 (the clamp at 15 costs a whole step on the side opposite max)."""

import math
import os
import struct

import numpy as np

import tconv as T
from tconv import check

import ptgguf as G

f32 = np.float32


def roundf(v):
    return f32(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))


def ref_q8_0_block(x):
    amax = f32(0)
    for v in x:
        amax = max(amax, f32(abs(v)))
    d = f32(amax / f32(127))
    idv = f32(f32(1) / d) if d != 0 else f32(0)
    qs = [int(roundf(f32(v * idv))) for v in x]
    return struct.pack("<e", float(d)) + struct.pack("<32b", *qs)


def ref_q4_0_block(x):
    amax, mx = f32(0), f32(0)
    for v in x:
        if amax < abs(v):
            amax, mx = f32(abs(v)), v
    d = f32(mx / f32(-8))
    idv = f32(f32(1) / d) if d != 0 else f32(0)
    qs = []
    for j in range(16):
        a = min(15, int(f32(f32(x[j] * idv) + f32(8.5))))
        b = min(15, int(f32(f32(x[16 + j] * idv) + f32(8.5))))
        qs.append(a | (b << 4))
    return struct.pack("<e", float(d)) + bytes(qs)


rng = np.random.default_rng(7)
blocks = [rng.standard_normal(32).astype(f32) * s for s in (1e-3, 0.1, 1, 30)]
blocks.append(np.zeros(32, dtype=f32))
tie = np.linspace(-127, 127, 32).astype(f32)
tie[0], tie[1], tie[2] = 127, 0.5, -2.5          # exact .5 ties for Q8_0 (d = 1)
blocks.append(tie)
blocks.append(np.array([3, -8] + [1] * 30, dtype=f32))   # negative max for Q4_0
blocks.append(np.array([-8, 8] + [0.25] * 30, dtype=f32))  # |max| tie: first wins
blocks.append(rng.standard_normal(32).astype(f32) * 5 + 40)
x = np.stack(blocks)

q8 = G.quantize_q8_0(x)
q4 = G.quantize_q4_0(x)
check(q8.shape == (len(blocks), 34) and q4.shape == (len(blocks), 18), "block sizes 34 and 18 bytes")
for i, b in enumerate(blocks):
    check(bytes(q8[i]) == ref_q8_0_block(b), "Q8_0 block %d bit-identical to llama.cpp's loop" % i)
    check(bytes(q4[i]) == ref_q4_0_block(b), "Q4_0 block %d bit-identical to llama.cpp's loop" % i)
check(struct.unpack("<e", bytes(q4[7][:2]))[0] == 1.0, "Q4_0: first of equal-magnitude maxima (-8) sets d = 1")
check(q8[5][2] == 127 and q8[5][3] == 1 and q8[5][4] == 0xFD, "Q8_0: ties round away from zero (0.5->1, -2.5->-3)")
# Nibble layout: element j in the low nibble of qs[j], element j+16 in its high nibble.
# x[0] = -8 is the largest magnitude, so d = 1 and q = x + 8: x[j] = j - 8
# gives q = j, x[16 + j] = 7 - j gives q = 15 - j.
nib = np.concatenate([np.arange(16) - 8, 7 - np.arange(16)]).astype(f32)
qb = G.quantize_q4_0(nib)
check(list(qb[2:] & 15) == list(range(16)) and list(qb[2:] >> 4) == [15 - j for j in range(16)],
      "Q4_0 nibble order: x[j] in the low nibble of qs[j], x[j+16] in the high one")
check(np.array_equal(G.dequantize_q4_0(qb.tobytes(), 32), nib), "Q4_0 dequantizes (q-8)*d exactly here")

# Error bounds on a large random matrix, per block.
big = (rng.standard_normal((256, 1024)) * rng.uniform(0.01, 3, (256, 1))).astype(f32)
bl = big.reshape(-1, 32)
amax = np.abs(bl).max(axis=1)
d8 = amax / 127
e8 = np.abs(G.dequantize_q8_0(G.quantize_q8_0(big).tobytes(), big.size).reshape(-1, 32) - bl).max(axis=1)
check(np.all(e8 <= d8 * (0.5 + 127 * 2 ** -11) + 1e-12), "Q8_0 error within d/2 + fp16(d) slack (max %.3g of amax)"
      % float((e8 / amax).max()))
e4 = np.abs(G.dequantize_q4_0(G.quantize_q4_0(big).tobytes(), big.size).reshape(-1, 32) - bl).max(axis=1)
check(np.all(e4 <= amax / 8 * (1 + 7 * 2 ** -11) + 1e-12), "Q4_0 error within |d| = amax/8 (max %.3g of amax)"
      % float((e4 / amax).max()))
check(float(np.mean(e8 / amax)) < 0.006 and float(np.mean(e4 / amax)) < 0.13,
      "mean block errors typical (q8 %.4f, q4 %.4f of amax)" % (float(np.mean(e8 / amax)), float(np.mean(e4 / amax))))
for bad in (np.zeros(31, dtype=f32), np.zeros((2, 48), dtype=f32)):
    try:
        G.quantize_q8_0(bad)
        check(False, "Q8_0 refuses rows of %d" % bad.shape[-1])
    except G.GGUFError:
        check(True, "Q8_0 refuses rows of %d" % bad.shape[-1])

# bf16: round to nearest even; NaN stays NaN; inf stays inf.
one = f32(1.0)
vals = np.array([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -(1 + 3 * 2 ** -8), 65504.0,
                 np.inf, -np.inf, np.nan, 3.0e38, 1e-40], dtype=f32)
bits = G.f32_to_bf16(vals)
back = G.bf16_to_f32(bits)
check(back[0] == one and back[1] == f32(1 + 4 * 2 ** -8) and back[2] == f32(1 + 2 * 2 ** -8)
      and back[3] == -f32(1 + 4 * 2 ** -8), "bf16 rounds to nearest, ties to even")
check(np.isposinf(back[5]) and np.isneginf(back[6]) and np.isnan(back[7]), "bf16 keeps inf and NaN")
check(bool(np.all(np.abs(back[8:9] - vals[8:9]) <= np.abs(vals[8:9]) * 2 ** -8)), "bf16 large values")
r = rng.standard_normal(100000).astype(f32)
check(np.all(np.abs(G.bf16_to_f32(G.f32_to_bf16(r)) - r) <= np.abs(r) * 2 ** -8),
      "bf16 relative error <= 2^-8")
check(np.all(np.abs(G.f32_to_f16(r).astype(f32) - r) <= np.maximum(np.abs(r) * 2 ** -11, 2 ** -25)),
      "f16 relative error <= 2^-11")

# Writer/reader round trip: keys of every type, alignment, chunked data.
tmp = T.tmpdir()
path = os.path.join(tmp, "rt.gguf")
w = G.GGUFWriter(path, alignment=64)
w.add_string("s", "héllo")
w.add_uint32("u", 4000000000)
w.add_int32("i", -5)
w.add_float32("f", 0.5)
w.add_bool("b", True)
w.add_array("as", G.T_STRING, ["a", "", "▁x"])
w.add_array("af", G.T_FLOAT32, [1.5, -2])
w.add_array("ai", G.T_INT32, [1, -2, 3])
w.add_array("au8", G.T_UINT8, np.arange(5, dtype=np.uint8))
m = rng.standard_normal((96, 64)).astype(f32)
w.add_tensor_info("a", [64, 96], G.GGML_F32)
w.add_tensor_info("v", [3], G.GGML_F32)
w.add_tensor_info("q", [64, 96], G.GGML_Q8_0)
try:
    w.add_string("s", "again")
    check(False, "writer refuses a duplicate key")
except G.GGUFError:
    check(True, "writer refuses a duplicate key")
w.write_header()
try:
    w.write_tensor_data("v", np.zeros(3, dtype=f32))
    check(False, "writer refuses tensors out of order")
except G.GGUFError:
    check(True, "writer refuses tensors out of order")
w.write_tensor_data("a", m[:50])
w.write_tensor_data("a", m[50:])
w.write_tensor_data("v", np.array([1, 2, 3], dtype=f32))
try:
    w.write_tensor_data("q", np.zeros(96 * 2 * 34 + 1, dtype=np.uint8))
    check(False, "writer refuses too many bytes")
except G.GGUFError:
    check(True, "writer refuses too many bytes")
w.write_tensor_data("q", G.quantize_q8_0(m))
w.close()
rd = G.GGUFReader(path)
check(rd.kv["s"] == "héllo" and rd.kv["u"] == 4000000000 and rd.kv["i"] == -5 and rd.kv["f"] == 0.5
      and rd.kv["b"] is True and rd.kv["as"] == ["a", "", "▁x"] and list(rd.kv["af"]) == [1.5, -2]
      and list(rd.kv["ai"]) == [1, -2, 3] and list(rd.kv["au8"]) == [0, 1, 2, 3, 4]
      and rd.kv["general.alignment"] == 64, "every key reads back with its value")
check(rd.kv_types["u"][0] == G.T_UINT32 and rd.kv_types["ai"] == (G.T_ARRAY, G.T_INT32), "key types read back")
check(rd.data_start % 64 == 0 and all(t["offset"] % 64 == 0 for t in rd.tensors.values()), "alignment 64 honoured")
check(np.array_equal(rd.tensor_f32("a"), m) and list(rd.tensor_f32("v")) == [1, 2, 3]
      and np.abs(rd.tensor_f32("q") - m).max() < np.abs(m).max() / 100, "tensor data reads back")
check(os.path.getsize(path) == rd.data_start + rd.tensors["q"]["offset"] + 96 * 2 * 34 + (-(96 * 68) % 64),
      "file ends after the padded last tensor")
open(path, "r+b").truncate(os.path.getsize(path) - 100)
try:
    G.GGUFReader(path)
    check(False, "reader refuses a truncated file")
except G.GGUFError as e:
    check("tensor q ends at byte" in str(e), "reader refuses a truncated file: %s" % e)
w2 = G.GGUFWriter(os.path.join(tmp, "short.gguf"))
w2.add_tensor_info("a", [32], G.GGML_F32)
w2.write_header()
try:
    w2.close()
    check(False, "writer refuses to close with tensors unwritten")
except G.GGUFError:
    check(True, "writer refuses to close with tensors unwritten")
import shutil  # noqa: E402
shutil.rmtree(tmp)
T.finish()
