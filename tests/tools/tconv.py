"""Shared helpers of the converter tests (tests/tools/test_*.py).

Environment: FIXTURES (the built tests/fixtures folder), TOOLS (the source
tools/ folder).  Safetensors files are read and written here with a few lines
of independent code, so the tests do not check hfckpt with itself.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

TOOLS = os.environ.get("TOOLS") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "..", "..", "tools")
sys.path.insert(0, TOOLS)

FAILS = []


def check(cond, what):
    """Record a failed assertion (and go on, so one run shows every failure)."""
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        FAILS.append(what)


def finish():
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def fixtures():
    d = os.environ.get("FIXTURES", "")
    if not d or not os.path.exists(os.path.join(d, "fixtures.stamp")):
        skip("FIXTURES=%r has no fixtures.stamp (build the tiny_models target)" % d)
    return d


def tmpdir():
    d = tempfile.mkdtemp(prefix="pt-tools-test-")
    return d


def convert(hf, out, *args):
    """Run polylm-convert; returns (exit code, stderr)."""
    r = subprocess.run([sys.executable, os.path.join(TOOLS, "polylm-convert"), hf, out] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.stdout:
        print("unexpected stdout: " + r.stdout)
    return r.returncode, r.stderr


def read_safetensors(path):
    """name -> numpy array (F32/F16 only; BF16 as float32)."""
    out = {}
    with open(path, "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        head = json.loads(f.read(n))
        data = f.read()
    for name, e in head.items():
        if name == "__metadata__":
            continue
        b0, b1 = e["data_offsets"]
        raw = data[b0:b1]
        if e["dtype"] == "BF16":
            x = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            x = np.frombuffer(raw, {"F32": "<f4", "F16": "<f2"}[e["dtype"]]).astype(np.float32)
        out[name] = x.reshape(e["shape"])
    return out


def write_safetensors(path, tensors, dtype="F32"):
    """tensors: name -> float array, written in the given dtype."""
    head, off, blobs = {}, 0, []
    for name, x in tensors.items():
        x = np.asarray(x, dtype=np.float32)
        if dtype == "BF16":
            b = (x.view(np.uint32) >> 16).astype("<u2").tobytes()
        elif dtype == "F16":
            b = x.astype("<f2").tobytes()
        else:
            b = x.astype("<f4").tobytes()
        head[name] = {"dtype": dtype, "shape": list(x.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(head).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def copy_hf(src, dst, weights=True):
    """Copy an HF folder; without weights, only the config and tokenizer files."""
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        if not weights and (name.endswith(".safetensors") or name.endswith(".bin")):
            continue
        shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))
    return dst
