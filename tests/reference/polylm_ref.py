#!/usr/bin/python3
"""Independent numpy reference of the PolyLM forward pass.

Written from the architecture spec (shared/spec/polylm-model.md section 1)
only, without looking at the C engine, so that the two can check each other.
It reads a Hugging Face checkpoint folder directly (config.json plus
model.safetensors, parsed by hand) and computes in float64 with full causal
attention over the whole sequence on every call: no KV cache, which is a
different route from the engine's incremental decoding.

Deliberate breaks (--break NAME, for the sensitivity demonstration):
  erf_gelu         exact erf GELU instead of the tanh approximation
  qkv_interleaved  Q/K/V taken per head interleaved ([q0 k0 v0 q1 k1 v1 ...])
  no_bias          the attention output bias (attn.c_proj.bias) dropped
  pos_offset       positions start at 1 instead of 0

Command line (for debugging; the tests import the module):
  polylm_ref.py HF_DIR --prompt TEXT [--no-bos] [--greedy N] [--logits-out F]
  polylm_ref.py HF_DIR --ids 1 2 3 ...
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

BREAKS = ('erf_gelu', 'qkv_interleaved', 'no_bias', 'pos_offset')

# Safetensors dtype names -> (numpy dtype of the stored bits, bytes per item).
_ST_DTYPES = {
    'F64': (np.float64, 8),
    'F32': (np.float32, 4),
    'F16': (np.float16, 2),
    'BF16': (np.uint16, 2),
}


class RefError(Exception):
    """A checkpoint the reference cannot read; the message names the file."""


def _bf16_to_f32(bits):
    # bfloat16 is the top half of a float32: shift the 16 bits up.
    return (bits.astype(np.uint32) << 16).view(np.float32)


def read_safetensors(path, names=None):
    """Return {name: float64 array} for the tensors of one safetensors file.

    Layout: u64 little-endian header length N, N bytes of JSON
    {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": ...},
    then the data; offsets are relative to the end of the header.
    """
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise RefError(f'{path}: shorter than the 8-byte header length')
        (hlen,) = struct.unpack('<Q', raw)
        if hlen > size - 8:
            raise RefError(f'{path}: header length {hlen} exceeds file size {size}')
        header = json.loads(f.read(hlen).decode('utf-8'))
    base = 8 + hlen
    data = np.memmap(path, dtype=np.uint8, mode='r')
    out = {}
    for name, info in header.items():
        if name == '__metadata__' or (names is not None and name not in names):
            continue
        dtype = info['dtype']
        if dtype not in _ST_DTYPES:
            raise RefError(f'{path}: tensor {name}: unsupported dtype {dtype}')
        npdt, width = _ST_DTYPES[dtype]
        shape = tuple(int(d) for d in info['shape'])
        begin, end = (int(x) for x in info['data_offsets'])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - begin != count * width or base + end > size or begin < 0:
            raise RefError(f'{path}: tensor {name}: data [{begin}, {end}) does not '
                           f'fit shape {shape} x {width} B in a {size}-byte file')
        bits = data[base + begin:base + end].view(npdt).reshape(shape)
        arr = _bf16_to_f32(bits) if dtype == 'BF16' else bits
        out[name] = np.array(arr, dtype=np.float64)
    return out


def read_checkpoint_tensors(hf_dir):
    """All tensors of model.safetensors, or of the shards its index names."""
    single = os.path.join(hf_dir, 'model.safetensors')
    index = os.path.join(hf_dir, 'model.safetensors.index.json')
    if os.path.exists(single):
        return read_safetensors(single)
    if os.path.exists(index):
        with open(index, encoding='utf-8') as f:
            weight_map = json.load(f)['weight_map']
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            tensors.update(read_safetensors(os.path.join(hf_dir, shard)))
        return tensors
    raise RefError(f'{hf_dir}: no model.safetensors or model.safetensors.index.json')


class Model:
    """PolyLM (GPT-2 layout) weights in float64, as the spec describes them."""

    def __init__(self, hf_dir, tensors=None, config=None):
        """Load hf_dir; or, for tests, take already-decoded tensors (HF names,
        float64, Conv1D [in, out] layout) and a config dict."""
        if config is None:
            with open(os.path.join(hf_dir, 'config.json'), encoding='utf-8') as f:
                config = json.load(f)
        cfg = config
        self.n_layer = int(cfg['n_layer'])
        self.d = int(cfg['n_embd'])
        self.n_head = int(cfg['n_head'])
        self.n_ctx = int(cfg['n_positions'])
        self.eps = float(cfg.get('layer_norm_epsilon', 1e-5))
        self.n_vocab = int(cfg['vocab_size'])
        self.n_inner = int(cfg.get('n_inner') or 4 * self.d)
        if self.d % self.n_head:
            raise RefError(f'{hf_dir}: n_embd {self.d} not a multiple of n_head {self.n_head}')
        act = cfg.get('activation_function', 'gelu_new')
        if act not in ('gelu_fast', 'gelu_new', 'gelu_pytorch_tanh'):
            raise RefError(f'{hf_dir}: activation {act} is not the tanh GELU of the spec')
        t = tensors if tensors is not None else read_checkpoint_tensors(hf_dir)
        # Accept names with or without the "transformer." prefix (spec 2.2).
        t = {k[len('transformer.'):] if k.startswith('transformer.') else k: v
             for k, v in t.items()}
        self.t = t
        self.wte = self._get('wte.weight', (self.n_vocab, self.d))
        self.wpe = self._get('wpe.weight', (self.n_ctx, self.d))
        # The output matrix is tied to wte (spec 1.1). A separate lm_head is
        # only used when the caller passes tensors (a GGUF file may hold the
        # output copy in another weight type); from a checkpoint it must be
        # equal to wte.
        self.out_w = self.wte
        if 'lm_head.weight' in t:
            if tensors is not None:
                self.out_w = self._get('lm_head.weight', (self.n_vocab, self.d))
            elif not np.array_equal(t['lm_head.weight'], self.wte):
                raise RefError(f'{hf_dir}: lm_head.weight differs from transformer.wte.weight')
        d, f = self.d, self.n_inner
        self.layers = []
        for i in range(self.n_layer):
            p = f'h.{i}.'
            self.layers.append({
                'ln1_w': self._get(p + 'ln_1.weight', (d,)),
                'ln1_b': self._get(p + 'ln_1.bias', (d,)),
                'qkv_w': self._get(p + 'attn.c_attn.weight', (d, 3 * d)),
                'qkv_b': self._get(p + 'attn.c_attn.bias', (3 * d,)),
                'o_w': self._get(p + 'attn.c_proj.weight', (d, d)),
                'o_b': self._get(p + 'attn.c_proj.bias', (d,)),
                'ln2_w': self._get(p + 'ln_2.weight', (d,)),
                'ln2_b': self._get(p + 'ln_2.bias', (d,)),
                'fc_w': self._get(p + 'mlp.c_fc.weight', (d, f)),
                'fc_b': self._get(p + 'mlp.c_fc.bias', (f,)),
                'proj_w': self._get(p + 'mlp.c_proj.weight', (f, d)),
                'proj_b': self._get(p + 'mlp.c_proj.bias', (d,)),
            })
        self.lnf_w = self._get('ln_f.weight', (d,))
        self.lnf_b = self._get('ln_f.bias', (d,))

    def _get(self, name, shape):
        if name not in self.t:
            raise RefError(f'checkpoint has no tensor {name}')
        a = self.t[name]
        if shape is not None and a.shape != shape:
            raise RefError(f'tensor {name}: shape {a.shape}, expected {shape}')
        return a


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * x * (1.0 + 0.044715 * x * x)))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _split_qkv(qkv, d, n_head, interleaved):
    """Return q, k, v as [n_head, T, head_dim]."""
    T = qkv.shape[0]
    hd = d // n_head
    if interleaved:
        # The deliberate bug: Megatron's per-head layout [q_j k_j v_j] per head.
        x = qkv.reshape(T, n_head, 3, hd).transpose(2, 1, 0, 3)
        return x[0], x[1], x[2]
    # The spec's layout: Q of all heads | K of all heads | V of all heads.
    q, k, v = qkv[:, 0:d], qkv[:, d:2 * d], qkv[:, 2 * d:3 * d]
    return tuple(m.reshape(T, n_head, hd).transpose(1, 0, 2) for m in (q, k, v))


def _plain_matmul(x, w, name):
    return x @ w


def forward(model, ids, brk=None, matmul=None):
    """Logits [T, n_vocab] (float64) for every position of ids.

    matmul(x, W, name) -> x @ W may be replaced by a test to model how an
    engine rounds the inputs of a product (name: 'blk.N.attn_qkv', ...,
    'output', the GGUF names of the weights)."""
    if brk is not None and brk not in BREAKS:
        raise ValueError(f'unknown break {brk}; known: {", ".join(BREAKS)}')
    ids = np.asarray(ids, dtype=np.int64)
    T = len(ids)
    first = 1 if brk == 'pos_offset' else 0
    if T == 0 or first + T > model.n_ctx:
        raise RefError(f'{T} tokens do not fit the context of {model.n_ctx}')
    if ids.min() < 0 or ids.max() >= model.n_vocab:
        raise RefError(f'token id out of range 0..{model.n_vocab - 1}')
    d, nh = model.d, model.n_head
    hd = d // nh
    gelu = gelu_erf if brk == 'erf_gelu' else gelu_tanh
    mm = matmul or _plain_matmul
    h = model.wte[ids] + model.wpe[first:first + T]                  # [T, d]
    future = np.triu(np.ones((T, T), dtype=bool), k=1)               # j > i masked
    for i, L in enumerate(model.layers):
        a = layer_norm(h, L['ln1_w'], L['ln1_b'], model.eps)
        qkv = mm(a, L['qkv_w'], f'blk.{i}.attn_qkv') + L['qkv_b']                             # [T, 3d]
        q, k, v = _split_qkv(qkv, d, nh, brk == 'qkv_interleaved')  # [nh, T, hd]
        s = (q @ k.transpose(0, 2, 1)) / math.sqrt(hd)                # [nh, T, T]
        s = np.where(future, -np.inf, s)
        s = s - s.max(axis=-1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=-1, keepdims=True)
        o = (p @ v).transpose(1, 0, 2).reshape(T, d)                 # heads in order
        attn = mm(o, L['o_w'], f'blk.{i}.attn_output')
        if brk != 'no_bias':
            attn = attn + L['o_b']
        h = h + attn
        m = layer_norm(h, L['ln2_w'], L['ln2_b'], model.eps)
        u = gelu(mm(m, L['fc_w'], f'blk.{i}.ffn_up') + L['fc_b'])
        h = h + mm(u, L['proj_w'], f'blk.{i}.ffn_down') + L['proj_b']
    h = layer_norm(h, model.lnf_w, model.lnf_b, model.eps)
    return mm(h, model.out_w.T, 'output')                            # [T, n_vocab]


def greedy(model, ids, n_new, eos=2, brk=None):
    """Greedy continuation: argmax of a full recomputation at each step.

    Returns (new ids, margins) where margins[i] is the gap between the best
    and second-best logit at step i divided by max|logit| (to tell a real
    divergence from a near tie).
    Stops after eos (included) or when the context is full.
    """
    seq = list(ids)
    out, margins = [], []
    for _ in range(n_new):
        if len(seq) >= model.n_ctx:
            break
        logits = forward(model, seq, brk)[-1]
        top2 = np.partition(logits, -2)[-2:]
        nxt = int(np.argmax(logits))
        margins.append(float(abs(top2[1] - top2[0]) / np.abs(logits).max()))
        out.append(nxt)
        seq.append(nxt)
        if nxt == eos:
            break
    return out, margins


_SP = {}


def tokenize(hf_dir, text, bos=True):
    """Ids from python3-sentencepiece with the checkpoint's tokenizer.model,
    BOS prepended as Hugging Face's LlamaTokenizer does."""
    import sentencepiece as spm
    path = os.path.join(hf_dir, 'tokenizer.model')
    sp = _SP.get(path)
    if sp is None:
        sp = _SP[path] = spm.SentencePieceProcessor(model_file=path)
    ids = sp.encode(text)
    return ([sp.bos_id()] if bos else []) + list(ids)


def main(argv):
    ap = argparse.ArgumentParser(description='numpy reference of the PolyLM forward pass')
    ap.add_argument('hf_dir')
    ap.add_argument('--prompt')
    ap.add_argument('--ids', type=int, nargs='+')
    ap.add_argument('--no-bos', action='store_true')
    ap.add_argument('--greedy', type=int, default=0, metavar='N')
    ap.add_argument('--logits-out', metavar='PATH',
                    help='float32 little-endian logits of the last position')
    ap.add_argument('--break', dest='brk', choices=BREAKS)
    a = ap.parse_args(argv)
    if (a.prompt is None) == (a.ids is None):
        ap.error('give exactly one of --prompt and --ids')
    try:
        model = Model(a.hf_dir)
        ids = a.ids if a.ids is not None else tokenize(a.hf_dir, a.prompt, not a.no_bos)
        print('ids:', ' '.join(map(str, ids)))
        logits = forward(model, ids, a.brk)[-1]
        print(f'last position: argmax {int(np.argmax(logits))}, '
              f'max|logit| {np.abs(logits).max():.6g}')
        if a.logits_out:
            logits.astype('<f4').tofile(a.logits_out)
        if a.greedy:
            new, _ = greedy(model, ids, a.greedy, brk=a.brk)
            print('greedy:', ' '.join(map(str, new)))
    except (RefError, OSError, ValueError) as e:
        print(f'polylm_ref: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
