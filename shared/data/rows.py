"""Rows (snake_case, JSON values) into the typed Structs services speak (often camelCase)."""

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

StructT = TypeVar("StructT", bound=msgspec.Struct)


def row_as(struct_type: type[StructT], row: dict[str, Any]) -> StructT:
    """Validate and convert a row: columns match fields by their Python names, whatever the
    Struct's wire names are, and columns the Struct lacks are ignored; strings become datetimes
    and UUIDs as the field types say."""
    names = _wire_names(struct_type)
    if names is not None:
        row = {wire: row[name] for name, wire in names if name in row}
    return msgspec.convert(row, struct_type, strict=False)


@functools.cache
def _wire_names(struct_type: type[msgspec.Struct]) -> tuple[tuple[str, str], ...] | None:
    """(Python name, wire name) of every field, or None when a row converts as it is (no field
    renamed, extra columns ignored). Once per type: rows are converted on every request."""
    fields = msgspec.structs.fields(struct_type)
    renames = any(field.name != field.encode_name for field in fields)
    if not renames and not struct_type.__struct_config__.forbid_unknown_fields:
        return None
    return tuple((field.name, field.encode_name) for field in fields)


def rows_as(struct_type: type[StructT], json: bytes | str) -> list[StructT]:
    """A JSON array of rows decoded straight into `struct_type`s, matched as `row_as` matches
    them, without building a dict per row."""
    return _rows_decoder(struct_type)(json)


@functools.cache
def _rows_decoder(struct_type: type[StructT]) -> Callable[[bytes | str], list[StructT]]:
    """Rows decode into `struct_type` itself when its wire names are its columns; otherwise into
    a twin Struct named by the columns, converted by attribute (all in msgspec's C code)."""
    decode: Callable[[bytes | str], Any]
    if _wire_names(struct_type) is None:
        decode = msgspec.json.Decoder(list[struct_type], strict=False).decode  # type: ignore[valid-type]
        return decode
    fields = [
        (field.name, field.type, _default(field)) for field in msgspec.structs.fields(struct_type)
    ]
    twin = msgspec.defstruct(f"{struct_type.__name__}Row", fields, frozen=True, kw_only=True)
    decode = msgspec.json.Decoder(list[twin], strict=False).decode  # type: ignore[valid-type]
    target = list[struct_type]  # type: ignore[valid-type]
    return lambda json: msgspec.convert(decode(json), target, from_attributes=True)


def _default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default_factory is not msgspec.NODEFAULT:
        return msgspec.field(default_factory=field.default_factory)
    return field.default
