#!/usr/bin/python3
"""Minimal GGUF v3 reader for the reference tests (numpy only).

Reads the key/value metadata and the weights of a GGUF file and decodes the
weight types the engine supports (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K) to
float64, so that the reference forward pass can be run on exactly the numbers
stored in a quantized file. This separates two questions in the tests: how far the
quantization moves the logits (converter + format), and whether the engine
computes correctly on the weights it was given (kernels).

Written from the public GGUF format description (llama.cpp's gguf docs:
little-endian, "GGUF", u32 version, u64 tensor count, u64 key/value count,
key/values, tensor infos, padding to general.alignment, data).
"""

import struct

import numpy as np

# ggml type id -> (name, block size in elements, bytes per block)
GGML_TYPES = {
    0: ('F32', 1, 4),
    1: ('F16', 1, 2),
    2: ('Q4_0', 32, 18),
    8: ('Q8_0', 32, 34),
    12: ('Q4_K', 256, 144),
    14: ('Q6_K', 256, 210),
    30: ('BF16', 1, 2),
}

# GGUF metadata value types -> struct format (scalars only)
_SCALARS = {0: '<B', 1: '<b', 2: '<H', 3: '<h', 4: '<I', 5: '<i', 6: '<f',
            7: '<?', 10: '<Q', 11: '<q', 12: '<d'}
_STRING, _ARRAY = 8, 9


class GGUFError(Exception):
    pass


