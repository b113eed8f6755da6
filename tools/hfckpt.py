"""hfckpt: read Hugging Face checkpoints one tensor at a time (numpy only).

Formats:
- safetensors (`model.safetensors`, or shards listed by
  `model.safetensors.index.json`): an 8-byte header length, a JSON header,
  raw little-endian data;
- PyTorch `.bin` (`pytorch_model.bin`, or shards listed by
  `pytorch_model.bin.index.json`): a zip holding `<prefix>/data.pkl` and one
  entry `<prefix>/data/<key>` per storage.  The pickle is read by a
  restricted Unpickler that builds placeholder objects and never imports
  torch: it accepts only the few globals a state dict uses, so a hostile file
  cannot run code through it.

A tensor is read only when asked for, as float32, honouring the storage
offset, sizes and strides it was saved with (the official PolyLM converter
left transposed, non-contiguous views).  Row ranges can be read separately so
that the 1-5 GB embedding matrices never need to be in memory whole.

Also here: a hand-written reader of SentencePiece's ModelProto (Debian's
python3-sentencepiece ships sentencepiece_model_pb2 but not the protobuf
runtime it needs).
"""

import collections
import glob
import json
import os
import pickle
import struct
import zipfile

import numpy as np


class CheckpointError(Exception):
    """A checkpoint that cannot be read; the message names the file and why."""


def bf16_bits_to_f32(bits):
    """bf16 bits -> float32: the bits shifted up by 16 (exact)."""
    wide = np.ascontiguousarray(bits, dtype=np.uint16).reshape(-1).astype(np.uint32) << 16
    return wide.view(np.float32).reshape(np.shape(bits))


# dtype name -> (numpy dtype of the raw elements, element size)
_DTYPES = {
    "BF16": ("<u2", 2), "F16": ("<f2", 2), "F32": ("<f4", 4),
    "F64": ("<f8", 8), "U8": ("u1", 1), "I8": ("i1", 1), "BOOL": ("u1", 1),
    "I64": ("<i8", 8), "I32": ("<i4", 4),
}
_FLOAT_DTYPES = ("BF16", "F16", "F32")


class TensorRef:
    """One tensor of a checkpoint, not yet read.

    path, data_offset: the file and byte offset where its storage starts;
    storage_numel: elements in that storage; dtype: "BF16" | "F16" | "F32" |...;
    offset, shape, stride: in elements, as torch describes a view.
    """

    def __init__(self, name, path, data_offset, storage_numel, dtype, offset, shape, stride):
        self.name, self.path, self.data_offset = name, path, data_offset
        self.storage_numel, self.dtype = storage_numel, dtype
        self.offset, self.shape, self.stride = int(offset), tuple(shape), tuple(stride)
        self.storage_key = (path, data_offset)
        numel = 1
        for s in self.shape:
            numel *= s
        self.numel = numel
        if numel and any(s < 0 for s in self.stride):
            raise CheckpointError("%s: tensor %s has negative strides" % (path, name))
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride)) if numel else 0
        if numel and (self.offset < 0 or last >= storage_numel):
            raise CheckpointError("%s: tensor %s (offset %d, shape %s, stride %s) reaches past "
                                  "its storage of %d elements" % (path, name, self.offset,
                                                                  list(self.shape), list(self.stride),
                                                                  storage_numel))

    def is_contiguous(self):
        expect = 1
        for n, s in zip(reversed(self.shape), reversed(self.stride)):
            if n != 1 and s != expect:
                return False
            expect *= n
        return True

    def read(self, r0=None, r1=None, transpose=False):
        """Rows r0..r1 (first dimension) as a C-contiguous float32 array; the
        whole tensor by default; transposed (reversed dimensions) if asked.
        Only the storage bytes those rows span are read from the file."""
        if self.dtype not in _FLOAT_DTYPES:
            raise CheckpointError("%s: tensor %s has dtype %s; only BF16, F16 and F32 weights "
                                  "are supported" % (self.path, self.name, self.dtype))
        shape, stride = list(self.shape), list(self.stride)
        off = self.offset
        if shape and (r0 is not None or r1 is not None):
            r0 = 0 if r0 is None else r0
            r1 = shape[0] if r1 is None else r1
            if not 0 <= r0 <= r1 <= shape[0]:
                raise CheckpointError("tensor %s: bad row range %d..%d" % (self.name, r0, r1))
            off += r0 * stride[0]
            shape[0] = r1 - r0
        numel = int(np.prod(shape)) if shape else 1
        if numel == 0:
            return np.zeros(shape, dtype=np.float32)
        span = 1 + sum((n - 1) * s for n, s in zip(shape, stride))
        npdt, esize = _DTYPES[self.dtype]
        raw = np.empty(span, dtype=npdt)
        with open(self.path, "rb") as f:
            f.seek(self.data_offset + off * esize)
            got = f.readinto(memoryview(raw).cast("B"))
        if got != span * esize:
            raise CheckpointError("%s: tensor %s is truncated (%d of %d bytes)"
                                  % (self.path, self.name, got, span * esize))
        if not shape:
            view = raw.reshape(())
        else:
            view = np.lib.stride_tricks.as_strided(
                raw, shape=shape, strides=[s * esize for s in stride], writeable=False)
        if transpose:
            view = view.T
        # One pass from the strided raw elements to a fresh C-ordered float32
        # array: at most the raw span and the result are in memory at once.
        out = np.empty(view.shape, dtype=np.float32)
        if self.dtype == "BF16":
            bits = out.view(np.uint32)
            bits[...] = view
            np.left_shift(bits, np.uint32(16), out=bits)
        else:
            out[...] = view
        return out


