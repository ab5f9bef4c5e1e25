"""What a file is, decided by its bytes.

puremagic (pure Python, <2 for Python 3.11) recognises every binary type on the allow-list and
SVG, JSON and HTML; plain text, Markdown and CSS have no signature, so a file it cannot place is
text only if it is strict UTF-8 without control characters, and then its declared type or file
name says which text. The file name never decides anything else, and a declared type that is not
what the bytes are is refused (HTML sent as image/png, an executable named .png).
"""

import json
import os
from dataclasses import dataclass

import puremagic

# Allowed MIME type → (file_type, extension used in storage paths).
ALLOWED: dict[str, tuple[str, str]] = {
    "image/jpeg": ("image", ".jpg"),
    "image/png": ("image", ".png"),
    "image/gif": ("image", ".gif"),
    "image/webp": ("image", ".webp"),
    "image/svg+xml": ("image", ".svg"),
    "image/x-icon": ("image", ".ico"),
    "video/mp4": ("video", ".mp4"),
    "video/webm": ("video", ".webm"),
    "video/quicktime": ("video", ".mov"),
    "application/pdf": ("pdf", ".pdf"),
    "text/plain": ("text", ".txt"),
    "text/markdown": ("text", ".md"),
    "application/json": ("text", ".json"),
    "text/html": ("text", ".html"),
    "text/css": ("text", ".css"),
}

# Other names of the same types, from browsers, libraries and operating systems.
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/vnd.microsoft.icon": "image/x-icon",
    "image/ico": "image/x-icon",
    "image/icon": "image/x-icon",
    "application/x-pdf": "application/pdf",
    "text/x-markdown": "text/markdown",
    "text/json": "application/json",
    "video/x-quicktime": "video/quicktime",
}

# Declared types that say nothing: the client did not know.
UNDECLARED = {"", "application/octet-stream", "binary/octet-stream"}

# Text types told apart only by the name or declared type (no signature).
TEXT_BY_EXTENSION = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".css": "text/css",
}
PLAIN_TEXT_TYPES = frozenset(TEXT_BY_EXTENSION.values())
# Types whose bytes must be strict UTF-8 text even when puremagic recognised them.
TEXT_TYPES = frozenset({"image/svg+xml", "application/json", "text/html"}) | PLAIN_TEXT_TYPES

# Control characters text may hold: tab, line feed, form feed, carriage return.
TEXT_CONTROLS = frozenset("\t\n\f\r")


@dataclass(frozen=True)
class Sniffed:
    mime_type: str
    file_type: str
    extension: str


class NotAllowed(Exception):
    """The bytes are not an allowed type, or not the type declared; the message says which."""


def normalise(mime_type: str | None) -> str:
    """`mime_type` lower-cased, without parameters, its alias resolved."""
    bare = (mime_type or "").split(";", 1)[0].strip().lower()
    return ALIASES.get(bare, bare)


def sniff(data: bytes, declared_type: str | None, filename: str | None) -> Sniffed:
    """The allowed type `data` is, agreeing with `declared_type`; else `NotAllowed`."""
    if not data:
        raise NotAllowed("The file is empty.")
    declared = normalise(declared_type)
    mime_type = _by_signature(data) or _plain_text(data, declared, filename)
    if mime_type is None:
        raise NotAllowed("This type of file is not accepted.")
    if mime_type in TEXT_TYPES and not _is_text(data):
        raise NotAllowed("The file is not UTF-8 text.")
    if mime_type == "application/json" and not _is_json(data):
        raise NotAllowed("The file is not valid JSON.")
    if declared not in UNDECLARED and declared != mime_type:
        raise NotAllowed(f"The file was sent as {declared} but is {mime_type}.")
    file_type, extension = ALLOWED[mime_type]
    return Sniffed(mime_type, file_type, extension)


def _by_signature(data: bytes) -> str | None:
    """The allowed type among puremagic's most confident matches, None if it has none; a file
    whose best match is some other type is no allowed type at all."""
    try:
        matches = puremagic.magic_string(data)
    except (puremagic.PureError, ValueError):
        return None
    if not matches:
        return None
    best = max(match.confidence for match in matches)
    for match in matches:
        if match.confidence == best and normalise(match.mime_type) in ALLOWED:
            return normalise(match.mime_type)
    # Something else (an executable, an archive...): not allowed, unless the bytes are text.
    return None


def _plain_text(data: bytes, declared: str, filename: str | None) -> str | None:
    """Plain text, Markdown or CSS, when the bytes are text: by the declared type, else the
    file name's extension, else plain text."""
    if not _is_text(data):
        return None
    if declared in PLAIN_TEXT_TYPES:
        return declared
    if declared not in UNDECLARED:
        return None
    extension = os.path.splitext(filename or "")[1].lower()
    return TEXT_BY_EXTENSION.get(extension, "text/plain")


def _is_text(data: bytes) -> bool:
    """Strict UTF-8 with no control characters but tab, newlines and form feed."""
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        return False
    return not any(
        (ord(char) < 0x20 and char not in TEXT_CONTROLS) or ord(char) == 0x7F for char in text
    )


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data.decode("utf-8"))
    except ValueError:
        return False
    return True
