"""Converters: one module per source, each emitting the graphir/1 IR.

``onnx`` (ONNX files), ``fx`` (torch.export and torch.fx), ``trace`` (one
recorded eager forward), ``autograd`` (the backward graph), ``torchscript``
and ``state_dict`` (the parameter tree). Each imports its framework lazily,
so importing this package costs nothing.
"""
