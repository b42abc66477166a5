"""Models for the benchmark: a ViT-S/16-like model and synthetic ONNX graphs.

- :func:`vit_small` -- a ViT-S/16-like Vision Transformer (patch 16 on
  1×3×224×224, 12 blocks) at a small width, built from the blocks of
  ``samples/vit.py`` (``nn.MultiheadAttention``, pre-norm); needs torch.
- :func:`gpt2_12`, :func:`gpt2_48` -- CLI factories
  (``cli.py render benchmarks/models.py:gpt2_48``): ``samples/gpt2.py``'s
  ``gpt2_model`` (width 64) with int64 1×16 ``input_ids`` and an attention mask.
- :func:`make_transformer_onnx` -- a transformer encoder written with
  ``onnx.helper`` only (no torch): ``n_blocks`` pre-norm blocks of 49 ops
  each, LayerNorm and GELU decomposed and node names in the TorchScript
  exporter's pattern (``/blocks.17/attn/q/MatMul``), so module paths exist.
  200 blocks give a 9,814-node graph (the "10,000-node" graph); 12 blocks
  of width 1024 give a ~500 MB file (the memory test).
- :func:`ten_k_variant` -- the same generator with one block inserted in the
  middle and one MLP widened: the other side of the diff benchmark.

Examples
--------
>>> import tempfile, os, onnx
>>> path = make_transformer_onnx(os.path.join(tempfile.mkdtemp(), "t.onnx"), n_blocks=2)
>>> len(onnx.load(path).graph.node)
112
"""

import os
import sys

__all__ = ["vit_small", "gpt2_inputs", "gpt2_12", "gpt2_48", "make_transformer_onnx",
           "ten_k_variant", "OPS_PER_BLOCK"]

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:  # for ``samples`` when the CLI imports this file by path
    sys.path.insert(0, _ROOT)

#: ONNX nodes in one block of :func:`make_transformer_onnx`.
OPS_PER_BLOCK = 49


def vit_small(dim=96, depth=12, heads=3, mlp_ratio=4, image_size=224, patch=16,
              num_classes=1000):
    """A ViT-S/16-like model (eval mode) and its input 1×3×224×224.

    The layout of ViT-S/16 (patch 16, 196 patches plus a class token,
    12 pre-norm blocks, MLP ratio 4) at a quarter of its width (96 instead
    of 384), so the benchmark measures graph size, not FLOPs.
    """
    import torch
    from torch import nn

    from samples.vit import Block, ViT

    torch.manual_seed(0)
    model = ViT(image_size=image_size, patch=patch, in_channels=3, dim=dim, heads=heads,
                depth=depth, num_classes=num_classes)
    # samples/vit.py's ViT has MLP ratio 2; ViT-S has 4.
    model.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio=mlp_ratio)
                                  for _ in range(depth)])
    generator = torch.Generator().manual_seed(0)
    return model.eval(), (torch.randn(1, 3, image_size, image_size, generator=generator),)


def gpt2_inputs(seq_len=16, vocab_size=1000):
    """``(input_ids, attention_mask)``: seeded int64 token ids and a mask of ones, 1×seq_len."""
    import torch

    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, vocab_size, (1, seq_len), dtype=torch.int64,
                              generator=generator)
    return input_ids, torch.ones(1, seq_len, dtype=torch.int64)


def gpt2_12():
    """CLI factory: the 12-layer narrow GPT-2 (``samples/gpt2.py``) and its inputs."""
    from samples.gpt2 import gpt2_model

    return gpt2_model(n_layer=12), gpt2_inputs()


def gpt2_48():
    """CLI factory: the 48-layer narrow GPT-2 (``samples/gpt2.py``) and its inputs."""
    from samples.gpt2 import gpt2_model

    return gpt2_model(n_layer=48), gpt2_inputs()


# ------------------------------------------------------------ synthetic ONNX

