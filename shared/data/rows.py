"""Rows (snake_case, JSON values) into the typed Structs services speak (often camelCase)."""

from typing import Any, TypeVar

import msgspec

StructT = TypeVar("StructT", bound=msgspec.Struct)


def row_as(struct_type: type[StructT], row: dict[str, Any]) -> StructT:
    """Validate and convert a row: columns match fields by their Python names, whatever the
    Struct's wire names are; strings become datetimes and UUIDs as the field types say."""
    by_wire_name = {
        field.encode_name: row[field.name]
        for field in msgspec.structs.fields(struct_type)
        if field.name in row
    }
    return msgspec.convert(by_wire_name, struct_type, strict=False)