# ---------------------------------------------------------------------------
# safetensors

def _safetensors_refs(path):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise CheckpointError("%s: too short for safetensors" % path)
        n, = struct.unpack("<Q", head)
        if n > size - 8 or n > 100 << 20:
            raise CheckpointError("%s: header length %d does not fit the file (%d bytes)"
                                  % (path, n, size))
        try:
            header = json.loads(f.read(n))
        except ValueError as e:
            raise CheckpointError("%s: bad safetensors header: %s" % (path, e))
    base = 8 + n
    refs = collections.OrderedDict()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (b0, b1) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError("%s: tensor %s: malformed header entry" % (path, name))
        if dtype not in _DTYPES:
            raise CheckpointError("%s: tensor %s has unsupported dtype %s" % (path, name, dtype))
        esize = _DTYPES[dtype][1]
        numel = int(np.prod(shape)) if shape else 1
        if b1 - b0 != numel * esize or b0 < 0 or base + b1 > size:
            raise CheckpointError("%s: tensor %s: data offsets %d..%d do not match shape %s %s "
                                  "or the file size %d" % (path, name, b0, b1, shape, dtype, size))
        stride, acc = [], 1
        for d in reversed(shape):
            stride.insert(0, acc)
            acc *= d
        refs[name] = TensorRef(name, path, base + b0, numel, dtype, 0, shape, stride)
    return refs


# ---------------------------------------------------------------------------
# PyTorch zip + pickle, without torch

class _StorageType:
    def __init__(self, dtype):
        self.dtype = dtype


class _Storage:
    def __init__(self, dtype, key, numel):
        self.dtype, self.key, self.numel = dtype, key, numel


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *rest):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("tensor without a storage")
    return _Tensor(storage, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad, backward_hooks, *rest):
    return data


