"""Domain errors: what went wrong and which field, never a transport status code.

The rpc layer maps these to gRPC codes with google.rpc.BadRequest / ErrorInfo details;
the CLI prints them. Keeping codes out of here lets the service run without gRPC.
"""

from __future__ import annotations

from dataclasses import dataclass


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


class InvalidArgumentError(PrioscoreError):
    """The request is malformed; nothing was written."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation] | FieldViolation) -> None:
        self.violations = violations if isinstance(violations, list) else [violations]
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))

    @classmethod
    def of(cls, field: str, description: str) -> InvalidArgumentError:
        return cls(FieldViolation(field, description))


class ProfileInvalidError(InvalidArgumentError):
    """One or more profile files failed validation; the previously loaded profiles stay."""

    reason = "PROFILE_INVALID"

    def __init__(self, issues: list[ProfileIssue]) -> None:
        self.issues = issues
        super().__init__([FieldViolation(i.key or i.file, str(i)) for i in issues])


class NotFoundError(PrioscoreError):
    """A named resource (profile, entity) does not exist."""

    reason = "NOT_FOUND"

    def __init__(self, kind: str, name: str, field: str = "") -> None:
        self.kind, self.name, self.field = kind, name, field
        super().__init__(f"{kind} {name!r} not found")


class FailedPreconditionError(PrioscoreError):
    """The request is well-formed but the system is not in a state to serve it."""

    reason = "FAILED_PRECONDITION"


class UnauthenticatedError(PrioscoreError):
    """No valid credentials were presented."""

    reason = "UNAUTHENTICATED"


class PermissionDeniedError(PrioscoreError):
    """Valid credentials without the scope the method needs."""

    reason = "PERMISSION_DENIED"


class ResourceExhaustedError(PrioscoreError):
    """A per-request limit (message size, rows per batch, stream length) was exceeded."""

    reason = "RESOURCE_EXHAUSTED"


class UnavailableError(PrioscoreError):
    """The server is shutting down: the call may be repeated (or resumed) elsewhere or later."""

    reason = "UNAVAILABLE"
