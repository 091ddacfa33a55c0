"""The bundled profiles, shipped as package data so every install (and every test) reads
the same set, whatever a user keeps in a profiles directory of their own.

`DIRECTORY` is the folder of the *.toml files; serve it, or copy it and add your own.
"""

from pathlib import Path

DIRECTORY: Path = Path(__file__).resolve().parent

__all__ = ["DIRECTORY"]
