"""Domain errors: what went wrong and which field, never a transport status code.

The rpc layer maps these to gRPC codes with google.rpc.BadRequest / ErrorInfo details;
the CLI prints them. Keeping codes out of here lets the service run without gRPC.

Every error carries a specific `reason` (AIP-193: UPPER_SNAKE_CASE, unique within the
domain "prioscore.v1"), sent as google.rpc.ErrorInfo.reason so a client can branch on
what went wrong without parsing messages. The reasons are listed in types.proto.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: `field` is a dotted path ("events[3].entity_id", "signals[2].weight")."""

    field: str
    description: str


@dataclass(frozen=True)
class ProfileIssue:
    """One problem in a profile file: the file, the 1-based line (0 if unknown), the key path."""

    file: str
    line: int
    key: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.reason}" if self.key else f"{where}: {self.reason}"


class PrioscoreError(Exception):
    """Base of every error the service raises on purpose."""

    reason = "PRIOSCORE_ERROR"

    def __init__(self, message: str = "", *, reason: str = "") -> None:
        super().__init__(message)
        if reason:
            self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickles by state, not by constructor arguments (an Exception's default, which
        the subclasses' own signatures break): evaluations raise these in a process of
        their own (handlers/evaluation_pool.py) and the server maps them as raised here."""
        return (_unpickled, (type(self), self.args), self.__dict__)


def _unpickled(cls: type[PrioscoreError], args: tuple[object, ...]) -> PrioscoreError:
    error = cls.__new__(cls)
    error.args = args
    return error


class InvalidArgumentError(PrioscoreError):
    """The request is malformed; nothing was written."""

    reason = "FIELD_INVALID"

    def __init__(
        self, violations: list[FieldViolation] | FieldViolation, *, reason: str = ""
    ) -> None:
        self.violations = violations if isinstance(violations, list) else [violations]
        message = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(message, reason=reason)

    @classmethod
    def of(cls, field: str, description: str, *, reason: str = "") -> InvalidArgumentError:
        return cls(FieldViolation(field, description), reason=reason)


class ProfileInvalidError(InvalidArgumentError):
    """One or more profile files failed validation; the previously loaded profiles stay."""

    reason = "PROFILE_INVALID"

    def __init__(self, issues: list[ProfileIssue]) -> None:
        self.issues = issues
        super().__init__([FieldViolation(i.key or i.file, str(i)) for i in issues])


class NotFoundError(PrioscoreError):
    """A named resource (profile, entity) does not exist; the reason names its kind
    (PROFILE_NOT_FOUND, ENTITY_NOT_FOUND)."""

    def __init__(self, kind: str, name: str, field: str = "", known: Sequence[str] = ()) -> None:
        self.kind, self.name, self.field = kind, name, field
        # The names that do exist, so a typo is fixed from the message alone.
        listed = f"; loaded: {', '.join(known)}" if known else ""
        super().__init__(f"{kind} {name!r} not found{listed}", reason=f"{kind.upper()}_NOT_FOUND")


class FailedPreconditionError(PrioscoreError):
    """The request is well-formed but the system is not in a state to serve it."""

    reason = "FAILED_PRECONDITION"


class ShadowVersionMismatchError(PrioscoreError):
    """PromoteProfile named a shadow version other than the staged one (ABORTED: the
    caller should review what is staged now)."""

    reason = "SHADOW_VERSION_MISMATCH"


class UnauthenticatedError(PrioscoreError):
    """No valid credentials were presented."""

    reason = "TOKEN_INVALID"


class PermissionDeniedError(PrioscoreError):
    """Valid credentials without the scope the method needs."""

    reason = "SCOPE_MISSING"


class ResourceExhaustedError(PrioscoreError):
    """A per-request limit (message size, rows per batch, stream length) was exceeded."""

    reason = "LIMIT_EXCEEDED"


class UnavailableError(PrioscoreError):
    """The server is shutting down: the call may be repeated (or resumed) elsewhere or later."""

    reason = "SHUTTING_DOWN"


class StreamIdleError(UnavailableError):
    """A client stream sent nothing for --stream-idle-seconds; the server closed it."""

    reason = "STREAM_IDLE"


class StorageUnavailableError(UnavailableError):
    """The database cannot take writes now (disk full, read-only, I/O error); the message
    says which. Nothing of the call was written; retry once the operator has fixed it."""

    reason = "STORAGE_UNAVAILABLE"
