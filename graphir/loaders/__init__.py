"""What a file is and how to open it safely.

Every function here raises :class:`graphir.errors.InputError` (or a subclass)
for a file it cannot open; torch and onnx are imported only when a file of
their kind is opened.
"""

from graphir.loaders.factory import InputSpec, load_factory, make_example_inputs, parse_input_shape
from graphir.loaders.kinds import KINDS, FactorySpec, detect_kind, split_factory_spec

__all__ = [
    "KINDS",
    "FactorySpec",
    "InputSpec",
    "detect_kind",
    "split_factory_spec",
    "parse_input_shape",
    "make_example_inputs",
    "load_factory",
]
