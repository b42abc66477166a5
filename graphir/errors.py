"""Exception hierarchy of graphir.

Every error graphir raises on purpose is a :class:`GraphIRError`. The command
line turns one into a single line on stderr and exit code 2; anything else is
a bug and is reported as such.

Messages follow one pattern: ``<file>: <what is wrong>; <what to do>``.
"""

__all__ = [
    "GraphIRError",
    "InputError",
    "UnsafeFileError",
    "SchemaError",
    "IRValidationError",
    "ConversionError",
    "RenderError",
    "MissingDependencyError",
]


class GraphIRError(Exception):
    """Base class of every error graphir raises on purpose.

    Parameters
    ----------
    message : str
        What is wrong.
    path : str, optional
        The file (or model spec) the error is about; prefixed to the message.
    hint : str, optional
        What the user can do about it; appended after ``"; "``.
    """

    def __init__(self, message, *, path=None, hint=None):
        self.message = message
        self.path = None if path is None else str(path)
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self):
        """The error as one line: ``path: message; hint``."""
        text = " ".join(str(self.message).split())
        if self.path:
            text = f"{self.path}: {text}"
        if self.hint:
            text = f"{text}; {self.hint}"
        return text


class InputError(GraphIRError):
    """A file or argument cannot be read as what it claims to be."""


class UnsafeFileError(InputError):
    """Opening the file would run code from it, and the user did not opt in."""


class SchemaError(InputError):
    """An IR JSON file of another schema version, or not an IR at all."""


class IRValidationError(GraphIRError):
    """A graph breaks the IR contract (see :func:`graphir.ir.validate`).

    Attributes
    ----------
    problems : list of str
        Every problem found, one per entry.
    """

    def __init__(self, problems, *, path=None):
        self.problems = list(problems)
        shown = "; ".join(self.problems[:5])
        more = len(self.problems) - 5
        if more > 0:
            shown += f"; and {more} more"
        super().__init__(f"invalid IR: {shown}", path=path)


class ConversionError(GraphIRError):
    """A model was read but could not be turned into the IR."""


class RenderError(GraphIRError):
    """Graphviz failed, timed out, or is missing."""


class MissingDependencyError(GraphIRError):
    """An optional package is needed for this input and is not installed."""