class _Builder:
    """Accumulates ONNX nodes and initializers with TorchScript-style names."""

    def __init__(self, onnx, numpy, rng, big_weights):
        self.onnx, self.np, self.rng = onnx, numpy, rng
        self.big_weights = big_weights
        self.nodes, self.inits = [], []
        self.counts = {}
        self._consts = {}

    def node(self, scope, op, inputs, out=None, **attrs):
        """Add ``/scope/Op[_k]``; return its single output name."""
        key = (scope, op)
        k = self.counts.get(key, 0)
        self.counts[key] = k + 1
        name = f"/{scope}/{op}" + (f"_{k}" if k else "")
        out = out or f"{name}_output_0"
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def weight(self, name, shape):
        """A float32 initializer (random; seeded)."""
        np = self.np
        if self.big_weights:
            array = self.rng.standard_normal(shape, dtype=np.float32)
        else:
            array = np.full(shape, 0.01, dtype=np.float32)
        tensor = self.onnx.numpy_helper.from_array(array, name)
        del array
        self.inits.append(tensor)
        return name

    def const(self, values, dtype="int64"):
        """A small shared constant initializer (shape vectors, scalars)."""
        key = (tuple(values), dtype)
        if key not in self._consts:
            name = f"onnx::Const_{len(self._consts)}"
            array = self.np.array(values, dtype=dtype)
            self.inits.append(self.onnx.numpy_helper.from_array(array, name))
            self._consts[key] = name
        return self._consts[key]


def _layer_norm(b, scope, x, dim):
    mean = b.node(scope, "ReduceMean", [x], axes=[-1])
    diff = b.node(scope, "Sub", [x, mean])
    sq = b.node(scope, "Pow", [diff, b.const([2.0], "float32")])
    var = b.node(scope, "ReduceMean", [sq], axes=[-1])
    var = b.node(scope, "Add", [var, b.const([1e-5], "float32")])
    std = b.node(scope, "Sqrt", [var])
    y = b.node(scope, "Div", [diff, std])
    y = b.node(scope, "Mul", [y, b.weight(f"{scope.replace('/', '.')}.weight", [dim])])
    return b.node(scope, "Add", [y, b.weight(f"{scope.replace('/', '.')}.bias", [dim])])


def _linear(b, scope, x, d_in, d_out):
    dotted = scope.replace("/", ".")
    y = b.node(scope, "MatMul", [x, b.weight(f"{dotted}.weight", [d_in, d_out])])
    return b.node(scope, "Add", [y, b.weight(f"{dotted}.bias", [d_out])])


def _block(b, k, x, dim, hidden, heads, seq):
    """One pre-norm transformer block: 49 nodes under ``blocks.k``."""
    s = f"blocks.{k}"
    head_dim = dim // heads
    h = _layer_norm(b, f"{s}/norm1", x, dim)                                   # 9
    q = _linear(b, f"{s}/attn/q", h, dim, dim)                                 # 2
    kk = _linear(b, f"{s}/attn/k", h, dim, dim)                                # 2
    v = _linear(b, f"{s}/attn/v", h, dim, dim)                                 # 2
    split = b.const([1, seq, heads, head_dim])
    q = b.node(f"{s}/attn", "Transpose", [b.node(f"{s}/attn", "Reshape", [q, split])],
               perm=[0, 2, 1, 3])                                              # 2
    kk = b.node(f"{s}/attn", "Transpose", [b.node(f"{s}/attn", "Reshape", [kk, split])],
                perm=[0, 2, 3, 1])                                             # 2
    v = b.node(f"{s}/attn", "Transpose", [b.node(f"{s}/attn", "Reshape", [v, split])],
               perm=[0, 2, 1, 3])                                              # 2
    scores = b.node(f"{s}/attn", "MatMul", [q, kk])
    scores = b.node(f"{s}/attn", "Div", [scores, b.const([float(head_dim) ** 0.5], "float32")])
    probs = b.node(f"{s}/attn", "Softmax", [scores], axis=-1)
    ctx = b.node(f"{s}/attn", "MatMul", [probs, v])
    ctx = b.node(f"{s}/attn", "Transpose", [ctx], perm=[0, 2, 1, 3])
    ctx = b.node(f"{s}/attn", "Reshape", [ctx, b.const([1, seq, dim])])       # 6
    out = _linear(b, f"{s}/attn/proj", ctx, dim, dim)                          # 2
    x = b.node(s, "Add", [x, out])                                             # 1
    h = _layer_norm(b, f"{s}/norm2", x, dim)                                   # 9
    h = _linear(b, f"{s}/mlp/fc1", h, dim, hidden)                             # 2
    g = b.node(f"{s}/mlp/act", "Div", [h, b.const([2.0 ** 0.5], "float32")])
    g = b.node(f"{s}/mlp/act", "Erf", [g])
    g = b.node(f"{s}/mlp/act", "Add", [g, b.const([1.0], "float32")])
    g = b.node(f"{s}/mlp/act", "Mul", [h, g])
    g = b.node(f"{s}/mlp/act", "Mul", [g, b.const([0.5], "float32")])        # 5
    h = _linear(b, f"{s}/mlp/fc2", g, hidden, dim)                             # 2
    return b.node(s, "Add", [x, h])                                            # 1


