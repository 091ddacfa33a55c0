"""The bundled profiles: TOML files shipped inside the package as package data.

They live here (prioscore/server/profiles/bundled/*.toml in an install) so a plain
`pip install 'prioscore[server]'` can serve them with no checkout around; the server uses
this directory when --profiles is not given. They are the reference copies: to edit them
(or promote shadows into them), copy them out with `prioscore init DIR` and serve DIR.
"""

from __future__ import annotations

import shutil
from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent


def bundled_files() -> list[Path]:
    """Every bundled profile file, by name."""
    return sorted(DIRECTORY.glob("*.toml"))


def copy_into(destination: Path) -> list[Path]:
    """Copies the bundled profiles into `destination` (created); never overwrites a file.

    Raises FileExistsError naming the first file that is already there, before copying
    anything, so an edited profile is never replaced by the bundled one.
    """
    destination = Path(destination)
    targets = [destination / source.name for source in bundled_files()]
    for target in targets:
        if target.exists():
            raise FileExistsError(f"{target} already exists; nothing copied")
    destination.mkdir(parents=True, exist_ok=True)
    for source, target in zip(bundled_files(), targets, strict=True):
        shutil.copyfile(source, target)
    return targets


__all__ = ["DIRECTORY", "bundled_files", "copy_into"]
