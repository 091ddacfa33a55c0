"""`python -m prioscore.server.profiles.bundled DIR`: copy the bundled profiles to DIR.

`prioscore init DIR` runs this (the client never imports the server package itself).
"""

from __future__ import annotations

import sys
from pathlib import Path

from prioscore.server.profiles.bundled import DIRECTORY, copy_into


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m prioscore.server.profiles.bundled DIR", file=sys.stderr)
        return 2
    try:
        copied = copy_into(Path(argv[0]))
    except OSError as error:
        print(f"prioscore init: {error}", file=sys.stderr)
        return 1
    for path in copied:
        print(path)
    print(f"copied {len(copied)} profiles from {DIRECTORY}; serve them with --profiles {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
