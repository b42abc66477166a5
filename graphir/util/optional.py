"""Optional dependencies, imported only when needed, with an actionable message.

torch, matplotlib, onnxruntime, transformers and the like are optional:
rendering an ONNX file never imports torch. Each import goes through
:func:`import_optional`, which raises :class:`graphir.errors.MissingDependencyError`
naming what needed it and what to install.

Examples
--------
>>> import_optional("json", purpose="reading IR").__name__
'json'
>>> try:
...     import_optional("no_such_module_xyz", purpose="testing", install="pip install xyz")
... except Exception as error:
...     print(error.one_line())
testing needs no_such_module_xyz, which is not installed; pip install xyz
"""

import importlib

from graphir.errors import MissingDependencyError

__all__ = ["import_optional", "import_torch", "import_matplotlib"]


def import_optional(module: str, *, purpose: str, install: str = ""):
    """Import ``module`` or raise :class:`MissingDependencyError` saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"{purpose} needs {module.split('.')[0]}, which is not "
                                     "installed",
                                     hint=install or f"pip install {module.split('.')[0]}") \
            from None


def import_torch(purpose: str = "converting this model"):
    """The ``torch`` module, or :class:`MissingDependencyError` naming ``purpose``."""
    return import_optional("torch", purpose=purpose,
                           install="pip install 'graphir[torch]' (or torch==2.13.0)")


def import_matplotlib(purpose: str = "drawing plots"):
    """``(matplotlib, Figure, FigureCanvasAgg)``: the headless Agg pieces graphir draws with."""
    matplotlib = import_optional("matplotlib", purpose=purpose,
                                 install="pip install 'graphir[plot]' (or matplotlib)")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    return matplotlib, Figure, FigureCanvasAgg
