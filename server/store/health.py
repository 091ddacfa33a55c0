"""Whether the database can be trusted and written: checks at open, failures named.

A damaged file must not be served (its rows could take other entities down, and ingest
would keep writing into it), so opening runs `PRAGMA quick_check` (the b-tree structure of
every table and index, without the slower cross-checks of integrity_check) and a write
probe. While running, the storage failures a client cannot cause - disk full, read-only
file, I/O error - become StorageUnavailableError (UNAVAILABLE) instead of INTERNAL.
"""

from __future__ import annotations

import sqlite3

from prioscore.server.errors import FailedPreconditionError

# Primary result codes (the low byte of sqlite_errorcode) that mean "the storage failed".
_STORAGE_CODES = {
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_READONLY: "the database file is read-only",
    sqlite3.SQLITE_IOERR: "an I/O error",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened",
    sqlite3.SQLITE_CORRUPT: "the database file is damaged",
    sqlite3.SQLITE_NOTADB: "the file is not a prioscore database",
}


class DatabaseUnusableError(FailedPreconditionError):
    """The database file is damaged, read-only, not a database, or from a newer prioscore:
    the server refuses to start on it (the message says which and where)."""

    reason = "DATABASE_UNUSABLE"


def is_storage_failure(error: sqlite3.Error) -> bool:
    return (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF in _STORAGE_CODES


def describe_failure(error: sqlite3.Error) -> str:
    """A sentence for an operator: what failed, with SQLite's own words."""
    known = _STORAGE_CODES.get((getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF)
    return f"{known} ({error})" if known else str(error)


def check_integrity(conn: sqlite3.Connection) -> None:
    rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)")]
    if rows != ["ok"]:
        raise DatabaseUnusableError(
            "the database file is damaged (PRAGMA quick_check: "
            + "; ".join(" ".join(r.split()) for r in rows)
            + ");"
            " restore it from a backup"
        )


def check_writable(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE takes the write lock: it fails at once on a read-only file. Another
    connection holding the lock (SQLITE_BUSY) proves the file writable, so that passes."""
    timeout = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as error:
        if (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF != sqlite3.SQLITE_BUSY:
            raise
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(timeout)}")
