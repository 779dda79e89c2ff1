"""REST v1 bodies → option Structs: JSON for text-to-image, multipart/form-data for the image routes.

Every problem is a :class:`RestError` naming the field. Image parts are recognised
from their bytes (``requests`` sends ``files=`` parts without a Content-Type).
"""

from __future__ import annotations

import functools
import io
import re
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import multipart
from PIL import Image, UnidentifiedImageError

from sfumato.api.rest_v1.errors import RestError, bad_request
from sfumato.api.rest_v1.shapes import FilePart
from sfumato.images import png_orientation
from sfumato.wire_codec.depth import check_depth, too_deep
from sfumato.wire_codec.errors import WireError, client_text

T = TypeVar("T")

_PROMPT_FIELD = re.compile(r"^text_prompts\[(\d{1,9})\]\[(text|weight)\]$")
_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_EXIF_ORIENTATION = 0x0112
# Form parts besides the prompts: every field of the biggest form, plus room for a few prompts.
FORM_PARTS_BEYOND_PROMPTS = 32
# Field → the documented error name for a bad value.
_NAMES = {
    "height": "invalid_height_or_width",
    "width": "invalid_height_or_width",
    "samples": "invalid_samples",
    "mask_image": "invalid_mask_image",
    "mask_source": "invalid_mask_image",
}


@dataclass(frozen=True)
class ImageInfo:
    """What a part's header says about its image: format, upright size, whether it has alpha."""

    format: str
    width: int
    height: int
    has_alpha: bool


# ---- JSON ----