def _mlp_block(b, k, x, dim, hidden):
    """An MLP-only block (15 nodes): what the diff benchmark inserts."""
    s = f"blocks.{k}"
    h = _layer_norm(b, f"{s}/norm", x, dim)
    h = _linear(b, f"{s}/mlp/fc1", h, dim, hidden)
    g = b.node(f"{s}/mlp/act", "Relu", [h])
    h = _linear(b, f"{s}/mlp/fc2", g, hidden, dim)
    return b.node(s, "Add", [x, h])


def make_transformer_onnx(path, *, n_blocks=200, dim=64, hidden=256, heads=4, seq=16,
                          big_weights=False, insert_at=None, widen=None, seed=0):
    """Write a synthetic transformer encoder as ONNX (``onnx.helper``; no torch).

    Parameters
    ----------
    path : str
        Output ``.onnx`` file.
    n_blocks : int
        Blocks of :data:`OPS_PER_BLOCK` nodes; the graph has
        ``n_blocks * 49 + 14`` nodes.
    dim, hidden, heads, seq : int
        Width, MLP width, attention heads, sequence length (input 1×seq×dim).
    big_weights : bool
        Random float32 weights (the memory test) instead of a constant fill.
    insert_at : int, optional
        Insert an MLP-only block (15 nodes) before block ``insert_at``; later
        blocks are renumbered, as in an ``nn.ModuleList``.
    widen : int, optional
        Block whose MLP is twice as wide.
    seed : int
        Seed of the random weights.

    Returns
    -------
    str
        ``path``.
    """
    import numpy
    import onnx
    from onnx import TensorProto, helper

    b = _Builder(onnx, numpy, numpy.random.default_rng(seed), big_weights)
    x = "input"
    x = _linear(b, "embed", x, dim, dim)
    k = 0
    for old in range(n_blocks):
        if old == insert_at:
            x = _mlp_block(b, k, x, dim, hidden)
            k += 1
        width = hidden * 2 if old == widen else hidden
        x = _block(b, k, x, dim, width, heads, seq)
        k += 1
    x = _layer_norm(b, "norm", x, dim)
    x = b.node("head", "ReduceMean", [x], axes=[1], keepdims=0)
    x = b.node("head", "MatMul", [x, b.weight("head.weight", [dim, 10])])
    b.node("head", "Add", [x, b.weight("head.bias", [10])], out="logits")
    graph = helper.make_graph(
        b.nodes, "synthetic_transformer",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, seq, dim])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=b.inits)
    b.nodes = b.inits = None
    model = helper.make_model(graph, producer_name="graphir-benchmark", ir_version=8,
                              opset_imports=[helper.make_opsetid("", 17)])
    del graph
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(model.SerializeToString())
    return path


def ten_k_variant(path, n_blocks=200, **kwargs):
    """The 10k-node graph with one block inserted in the middle and block 50's MLP widened."""
    return make_transformer_onnx(path, n_blocks=n_blocks, insert_at=n_blocks // 2,
                                 widen=n_blocks // 4, **kwargs)
