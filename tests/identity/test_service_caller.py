"""The service role as a caller: the one identity that bypasses row-level security."""

import pytest

from shared.config import Settings
from shared.identity import service_caller


def test_the_service_role_sends_its_key_to_the_data_api() -> None:
    settings = Settings(data_plane="postgrest", supabase_service_role_key="service-key")

    caller = service_caller(settings)

    assert (caller.role, caller.kind, caller.token) == ("service_role", "service", "service-key")


def test_the_direct_plane_takes_on_the_role_without_a_key() -> None:
    caller = service_caller(Settings(data_plane="postgres"))

    assert (caller.role, caller.claims, caller.token) == (
        "service_role",
        {"role": "service_role"},
        None,
    )


def test_the_data_api_without_the_service_role_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="SUPABASE_SERVICE_ROLE_KEY"):
        service_caller(Settings(data_plane="postgrest"))
