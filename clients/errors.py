"""Client-side errors: one exception type per gRPC status, carrying the server's details.

The server puts a google.rpc.Status in the `grpc-status-details-bin` trailer with
BadRequest field violations (which field was wrong and why), ErrorInfo (a stable reason
string) and ResourceInfo (what was not found). Callers should not have to decode that
trailer themselves, so every failed call surfaces as a PrioscoreClientError subclass with
those details already unpacked; `except InvalidArgumentError` reads like the contract.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    """One bad field as the server named it, e.g. ("events[3].entity_id", "required")."""

    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}" if self.field else self.description


class PrioscoreClientError(Exception):
    """A call failed. `code` is the gRPC status (None for client-side protocol errors)."""

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        method: str = "",
        violations: tuple[FieldViolation, ...] = (),
        reason: str = "",
        resource: str = "",
        status: status_pb2.Status | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.method = method
        self.violations = violations
        self.reason = reason
        self.resource = resource
        self.status = status
        super().__init__(message)

    def __str__(self) -> str:
        code = self.code.name if self.code is not None else "CLIENT"
        where = f" ({self.method})" if self.method else ""
        return f"{code}{where}: {self.message}"

    def describe(self) -> list[str]:
        """Human lines for a terminal: the message, then one line per field violation."""
        joined = "; ".join(str(v) for v in self.violations)
        if self.violations and self.message == joined:  # the message only repeats them
            code = self.code.name if self.code is not None else "CLIENT"
            where = f" ({self.method})" if self.method else ""
            count = len(self.violations)
            lines = [f"{code}{where}: {count} invalid field{'s' if count > 1 else ''}"]
        else:
            lines = [str(self)]
        lines.extend(f"  {v}" for v in self.violations)
        return lines


class InvalidArgumentError(PrioscoreClientError):
    """The request was rejected as malformed; nothing was written. See `violations`."""


class NotFoundError(PrioscoreClientError):
    """An unknown profile or entity; `resource` names it ("profile 'x'")."""


class FailedPreconditionError(PrioscoreClientError):
    """The server is not in a state to serve this request."""


class UnauthenticatedError(PrioscoreClientError):
    """No bearer token, or one the server does not know."""


class PermissionDeniedError(PrioscoreClientError):
    """The token lacks the scope this method needs."""


class ResourceExhaustedError(PrioscoreClientError):
    """A size or rate limit was hit (message size, rows per batch, watcher overrun)."""


class AbortedError(PrioscoreClientError):
    """A test-and-set lost: e.g. PromoteProfile named a shadow version that is no longer
    the staged one. Re-read the state, decide again."""


class UnavailableError(PrioscoreClientError):
    """The server could not be reached (retried for idempotent calls before surfacing)."""


class DeadlineExceededError(PrioscoreClientError):
    """The call did not finish within its deadline (retried for idempotent calls)."""


class CancelledError(PrioscoreClientError):
    """The call was cancelled (by the client or by a server shutting down)."""


class InternalError(PrioscoreClientError):
    """A server-side bug or an unclassified status; the server log has the details."""


class ProtocolError(PrioscoreClientError):
    """The server answered something the client did not expect (e.g. an out-of-order batch)."""


_BY_CODE: dict[grpc.StatusCode, type[PrioscoreClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: AbortedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.CANCELLED: CancelledError,
}


def _rich_status(error: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status from the trailer, or None when absent or inconsistent."""
    try:
        return rpc_status.from_call(error)  # type: ignore[arg-type]
    except (ValueError, AttributeError, TypeError):
        return None


def from_rpc_error(error: grpc.RpcError, method: str = "") -> PrioscoreClientError:
    """Converts a (sync or aio) grpc.RpcError into the matching PrioscoreClientError."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = (error.details() if hasattr(error, "details") else None) or str(code)
    status = _rich_status(error)
    violations: list[FieldViolation] = []
    reason = resource = ""
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(
                    FieldViolation(v.field, v.description) for v in bad.field_violations
                )
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            elif detail.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
                found = error_details_pb2.ResourceInfo()
                detail.Unpack(found)
                resource = f"{found.resource_type} {found.resource_name!r}"
    kind = _BY_CODE.get(code, InternalError)
    return kind(
        message,
        code=code,
        method=method,
        violations=tuple(violations),
        reason=reason,
        resource=resource,
        status=status,
    )


def masks_server_status(error: PrioscoreClientError) -> bool:
    """True for grpc.aio's "Internal error from Core": a request write raced the server
    ending the stream, and the server's real status (INVALID_ARGUMENT with its field
    violations, UNAVAILABLE, ...) was replaced by a bare INTERNAL. Streaming helpers
    answer it by re-sending one request at a time, so no write can race the real answer.
    """
    return (
        error.code == grpc.StatusCode.INTERNAL
        and error.status is None
        and "Internal error from Core" in error.message
    )
