"""Domain errors as gRPC statuses: the code and the google.rpc.Status details (BadRequest
field violations, ResourceInfo for NOT_FOUND, an ErrorInfo reason) a client reads from
the `grpc-status-details-bin` trailer. One place, so every transport path (the
interceptor, the auth check, the worker processes' answers) reports an error alike.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from prioscore.server.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    PrioscoreError,
    ResourceExhaustedError,
    ShadowVersionMismatchError,
    UnauthenticatedError,
    UnavailableError,
)

DOMAIN = "prioscore.v1"

_CODES: list[tuple[type[PrioscoreError], grpc.StatusCode]] = [
    (InvalidArgumentError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (FailedPreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (ResourceExhaustedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (UnavailableError, grpc.StatusCode.UNAVAILABLE),
    # A test-and-set that failed: the caller should re-read and decide again.
    (ShadowVersionMismatchError, grpc.StatusCode.ABORTED),
]


def status_of(error: PrioscoreError) -> grpc.Status:
    """The grpc.Status (code, message, rich details trailer) for a domain error."""
    code = next((c for kind, c in _CODES if isinstance(error, kind)), grpc.StatusCode.UNKNOWN)
    details = []
    if isinstance(error, InvalidArgumentError):
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
    if isinstance(error, NotFoundError):
        details.append(
            error_details_pb2.ResourceInfo(
                resource_type=error.kind, resource_name=error.name, description=str(error)
            )
        )
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)
    if isinstance(error, NotFoundError) and error.field:
        info.metadata["field"] = error.field
    details.append(info)
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    proto = status_pb2.Status(code=code.value[0], message=str(error), details=packed)
    return rpc_status.to_status(proto)


def internal_status() -> grpc.Status:
    """INTERNAL without internals (what happened is in the server log)."""
    proto = status_pb2.Status(code=code_pb2.INTERNAL, message="internal error; see server log")
    return rpc_status.to_status(proto)


__all__ = ["DOMAIN", "internal_status", "status_of"]
