"""ptgguf: a small GGUF v3 writer and reader for polytrans (numpy only).

The writer streams: every key and every tensor's name, shape and type are
declared first, the header and tensor table are written (all data offsets are
known from the shapes), and the tensor data then follows tensor by tensor, in
the declared order, possibly in several row chunks per tensor.  Nothing but the
chunk being written is held in memory, which is what lets the converter turn a
31 GB checkpoint into GGUF on a 24 GiB machine.

The reader maps the file and returns numpy views; it exists for the tests and
for tools that inspect files, and checks every count and offset it reads.

Quantizers follow llama.cpp's reference C code (ggml-quants.c,
quantize_row_q8_0_ref / quantize_row_q4_0_ref) operation by operation in
float32, so the blocks written here are the ones llama.cpp would write.
"""

import mmap
import os
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32

# GGUF metadata value types.
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL, \
    T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = range(13)

_SCALAR_FMT = {
    T_UINT8: "<B", T_INT8: "<b", T_UINT16: "<H", T_INT16: "<h",
    T_UINT32: "<I", T_INT32: "<i", T_FLOAT32: "<f", T_BOOL: "<?",
    T_UINT64: "<Q", T_INT64: "<q", T_FLOAT64: "<d",
}
_SCALAR_NP = {
    T_UINT8: "<u1", T_INT8: "<i1", T_UINT16: "<u2", T_INT16: "<i2",
    T_UINT32: "<u4", T_INT32: "<i4", T_FLOAT32: "<f4", T_BOOL: "<u1",
    T_UINT64: "<u8", T_INT64: "<i8", T_FLOAT64: "<f8",
}

# ggml tensor types (ggml.h numbering).
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0 = 0, 1, 2, 8
GGML_Q4_K, GGML_Q6_K, GGML_BF16 = 12, 14, 30

# type -> (elements per block, bytes per block)
GGML_BLOCK = {
    GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_BF16: (1, 2),
    GGML_Q8_0: (32, 34), GGML_Q4_0: (32, 18),
    GGML_Q4_K: (256, 144), GGML_Q6_K: (256, 210),
}
GGML_NAME = {
    GGML_F32: "F32", GGML_F16: "F16", GGML_BF16: "BF16", GGML_Q8_0: "Q8_0",
    GGML_Q4_0: "Q4_0", GGML_Q4_K: "Q4_K", GGML_Q6_K: "Q6_K",
}

# general.file_type values (llama.cpp's llama_ftype).
FTYPE = {GGML_F32: 0, GGML_F16: 1, GGML_Q4_0: 2, GGML_Q8_0: 7, GGML_BF16: 32}


class GGUFError(Exception):
    """A GGUF file that cannot be written or read; the message says why."""


def tensor_nbytes(ne, ggml_type):
    """Bytes of a tensor with dims ne (ne[0] innermost) of the given type."""
    if ggml_type not in GGML_BLOCK:
        raise GGUFError("unknown ggml type %d" % ggml_type)
    blk, size = GGML_BLOCK[ggml_type]
    if ne[0] % blk:
        raise GGUFError("row length %d is not a multiple of the %s block size %d"
                        % (ne[0], GGML_NAME[ggml_type], blk))
    n = 1
    for d in ne:
        n *= int(d)
    return n // blk * size


def _pad(n, align):
    return (n + align - 1) // align * align


# ---------------------------------------------------------------------------
# Element conversions and quantizers

def f32_to_f16(x):
    """float32 -> IEEE half, round to nearest even (numpy's cast is RNE);
    values past the half range become inf (callers check)."""
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float32).astype(np.float16)


def f32_to_bf16(x):
    """float32 -> bf16 bits (uint16), round to nearest even as ggml does;
    NaN stays a quiet NaN."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u.astype(np.uint64) + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    if nan.any():
        r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def bf16_to_f32(bits):
    """bf16 bits (uint16 array) -> float32: the bits shifted up by 16."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def _round_away(v):
    """C roundf(): halves away from zero (numpy's round is half-to-even)."""
    return np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))


