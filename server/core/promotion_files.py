"""The profile files of promotions: written atomically, and put right on start.

A promotion replaces its profile's file inside the transaction that moves the scores
(core/shadows.py), so a crash can leave the new file beside a store that never committed
the new version (intent `started`), or, when the file's rename did not reach the disk,
the old file beside committed new scores (`scores_done`). `settle_interrupted` runs on
start, before anything reads the loaded profiles: `started` is rolled back (the previous
text written back, the shadow still staged, the intent forgotten) and `scores_done` is
rolled forward (the promoted text written, the registry swapped); LiveCore then rescores
the readers of a rolled-forward promotion and marks it complete (core/promotions.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path

from prioscore.server.profiles import ProfileRegistry, load_profile_text
from prioscore.server.store import PromotionState, Store, StoredPromotion

log = logging.getLogger("prioscore.server")


def write_atomically(path: Path, text: str) -> None:
    """Replaces `path` with `text`: a temp file in the same directory, fsync, os.replace
    (readers see the old file or the new one, never a part), keeping the file's mode."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with suppress(OSError):
            shutil.copymode(path, temp)
        os.replace(temp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise
    with suppress(OSError):  # the rename itself durable too (best effort)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def settle_interrupted(store: Store, registry: ProfileRegistry) -> None:
    """Puts each interrupted promotion's file and loaded profile in one version: the old
    one for `started`, the promoted one for `scores_done` (see the module docstring)."""
    for intent in store.unfinished_promotions():
        if intent.state is PromotionState.STARTED:
            _ensure(registry, intent, intent.previous_toml, intent.previous_version)
            store.forget_promotion(intent.name)
            log.warning(
                "rolled back the interrupted promotion of %s to v%d (v%d stays staged)",
                intent.name,
                intent.previous_version,
                intent.version,
            )
        else:
            _ensure(registry, intent, intent.toml, intent.version)
            log.warning(
                "rolling forward the interrupted promotion of %s to v%d",
                intent.name,
                intent.version,
            )


def _ensure(registry: ProfileRegistry, intent: StoredPromotion, text: str, version: int) -> None:
    """Makes `text` the file at intent.source and its profile the loaded one."""
    source = Path(intent.source)
    try:
        current = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if current != text:
        write_atomically(source, text)
    loaded = registry.get(intent.name)
    if loaded is not None and loaded.version != version:
        registry.replace(load_profile_text(text, str(source)))


__all__ = ["settle_interrupted", "write_atomically"]