def decode_json(body: bytes, type_: type[T], max_depth: int) -> T:
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise bad_request(f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise bad_request(too_deep(max_depth)) from None
    if not isinstance(raw, dict):
        raise bad_request(f"the body must be a JSON object with text_prompts and options, got {_json_kind(raw)}")
    _check_depth(raw, "", max_depth, max_depth)
    return _convert(raw, type_, strict=True)


# ---- multipart/form-data ----


@dataclass(frozen=True)
class FormPart:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def decode_form(body: bytes, content_type: str, type_: type[T], *, max_prompts: int, max_depth: int) -> T:
    parts = parse_parts(body, content_type, max_parts=2 * max_prompts + FORM_PARTS_BEYOND_PROMPTS)
    files = _file_fields(type_)
    fields = {field.name for field in msgspec.structs.fields(type_)}
    raw: dict[str, Any] = {}
    prompts: dict[int, dict[str, str]] = {}
    for part in parts:
        prompt_field = _PROMPT_FIELD.match(part.name)
        if prompt_field is not None:
            # The index ties text and weight together; a repeated index overwrites, as upstream.
            prompts.setdefault(int(prompt_field[1]), {})[prompt_field[2]] = _text(part)
            continue
        if part.name not in fields or part.name == "text_prompts":
            raise bad_request(_unknown_field(part.name, sorted(fields), form=True))
        if part.name in raw:
            raise bad_request(f"{part.name}: given twice; send each form field once")
        if part.name in files:
            raw[part.name] = FilePart(part.data)
            continue
        text = _text(part)
        if not text:
            continue  # an empty form input is an unset option
        raw[part.name] = _json_field(part.name, text, max_depth) if part.name == "extras" else text
    if prompts:
        raw["text_prompts"] = [prompts[index] for index in sorted(prompts)]
    for name in sorted(files):
        if name in raw and not raw[name]:
            raise RestError(400, "invalid_file_size", f"{name}: the file part is empty")
    missing = [name for name in sorted(files) if name not in raw and _required(type_, name)]
    if missing:
        raise bad_request(f"{missing[0]}: required; send the image as a file part named {missing[0]!r}")
    return _convert(raw, type_, strict=False)


def parse_parts(body: bytes, content_type: str, *, max_parts: int) -> list[FormPart]:
    media_type, options = multipart.parse_options_header(content_type or "")
    if media_type.lower() != "multipart/form-data":
        raise bad_request(
            f"Content-Type {client_text(media_type or '(none)')}: this route takes multipart/form-data "
            "(init_image and the other options as form fields)"
        )
    boundary = options.get("boundary")
    if not boundary:
        raise bad_request("Content-Type multipart/form-data without a boundary parameter")
    parts: list[FormPart] = []
    segment: multipart.MultipartSegment | None = None
    chunks: list[bytes] = []
    try:
        with multipart.PushMultipartParser(boundary, max_segment_count=max_parts) as parser:
            for chunk in (body, b""):
                for event in parser.parse(chunk):
                    if isinstance(event, multipart.MultipartSegment):
                        segment, chunks = event, []
                    elif event:
                        chunks.append(event)
                    elif segment is not None:
                        data = b"".join(chunks)
                        parts.append(FormPart(segment.name, segment.filename, segment.content_type, data))
                if parser.closed:
                    break
    except multipart.ParserLimitReached:
        raise bad_request(f"the form has more than {max_parts} parts (2 × limits.max_prompts + "
                          f"{FORM_PARTS_BEYOND_PROMPTS})") from None
    except (multipart.MultipartError, UnicodeDecodeError) as error:
        raise bad_request(f"the multipart/form-data body is malformed: {error}") from None
    return parts


def _text(part: FormPart) -> str:
    try:
        return part.data.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request(f"{client_text(part.name)}: a text field must be UTF-8") from None


def _json_field(name: str, text: str, max_depth: int) -> Any:
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError as error:
        raise bad_request(f"{name}: not valid JSON: {error}") from None
    except RecursionError:
        raise bad_request(f"{name}: {too_deep(max_depth)}") from None
    _check_depth(value, name, max_depth - 1, max_depth)  # as deep as in a JSON body, under its object
    return value


@functools.cache
def _file_fields(type_: type) -> frozenset[str]:
    fields = msgspec.inspect.type_info(type_).fields  # type: ignore[attr-defined]
    return frozenset(field.name for field in fields if _is_file(field.type))


def _is_file(info: Any) -> bool:
    if isinstance(info, msgspec.inspect.UnionType):
        return any(_is_file(member) for member in info.types)
    if isinstance(info, msgspec.inspect.Metadata):
        return _is_file(info.type)
    return isinstance(info, msgspec.inspect.CustomType) and info.cls is FilePart


@functools.cache
def _required(type_: type, name: str) -> bool:
    return next(field for field in msgspec.inspect.type_info(type_).fields if field.name == name).required  # type: ignore[attr-defined]


# ---- images ----


def image_info(name: str, data: bytes) -> ImageInfo:
    """The part's image header, read by Pillow without decoding pixels; a 400 if it is no image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            # Pillow finds a PNG's eXIf chunk only by decoding the pixels; walking the chunks is enough.
            orientation = png_orientation(data) if image.format == "PNG" else image.getexif().get(_EXIF_ORIENTATION, 1)
            has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
            kind = image.format or "unknown"
    except UnidentifiedImageError:
        raise RestError(400, "invalid_mime_type",
                        f"{name}: not an image (PNG, JPEG or WebP); its first bytes are {data[:8]!r}") from None
    except Exception as error:  # noqa: BLE001 - Pillow raises many kinds for damaged headers
        raise RestError(400, "invalid_mime_type", f"{name}: the image header cannot be read: {error}") from None
    if orientation in (5, 6, 7, 8):  # stored sideways: the server turns it upright
        width, height = height, width
    return ImageInfo(kind, width, height, has_alpha)


# ---- shared ----


def _convert(raw: dict[str, Any], type_: type[T], *, strict: bool) -> T:
    try:
        return msgspec.convert(raw, type_, strict=strict, dec_hook=_file_hook)
    except msgspec.ValidationError as error:
        raise _validation_error(str(error), raw, type_) from None


def _file_hook(type_: type, value: Any) -> Any:
    if type_ is FilePart and isinstance(value, (bytes, bytearray)):
        return FilePart(value)
    raise NotImplementedError(type_)


def _validation_error(text: str, raw: dict[str, Any], type_: type) -> RestError:
    match = _AT_PATH.match(text)
    message, path = (match["message"], (match["path"] or "").lstrip(".")) if match else (text, "")
    unknown = re.match(r"Object contains unknown field `(.*)`$", message)
    if unknown:
        field = f"{path}.{unknown[1]}" if path else unknown[1]
        known = sorted(f.name for f in msgspec.structs.fields(type_)) if not path else []
        return bad_request(_unknown_field(field, known, form=False))
    missing = re.match(r"Object missing required field `(.*)`$", message)
    if missing:
        field = f"{path}.{missing[1]}" if path else missing[1]
        return RestError(400, _NAMES.get(field, "bad_request"), f"{field}: required")
    top = re.split(r"[.\[]", path, maxsplit=1)[0] if path else ""
    value = raw.get(top) if top == path else None  # a top-level scalar can be shown back
    shown = client_text(value) if isinstance(value, str) else repr(value)
    allowed = _literal_values(type_, top) if top == path else None
    if message.startswith("Invalid enum value") and allowed:
        message = f"{shown} is not one of {', '.join(allowed)}"
    else:
        message = message.replace("`", "").replace(" | null", "")  # null only means "not sent" here
        message = message[:1].lower() + message[1:]
        if value is not None and not isinstance(value, (dict, list, bytes)) and ", got " not in message:
            message += f", got {shown}"
    return RestError(400, _NAMES.get(top, "bad_request"), f"{path}: {message}" if path else message)


def _literal_values(type_: type, name: str) -> tuple[str, ...] | None:
    """The allowed values of an enumerated top-level field, for messages."""
    for field in msgspec.inspect.type_info(type_).fields:  # type: ignore[attr-defined]
        if field.name == name:
            info = field.type
            members = info.types if isinstance(info, msgspec.inspect.UnionType) else (info,)
            for member in members:
                member = member.type if isinstance(member, msgspec.inspect.Metadata) else member
                if isinstance(member, msgspec.inspect.LiteralType):
                    return tuple(str(value) for value in member.values)
    return None


def _unknown_field(name: str, known: list[str], *, form: bool) -> str:
    shown = client_text(name)
    if form and known:
        known = [*known, "text_prompts[i][text]", "text_prompts[i][weight]"]
        known.remove("text_prompts")
    return f"unknown field {shown}" + (f"; this route takes: {', '.join(known)}" if known else "")


def _check_depth(value: Any, path: str, levels_left: int, max_depth: int) -> None:
    try:
        check_depth(value, levels_left, path, max_depth)
    except WireError as error:
        raise bad_request(str(error)) from None


def _json_kind(value: Any) -> str:
    return "an array" if isinstance(value, list) else type(value).__name__ if value is not None else "null"

