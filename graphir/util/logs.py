"""Quiet third-party logging while graphir calls a framework that reports failures as logs.

torch.export and its fake-tensor machinery log whole tracebacks at ERROR level
before raising, and torch.fx's ShapeProp prints one to stderr; graphir reports
the failure as one line (the CLI's contract), so those logs and prints are
held back while the call runs.

Examples
--------
>>> import logging
>>> with silenced_logging():
...     logging.getLogger("torch.export").error("not shown")
>>> logging.root.manager.disable
0
"""

import contextlib
import io
import logging
import warnings

__all__ = ["silenced_logging"]


@contextlib.contextmanager
def silenced_logging():
    """Drop every log record, warning and stderr print issued inside the block; restore after."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
