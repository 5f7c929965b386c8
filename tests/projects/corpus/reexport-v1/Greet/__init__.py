"""Model v1 with the code kept out of ``__init__.py``: the package only re-exports the entry
point from the module that defines it (a layout apps adopt to unit-test ``impl`` alone)."""

from .impl import main

__all__ = ["main"]
