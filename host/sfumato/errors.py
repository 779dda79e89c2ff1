"""google.rpc status codes and the errors the host raises with them."""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# grpc-gateway's table (API.md §3); FAILED_PRECONDITION is deliberately 400, not 412.
HTTP_STATUS = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


class RpcError(Exception):
    """An error with a google.rpc code and a message meant for the API's user."""

    def __init__(self, code: Code, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.code = Code(code)
        self.message = message
        # For RESOURCE_EXHAUSTED: when trying again may succeed (the Retry-After header).
        self.retry_after_seconds = retry_after_seconds

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.name}, {self.message!r})"


def invalid(message: str) -> RpcError:
    return RpcError(Code.INVALID_ARGUMENT, message)


def not_found(message: str) -> RpcError:
    return RpcError(Code.NOT_FOUND, message)


def unimplemented(message: str) -> RpcError:
    return RpcError(Code.UNIMPLEMENTED, message)


class Cancelled(Exception):
    """Raised inside an engine when the job's cancel token fires."""
