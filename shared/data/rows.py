"""Rows (snake_case, JSON values) into the typed Structs services speak (often camelCase)."""

import functools
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