_STORAGE_DTYPES = {
    "BFloat16Storage": "BF16", "HalfStorage": "F16", "FloatStorage": "F32",
    "DoubleStorage": "F64", "ByteStorage": "U8", "CharStorage": "I8",
    "BoolStorage": "BOOL", "LongStorage": "I64", "IntStorage": "I32",
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds placeholders for the globals of a torch state dict and refuses
    every other global, so no code from the file runs."""

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError("refusing global %s.%s (not part of a plain state dict)"
                                     % (module, name))

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError("unexpected persistent id %r" % (pid[:2],))
        return _Storage(pid[1].dtype, str(pid[2]), int(pid[4]))


def _zip_entry_offset(path, zf, info):
    """Byte offset of a stored (uncompressed) zip entry's data in the file."""
    if info.compress_type != zipfile.ZIP_STORED:
        raise CheckpointError("%s: entry %s is compressed; torch writes storages uncompressed"
                              % (path, info.filename))
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        lh = f.read(30)
    if len(lh) != 30 or lh[:4] != b"PK\x03\x04":
        raise CheckpointError("%s: bad local header for %s" % (path, info.filename))
    nlen, xlen = struct.unpack("<HH", lh[26:30])
    return info.header_offset + 30 + nlen + xlen


def _torch_refs(path):
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError("%s: not a torch zip checkpoint (%s); files from torch < 1.6 "
                              "(legacy tar/pickle format) are not supported" % (path, e))
    with zf:
        names = zf.namelist()
        pkls = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkls) != 1:
            raise CheckpointError("%s: expected one data.pkl in the zip, found %d" % (path, len(pkls)))
        prefix = pkls[0][:-len("data.pkl")]
        bo = prefix + "byteorder"
        if bo in names and zf.read(bo).strip() not in (b"little", b""):
            raise CheckpointError("%s: big-endian checkpoint is not supported" % path)
        try:
            obj = _RestrictedUnpickler(zf.open(pkls[0])).load()
        except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as e:
            raise CheckpointError("%s: cannot read data.pkl: %s" % (path, e))
        if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict):
            raise CheckpointError("%s: data.pkl holds %s, not a state dict" % (path, type(obj).__name__))
        infos = {i.filename: i for i in zf.infolist()}
        refs = collections.OrderedDict()
        offsets = {}
        for name, t in obj.items():
            if not isinstance(t, _Tensor):
                continue
            st = t.storage
            entry = prefix + "data/" + st.key
            if entry not in infos:
                raise CheckpointError("%s: tensor %s: storage entry %s missing" % (path, name, entry))
            info = infos[entry]
            esize = _DTYPES[st.dtype][1]
            if info.file_size < st.numel * esize:
                raise CheckpointError("%s: storage %s holds %d bytes, %d expected"
                                      % (path, entry, info.file_size, st.numel * esize))
            if entry not in offsets:
                offsets[entry] = _zip_entry_offset(path, zf, info)
            refs[name] = TensorRef(name, path, offsets[entry], st.numel, st.dtype,
                                   t.offset, t.size, t.stride)
    return refs


# ---------------------------------------------------------------------------

class Checkpoint:
    """The tensors of a Hugging Face model folder, by name (not yet read).

    Prefers safetensors when both formats are present (they hold the same
    weights; safetensors is simpler to read)."""

    def __init__(self, folder):
        self.folder = folder
        self.refs = collections.OrderedDict()
        files, self.format = self._find_files(folder)
        for path in files:
            refs = _safetensors_refs(path) if self.format == "safetensors" else _torch_refs(path)
            for name, ref in refs.items():
                if name in self.refs:
                    raise CheckpointError("%s: tensor %s appears in two shards" % (path, name))
                self.refs[name] = ref
        self.files = files

    @staticmethod
    def _find_files(folder):
        for fmt, index, pattern in (("safetensors", "model.safetensors.index.json", "model*.safetensors"),
                                    ("bin", "pytorch_model.bin.index.json", "pytorch_model*.bin")):
            ipath = os.path.join(folder, index)
            if os.path.exists(ipath):
                try:
                    with open(ipath) as f:
                        wmap = json.load(f)["weight_map"]
                except (ValueError, KeyError, TypeError) as e:
                    raise CheckpointError("%s: bad shard index: %s" % (ipath, e))
                files = []
                for shard in wmap.values():
                    p = os.path.join(folder, os.path.basename(shard))
                    if p not in files:
                        if not os.path.exists(p):
                            raise CheckpointError("%s lists shard %s, which is missing" % (ipath, shard))
                        files.append(p)
                return sorted(files), fmt
            files = sorted(glob.glob(os.path.join(folder, pattern)))
            if files:
                return files, fmt
        raise CheckpointError("%s: no model*.safetensors or pytorch_model*.bin found" % folder)


# ---------------------------------------------------------------------------
# SentencePiece ModelProto, parsed by hand

