"""The one exception the wire codec raises."""

from __future__ import annotations


class WireError(ValueError):
    """A request body that is not valid proto3 JSON for the expected message.

    ``path`` is the JSON path of the offending value (``prompt[0].artifact.binary``;
    empty for the whole body) and ``message`` says what is wrong and what is allowed.
    The HTTP layer answers it with INVALID_ARGUMENT (400).
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def json_type_name(value: object) -> str:
    """The JSON type of a decoded value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'string "{shown}"'
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


CLIENT_TEXT_SHOWN = 64


def client_text(text: str, limit: int = CLIENT_TEXT_SHOWN) -> str:
    """A client's string quoted for a message: control characters escaped, cut after ``limit`` characters.

    Messages reach logs and terminals; a client must not be able to make them huge or forge lines.
    """
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} characters)"
