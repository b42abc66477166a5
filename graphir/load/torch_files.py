"""Opening torch files safely: ExportedPrograms (``.pt2``) for now.

TorchScript archives, state_dicts and pickles come with their own loaders;
none of them is unpickled here without the user's opt-in.
"""

from graphir.errors import InputError
from graphir.load.factory import import_torch

__all__ = ["load_exported_program"]


def load_exported_program(path):
    """``torch.export.load(path)``, with failures turned into :class:`InputError`."""
    torch = import_torch(f"reading {path}")
    try:
        return torch.export.load(path)
    except Exception as exc:  # torch raises many types for a bad archive
        raise InputError(f"cannot be read as a torch.export program "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                         path=path,
                         hint="save it again with torch.export.save, with this torch version") from exc
