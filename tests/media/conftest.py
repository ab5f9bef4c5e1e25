"""The media service on the session database, once per data plane, storing objects in Supabase
Storage (the in-repo stand-in over the same database, so the bucket's real policies decide) or
in a local directory; and sample files of every type, made here byte by byte."""

import json
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.media.app import create_app
from shared.config import Settings
from standins.http_server import serve_http
from standins.storage import StorageStandIn
from tests.conftest import JWT_SECRET
from tests.fakes.redis_fixtures import REDIS_URL
from tests.tenancy import service_role_key

MediaClient = AsyncTestClient[Litestar]
BACKENDS = ("supabase", "local")


@dataclass
class StorageServer:
    standin: StorageStandIn
    url: str

    def reset(self) -> None:
        self.standin.failing = False
        self.standin.failing_writes = False


@pytest.fixture(scope="session")
def storage_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StorageServer]:
    """The Supabase Storage stand-in over the session database, bytes in a temporary folder."""
    standin = StorageStandIn(database_url, JWT_SECRET, tmp_path_factory.mktemp("storage"))
    with serve_http(standin) as url:
        yield StorageServer(standin, url)


@pytest.fixture
def storage(storage_server: StorageServer) -> Iterator[StorageServer]:
    """The stand-in, answering normally when the test starts and after it ends."""
    storage_server.reset()
    yield storage_server
    storage_server.reset()


@pytest.fixture(params=["supabase"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which store the service uses: Supabase Storage unless a test parametrizes it."""
    return str(request.param)


@pytest.fixture
def media_settings(
    settings: Settings, key_prefix: str, backend: str, storage: StorageServer, tmp_path: Path
) -> Settings:
    """The media service as deployed, on the `backend` store; rate limits out of the way."""
    store: dict[str, object] = (
        {"supabase_storage_url": f"{storage.url}/storage/v1"}
        if backend == "supabase"
        else {"media_dir": str(tmp_path / "media")}
    )
    return msgspec.structs.replace(
        settings,
        supabase_service_role_key=service_role_key(JWT_SECRET),
        redis_url=REDIS_URL,
        redis_key_prefix=key_prefix,
        rate_limits=("upload=1000/60",),
        rate_limit_timeout_ms=2000,
        **store,
    )


@pytest.fixture
async def media(media_settings: Settings) -> AsyncIterator[MediaClient]:
    async with AsyncTestClient(create_app(media_settings)) as client:
        yield client


# Samples -----------------------------------------------------------------------------------------


def png(width: int = 1, height: int = 1) -> bytes:
    """A valid RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    """A JFIF header, a quantisation table and the end marker."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(range(1, 65))
    return b"\xff\xd8" + app0 + dqt + b"\xff\xd9"


def gif() -> bytes:
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
        b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def webp() -> bytes:
    body = b"VP8L" + struct.pack("<I", 5) + b"\x2f\x00\x00\x00\x00" + b"\x00"
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def ico() -> bytes:
    image = png()
    entry = struct.pack("<BBBBHHII", 1, 1, 0, 0, 1, 32, len(image), 22)
    return struct.pack("<HHH", 0, 1, 1) + entry + image


def mp4() -> bytes:
    return (
        struct.pack(">I", 24) + b"ftypisom\x00\x00\x02\x00isomiso2" + struct.pack(">I", 8) + b"free"
    )


def mov() -> bytes:
    return struct.pack(">I", 20) + b"ftypqt  \x00\x00\x02\x00qt  " + struct.pack(">I", 8) + b"wide"


def webm() -> bytes:
    header = bytes.fromhex("4286810142f7810142f2810442f381084282847765626d4287810442858102")
    return (
        bytes.fromhex("1a45dfa3")
        + bytes([0x80 | len(header)])
        + header
        + bytes.fromhex("1853806701ffffffffffffff")
    )


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1">'
    b'<rect width="1" height="1"/></svg>'
)
HTML = b"<!DOCTYPE html><html><head><title>Hej</title></head><body><p>Hej</p></body></html>"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + b"\x00" * 40


@dataclass(frozen=True)
class Sample:
    data: bytes
    filename: str
    content_type: str
    file_type: str


SAMPLES: dict[str, Sample] = {
    "image/jpeg": Sample(jpeg(), "photo.jpg", "image/jpeg", "image"),
    "image/png": Sample(png(), "pixel.png", "image/png", "image"),
    "image/gif": Sample(gif(), "pixel.gif", "image/gif", "image"),
    "image/webp": Sample(webp(), "pixel.webp", "image/webp", "image"),
    "image/svg+xml": Sample(SVG, "logo.svg", "image/svg+xml", "image"),
    "image/x-icon": Sample(ico(), "favicon.ico", "image/vnd.microsoft.icon", "image"),
    "video/mp4": Sample(mp4(), "clip.mp4", "video/mp4", "video"),
    "video/webm": Sample(webm(), "clip.webm", "video/webm", "video"),
    "video/quicktime": Sample(mov(), "clip.mov", "video/quicktime", "video"),
    "application/pdf": Sample(pdf(), "menu.pdf", "application/pdf", "pdf"),
    "text/plain": Sample("Öppet 8-16, välkommen!\n".encode(), "hours.txt", "text/plain", "text"),
    "text/markdown": Sample(b"# Meny\n\n- Kanelbulle\n", "menu.md", "text/markdown", "text"),
    "application/json": Sample(
        json.dumps({"menu": ["bulle"]}).encode(), "menu.json", "application/json", "text"
    ),
    "text/html": Sample(HTML, "page.html", "text/html", "text"),
    "text/css": Sample(b"body { color: #333; }\n", "site.css", "text/css", "text"),
}