class _Cursor:
    def __init__(self, buf, path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError(f'{self.path}: truncated at byte {self.pos} (need {n} more)')
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        return bytes(self.take(self.unpack('<Q'))).decode('utf-8', errors='replace')

    def value(self, vtype):
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype = self.unpack('<I')
            count = self.unpack('<Q')
            return [self.value(etype) for _ in range(count)]
        raise GGUFError(f'{self.path}: unknown metadata type {vtype} at byte {self.pos}')


class GGUF:
    """metadata: {key: value}; tensors: {name: (type name, numpy shape, data)}."""

    def __init__(self, path):
        self.path = path
        buf = np.memmap(path, dtype=np.uint8, mode='r')
        c = _Cursor(buf, path)
        if bytes(c.take(4)) != b'GGUF':
            raise GGUFError(f'{path}: not a GGUF file (bad magic)')
        self.version = c.unpack('<I')
        n_tensors = c.unpack('<Q')
        n_kv = c.unpack('<Q')
        self.metadata = {}
        for _ in range(n_kv):
            key = c.string()
            self.metadata[key] = c.value(c.unpack('<I'))
        infos = []
        for _ in range(n_tensors):
            name = c.string()
            n_dims = c.unpack('<I')
            dims = [c.unpack('<Q') for _ in range(n_dims)]
            ttype = c.unpack('<I')
            offset = c.unpack('<Q')
            infos.append((name, dims, ttype, offset))
        align = int(self.metadata.get('general.alignment', 32))
        start = (c.pos + align - 1) // align * align
        self.tensors = {}
        for name, dims, ttype, offset in infos:
            if ttype not in GGML_TYPES:
                raise GGUFError(f'{path}: tensor {name}: unsupported type {ttype}')
            tname, blk, bsize = GGML_TYPES[ttype]
            n = int(np.prod(dims, dtype=np.int64))
            if n % blk:
                raise GGUFError(f'{path}: tensor {name}: {n} elements not a multiple of {blk}')
            nbytes = n // blk * bsize
            b0 = start + offset
            if b0 + nbytes > len(buf):
                raise GGUFError(f'{path}: tensor {name}: data ends past the file')
            # GGUF lists dims fastest first; numpy wants them slowest first.
            self.tensors[name] = (tname, tuple(reversed(dims)), buf[b0:b0 + nbytes])

    def type_of(self, name):
        return self.tensors[name][0]

    def decode(self, name):
        """The tensor as float64, in numpy (row-major, GGUF dims reversed) shape."""
        tname, shape, raw = self.tensors[name]
        if tname == 'F32':
            x = raw.view('<f4').astype(np.float64)
        elif tname == 'F16':
            x = raw.view('<f2').astype(np.float64)
        elif tname == 'BF16':
            x = (raw.view('<u2').astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        elif tname == 'Q8_0':
            blocks = raw.reshape(-1, 34)
            d = blocks[:, :2].copy().view('<f2').astype(np.float64)
            q = blocks[:, 2:].copy().view(np.int8).astype(np.float64)
            x = (q * d).reshape(-1)
        elif tname == 'Q4_0':
            blocks = raw.reshape(-1, 18)
            d = blocks[:, :2].copy().view('<f2').astype(np.float64)
            qs = blocks[:, 2:]
            lo = (qs & 0x0F).astype(np.float64) - 8.0
            hi = (qs >> 4).astype(np.float64) - 8.0
            x = (np.concatenate([lo, hi], axis=1) * d).reshape(-1)
        elif tname == 'Q4_K':
            x = _decode_q4_k(raw)
        elif tname == 'Q6_K':
            x = _decode_q6_k(raw)
        else:
            raise GGUFError(f'{self.path}: tensor {name}: cannot decode {tname}')
        return x.reshape(shape)


def _decode_q4_k(raw):
    """Q4_K super-blocks of 256: f16 d, f16 dmin, 12 bytes of 6-bit scales and
    mins for 8 sub-blocks of 32, 128 bytes of nibbles. Sub-blocks 0-3 keep
    scale and min in the low 6 bits of bytes 0-3 and 4-7; sub-blocks 4-7 keep
    their low 4 bits in bytes 8-11 (scale low nibble, min high nibble) and
    their top 2 bits in the top bits of bytes 0-3 (scale) and 4-7 (min).
    Nibble byte 32c + l holds element 64c + l (low) and 64c + 32 + l (high).
    Value = d * scale * q - dmin * min."""
    b = raw.reshape(-1, 144)
    d = b[:, 0:2].copy().view('<f2').astype(np.float64)
    dmin = b[:, 2:4].copy().view('<f2').astype(np.float64)
    s = b[:, 4:16].astype(np.int64)
    sc = np.concatenate([s[:, 0:4] & 63, (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)], axis=1)
    mn = np.concatenate([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], axis=1)
    qs = b[:, 16:144].reshape(-1, 4, 32).astype(np.int64)
    q = np.stack([qs & 15, qs >> 4], axis=2).reshape(-1, 8, 32)
    x = d[:, :, None] * sc[:, :, None] * q - dmin[:, :, None] * mn[:, :, None]
    return x.reshape(-1)


def _decode_q6_k(raw):
    """Q6_K super-blocks of 256: 128 bytes of low nibbles (ql), 64 bytes of
    2-bit high parts (qh), 16 int8 scales (one per 16 elements), f16 d. In
    each half of 128 (ql[64h:], qh[32h:]) element 32i + l takes the low
    nibble (i < 2) or high nibble (i >= 2) of ql[l + 32 (i & 1)] and bits
    2i, 2i + 1 of qh[l]. Value = d * scale * (q - 32)."""
    b = raw.reshape(-1, 210)
    ql = b[:, 0:128].astype(np.int64)
    qh = b[:, 128:192].astype(np.int64)
    sc = b[:, 192:208].copy().view(np.int8).astype(np.float64)
    d = b[:, 208:210].copy().view('<f2').astype(np.float64)
    halves = []
    for h in range(2):
        lo, hb = ql[:, 64 * h:64 * h + 64], qh[:, 32 * h:32 * h + 32]
        halves += [(lo[:, :32] & 15) | ((hb & 3) << 4),
                   (lo[:, 32:] & 15) | (((hb >> 2) & 3) << 4),
                   (lo[:, :32] >> 4) | (((hb >> 4) & 3) << 4),
                   (lo[:, 32:] >> 4) | (((hb >> 6) & 3) << 4)]
    q = np.concatenate(halves, axis=1) - 32
    return (d * np.repeat(sc, 16, axis=1) * q).reshape(-1)


# GGUF (llama.cpp gpt2) tensor name -> (HF name, transpose?). GGUF stores the
# Conv1D matrices as [out, in]; HF's Conv1D layout is [in, out].
def hf_tensors_from_gguf(g, n_layer):
    """Decode every weight of a gpt2-architecture GGUF file to HF names."""
    m = {'token_embd.weight': ('transformer.wte.weight', False),
         'position_embd.weight': ('transformer.wpe.weight', False),
         'output_norm.weight': ('transformer.ln_f.weight', False),
         'output_norm.bias': ('transformer.ln_f.bias', False),
         'output.weight': ('lm_head.weight', False)}
    per = {'attn_norm': ('ln_1', False), 'attn_qkv': ('attn.c_attn', True),
           'attn_output': ('attn.c_proj', True), 'ffn_norm': ('ln_2', False),
           'ffn_up': ('mlp.c_fc', True), 'ffn_down': ('mlp.c_proj', True)}
    for i in range(n_layer):
        for gname, (hname, tr) in per.items():
            m[f'blk.{i}.{gname}.weight'] = (f'transformer.h.{i}.{hname}.weight', tr)
            m[f'blk.{i}.{gname}.bias'] = (f'transformer.h.{i}.{hname}.bias', False)
    out = {}
    for gname, (hname, tr) in m.items():
        if gname not in g.tensors:
            if gname == 'output.weight':
                continue
            raise GGUFError(f'{g.path}: no tensor {gname}')
        x = g.decode(gname)
        out[hname] = x.T.copy() if tr else x
    return out