def quantize_q8_0(x):
    """Quantize float32 rows (row length a multiple of 32) to Q8_0 blocks.
    Returns uint8 bytes of shape [..., n/32*34]: {fp16 d; int8 qs[32]}."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.shape[-1] % 32:
        raise GGUFError("Q8_0 needs rows that are a multiple of 32 long")
    b = x.reshape(-1, 32)
    amax = np.abs(b).max(axis=1)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = _round_away(b * idv[:, None]).astype(np.int8)
    out = np.empty((b.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.reshape(x.shape[:-1] + (x.shape[-1] // 32 * 34,))


def quantize_q4_0(x):
    """Quantize float32 rows to Q4_0 blocks {fp16 d; uint8 qs[16]}: element
    j < 16 in the low nibble of qs[j], element j + 16 in its high nibble."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.shape[-1] % 32:
        raise GGUFError("Q4_0 needs rows that are a multiple of 32 long")
    b = x.reshape(-1, 32)
    # The element of largest magnitude, with its sign; the first one on ties,
    # as llama.cpp's strict "amax < fabsf(v)" scan picks.
    idx = np.argmax(np.abs(b), axis=1)
    mx = b[np.arange(b.shape[0]), idx]
    d = (mx / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = b * idv[:, None] + np.float32(8.5)
    # (int8_t) truncates toward zero; v >= 0.5 here so that is floor.
    q = np.minimum(np.trunc(v), 15).astype(np.uint8)
    out = np.empty((b.shape[0], 18), dtype=np.uint8)
    out[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.reshape(x.shape[:-1] + (x.shape[-1] // 32 * 18,))


def dequantize_q8_0(raw, n):
    """Q8_0 bytes -> float32 array of n elements."""
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 34)
    d = b[:, 0:2].copy().view("<f2").astype(np.float32)
    q = b[:, 2:].view(np.int8).astype(np.float32)
    return (q * d).reshape(-1)[:n]


def dequantize_q4_0(raw, n):
    """Q4_0 bytes -> float32 array of n elements: (q - 8) * d."""
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    d = b[:, 0:2].copy().view("<f2").astype(np.float32)
    qs = b[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8
    return (q * d).reshape(-1)[:n]


def encode_rows(x, ggml_type):
    """float32 rows -> the bytes of those rows in ggml_type (numpy uint8)."""
    x = np.asarray(x, dtype=np.float32)
    if ggml_type == GGML_F32:
        out = x.astype("<f4")
    elif ggml_type == GGML_F16:
        out = f32_to_f16(x).astype("<f2")
        big = np.isinf(out) & np.isfinite(x)
        if big.any():
            raise GGUFError("value %g does not fit in F16 (largest 65504); use --outtype bf16 or f32"
                            % float(x[big].reshape(-1)[0]))
    elif ggml_type == GGML_BF16:
        out = f32_to_bf16(x).astype("<u2")
    elif ggml_type == GGML_Q8_0:
        return quantize_q8_0(x).reshape(-1)
    elif ggml_type == GGML_Q4_0:
        return quantize_q4_0(x).reshape(-1)
    else:
        raise GGUFError("cannot encode type %s" % GGML_NAME.get(ggml_type, ggml_type))
    return np.ascontiguousarray(out).view(np.uint8).reshape(-1)


# ---------------------------------------------------------------------------
# Writer

def _gguf_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _encode_value(vtype, value, elem_type=None):
    if vtype == T_STRING:
        return _gguf_str(value)
    if vtype == T_ARRAY:
        if elem_type is None:
            raise GGUFError("array value needs an element type")
        head = struct.pack("<IQ", elem_type, len(value))
        if elem_type == T_STRING:
            return head + b"".join(_gguf_str(s) for s in value)
        if elem_type == T_ARRAY:
            raise GGUFError("nested arrays are not supported")
        return head + np.asarray(value).astype(_SCALAR_NP[elem_type]).tobytes()
    if vtype not in _SCALAR_FMT:
        raise GGUFError("unknown GGUF value type %d" % vtype)
    return struct.pack(_SCALAR_FMT[vtype], value)


class GGUFWriter:
    """Streaming GGUF v3 writer.

    Usage: add_* keys, add_tensor_info() for every tensor in file order,
    write_header(), then write_tensor_data(name, rows) for each tensor in that
    same order (rows: any number of chunks whose bytes add up to the tensor),
    then close().  Sizes are checked at every step so a mistake in the caller
    raises GGUFError instead of producing a file that misparses.
    """

    def __init__(self, path, alignment=DEFAULT_ALIGNMENT):
        self.path = path
        self.alignment = alignment
        self.kv = []            # (key, encoded bytes)
        self.keys = set()
        self.tensors = []       # dicts: name, ne, type, offset, nbytes
        self.names = set()
        self.data_size = 0
        self.f = None
        self.cur = 0            # index of the tensor being written
        self.cur_written = 0
        if alignment != DEFAULT_ALIGNMENT:
            self.add_uint32("general.alignment", alignment)

    def _add(self, key, vtype, value, elem_type=None):
        if self.f is not None:
            raise GGUFError("key %s added after the header was written" % key)
        if key in self.keys:
            raise GGUFError("duplicate key %s" % key)
        self.keys.add(key)
        self.kv.append(_gguf_str(key) + struct.pack("<I", vtype)
                       + _encode_value(vtype, value, elem_type))

    def add_string(self, key, v): self._add(key, T_STRING, v)
    def add_uint32(self, key, v): self._add(key, T_UINT32, int(v))
    def add_int32(self, key, v): self._add(key, T_INT32, int(v))
    def add_float32(self, key, v): self._add(key, T_FLOAT32, float(v))
    def add_bool(self, key, v): self._add(key, T_BOOL, bool(v))
    def add_array(self, key, elem_type, values): self._add(key, T_ARRAY, values, elem_type)

    def add_tensor_info(self, name, ne, ggml_type):
        """Declare a tensor: ne lists dims innermost first (GGUF order)."""
        if self.f is not None:
            raise GGUFError("tensor %s declared after the header was written" % name)
        if name in self.names:
            raise GGUFError("duplicate tensor %s" % name)
        ne = [int(d) for d in ne]
        if not ne or any(d <= 0 for d in ne) or len(ne) > 4:
            raise GGUFError("tensor %s: bad shape %s" % (name, ne))
        nbytes = tensor_nbytes(ne, ggml_type)
        self.names.add(name)
        self.tensors.append(dict(name=name, ne=ne, type=ggml_type,
                                 offset=self.data_size, nbytes=nbytes))
        self.data_size = _pad(self.data_size + nbytes, self.alignment)

    def write_header(self):
        self.f = open(self.path, "wb")
        head = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))]
        head += self.kv
        for t in self.tensors:
            head.append(_gguf_str(t["name"]) + struct.pack("<I", len(t["ne"]))
                        + struct.pack("<%dQ" % len(t["ne"]), *t["ne"])
                        + struct.pack("<IQ", t["type"], t["offset"]))
        blob = b"".join(head)
        blob += b"\0" * (_pad(len(blob), self.alignment) - len(blob))
        self.f.write(blob)
        self.data_start = len(blob)

    def write_tensor_data(self, name, data):
        """Append bytes (a numpy array, written raw) of tensor `name`; call
        several times for one tensor to write it in chunks."""
        if self.f is None:
            raise GGUFError("write_header() must come before tensor data")
        if self.cur >= len(self.tensors):
            raise GGUFError("tensor %s written but all tensors are complete" % name)
        t = self.tensors[self.cur]
        if t["name"] != name:
            raise GGUFError("tensor %s written while %s is expected next" % (name, t["name"]))
        buf = memoryview(np.ascontiguousarray(data)).cast("B")
        if self.cur_written + len(buf) > t["nbytes"]:
            raise GGUFError("tensor %s: %d bytes written, it holds %d"
                            % (name, self.cur_written + len(buf), t["nbytes"]))
        self.f.write(buf)
        self.cur_written += len(buf)
        if self.cur_written == t["nbytes"]:
            pad = _pad(t["nbytes"], self.alignment) - t["nbytes"]
            self.f.write(b"\0" * pad)
            self.cur += 1
            self.cur_written = 0

    def close(self):
        if self.f is None:
            return
        f, self.f = self.f, None
        done = self.cur
        f.close()
        if done != len(self.tensors):
            raise GGUFError("%s: only %d of %d tensors were written"
                            % (self.path, done, len(self.tensors)))

    def abort(self):
        """Close and remove a partly written file."""
        if self.f is not None:
            self.f.close()
            self.f = None
        try:
            os.unlink(self.path)
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Reader

class GGUFReader:
    """Reads a GGUF file: .kv (key -> python value; arrays as lists or numpy
    arrays), .kv_types (key -> (type, elem type)), .tensors (name -> dict with
    ne, type, offset, nbytes) in file order, tensor_bytes(name) and
    tensor_f32(name).  Every length and offset is checked against the file."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 24:
                raise GGUFError("%s: %d bytes, too short for a GGUF header" % (path, size))
            self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.size = size
        self.pos = 0
        if self._read(4) != GGUF_MAGIC:
            raise GGUFError("%s: bad magic, not a GGUF file" % path)
        self.version, n_tensors, n_kv = self._unpack("<IQQ")
        if self.version != GGUF_VERSION:
            raise GGUFError("%s: GGUF version %d, expected 3" % (path, self.version))
        self.kv, self.kv_types = {}, {}
        for _ in range(n_kv):
            key = self._str()
            vtype, = self._unpack("<I")
            self.kv_types[key] = (vtype, None)
            self.kv[key] = self._value(vtype, key)
        self.alignment = int(self.kv.get("general.alignment", DEFAULT_ALIGNMENT))
        self.tensors = {}
        for _ in range(n_tensors):
            name = self._str()
            nd, = self._unpack("<I")
            if nd == 0 or nd > 4:
                raise GGUFError("%s: tensor %s has %d dims" % (path, name, nd))
            ne = list(self._unpack("<%dQ" % nd))
            ttype, off = self._unpack("<IQ")
            self.tensors[name] = dict(ne=ne, type=ttype, offset=off,
                                      nbytes=tensor_nbytes(ne, ttype))
        self.data_start = _pad(self.pos, self.alignment)
        for name, t in self.tensors.items():
            if t["offset"] % self.alignment:
                raise GGUFError("%s: tensor %s offset %d is not aligned" % (path, name, t["offset"]))
            end = self.data_start + t["offset"] + t["nbytes"]
            if end > size:
                raise GGUFError("%s: tensor %s ends at byte %d, file has %d" % (path, name, end, size))

    def _read(self, n):
        if n < 0 or self.pos + n > self.size:
            raise GGUFError("%s: truncated at byte %d (need %d more)" % (self.path, self.pos, n))
        b = self.mm[self.pos:self.pos + n]
        self.pos += n
        return b

    def _unpack(self, fmt):
        return struct.unpack(fmt, self._read(struct.calcsize(fmt)))

    def _str(self):
        n, = self._unpack("<Q")
        return self._read(n).decode("utf-8")

    def _value(self, vtype, key):
        if vtype == T_STRING:
            return self._str()
        if vtype == T_ARRAY:
            et, n = self._unpack("<IQ")
            self.kv_types[key] = (T_ARRAY, et)
            if et == T_STRING:
                return [self._str() for _ in range(n)]
            if et not in _SCALAR_NP:
                raise GGUFError("%s: key %s: bad array element type %d" % (self.path, key, et))
            dt = np.dtype(_SCALAR_NP[et])
            if n > self.size:
                raise GGUFError("%s: key %s: array of %d elements" % (self.path, key, n))
            return np.frombuffer(self._read(n * dt.itemsize), dtype=dt).copy()
        if vtype not in _SCALAR_FMT:
            raise GGUFError("%s: key %s: unknown value type %d" % (self.path, key, vtype))
        return self._unpack(_SCALAR_FMT[vtype])[0]

    def tensor_bytes(self, name):
        t = self.tensors[name]
        start = self.data_start + t["offset"]
        return np.frombuffer(self.mm, dtype=np.uint8, count=t["nbytes"], offset=start)

    def tensor_f32(self, name):
        """The tensor as float32, shaped in numpy order (ne reversed)."""
        t = self.tensors[name]
        raw = self.tensor_bytes(name)
        n = int(np.prod(t["ne"]))
        ty = t["type"]
        if ty == GGML_F32:
            v = raw.view("<f4")
        elif ty == GGML_F16:
            v = raw.view("<f2").astype(np.float32)
        elif ty == GGML_BF16:
            v = bf16_to_f32(raw.view("<u2"))
        elif ty == GGML_Q8_0:
            v = dequantize_q8_0(raw, n)
        elif ty == GGML_Q4_0:
            v = dequantize_q4_0(raw, n)
        else:
            raise GGUFError("%s: tensor %s: cannot decode type %s"
                            % (self.path, name, GGML_NAME.get(ty, ty)))
        return np.asarray(v, dtype=np.float32).reshape(list(reversed(t["ne"])))

    def close(self):
        self.mm.close()