SP_NORMAL, SP_UNKNOWN, SP_CONTROL, SP_USER_DEFINED, SP_UNUSED, SP_BYTE = 1, 2, 3, 4, 5, 6
SP_MODEL_TYPES = {1: "UNIGRAM", 2: "BPE", 3: "WORD", 4: "CHAR"}


def _varint(b, i):
    r = s = 0
    while True:
        if i >= len(b):
            raise CheckpointError("truncated varint")
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i
        if s > 63:
            raise CheckpointError("varint too long")


def proto_fields(b):
    """Yield (field number, wire type, value) of a protobuf message; value is
    an int for varints, bytes for length-delimited and fixed fields."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, t = key >> 3, key & 7
        if t == 0:
            v, i = _varint(b, i)
        elif t == 2:
            n, i = _varint(b, i)
            if i + n > len(b):
                raise CheckpointError("truncated field %d" % f)
            v, i = bytes(b[i:i + n]), i + n
        elif t == 5:
            v, i = bytes(b[i:i + 4]), i + 4
        elif t == 1:
            v, i = bytes(b[i:i + 8]), i + 8
        else:
            raise CheckpointError("unsupported wire type %d" % t)
        if i > len(b):
            raise CheckpointError("truncated field %d" % f)
        yield f, t, v


def _signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


class SentencePieceModel:
    """pieces [(piece, score, type)], model_type, trainer and normalizer
    settings of a tokenizer.model, with proto2 defaults where absent."""

    def __init__(self, path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise CheckpointError("%s: %s" % (path, e.strerror))
        self.pieces = []
        self.trainer = dict(model_type=1, byte_fallback=False, split_digits=False,
                            treat_whitespace_as_suffix=False, unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
        self.normalizer = dict(name="", precompiled_charsmap=b"", add_dummy_prefix=True,
                               remove_extra_whitespaces=True, escape_whitespaces=True)
        try:
            for f, t, v in proto_fields(data):
                if f == 1 and t == 2:
                    self.pieces.append(self._piece(v))
                elif f == 2 and t == 2:
                    self._trainer(v)
                elif f == 3 and t == 2:
                    self._normalizer(v)
        except (CheckpointError, UnicodeDecodeError, struct.error) as e:
            raise CheckpointError("%s: not a SentencePiece model: %s" % (path, e))
        if not self.pieces:
            raise CheckpointError("%s: SentencePiece model has no pieces" % path)
        self.model_type = SP_MODEL_TYPES.get(self.trainer["model_type"], str(self.trainer["model_type"]))

    @staticmethod
    def _piece(b):
        piece, score, ptype = "", 0.0, SP_NORMAL
        for f, t, v in proto_fields(b):
            if f == 1 and t == 2:
                piece = v.decode("utf-8")
            elif f == 2 and t == 5:
                score, = struct.unpack("<f", v)
            elif f == 3 and t == 0:
                ptype = v
        return piece, score, ptype

    def _trainer(self, b):
        names = {3: "model_type", 35: "byte_fallback", 25: "split_digits",
                 24: "treat_whitespace_as_suffix", 40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id"}
        for f, t, v in proto_fields(b):
            if f in names and t == 0:
                key = names[f]
                self.trainer[key] = bool(v) if isinstance(self.trainer[key], bool) else _signed(v)

    def _normalizer(self, b):
        for f, t, v in proto_fields(b):
            if f == 1 and t == 2:
                self.normalizer["name"] = v.decode("utf-8")
            elif f == 2 and t == 2:
                self.normalizer["precompiled_charsmap"] = v
            elif f in (3, 4, 5) and t == 0:
                self.normalizer[{3: "add_dummy_prefix", 4: "remove_extra_whitespaces",
                                 5: "escape_whitespaces"}[f]] = bool(v)

    def piece_id(self, piece):
        for i, (p, _, _) in enumerate(self.pieces):
            if p == piece:
                return i
        return None


def encode_varint(v):
    """Protobuf varint encoding (negative ints as 64-bit two's complement);
    used by the tests to build modified tokenizer.model files."""
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        if v:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)
