"""Uploads: a user's file into their media library."""

from litestar import Router

router = Router(path="/", route_handlers=[])
