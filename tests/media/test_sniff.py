"""The type of a file by its bytes, and the client's file name made safe to keep."""

import pytest

from services.media.sniff import NotAllowed, normalise, sniff
from services.media.uploads import original_name
from tests.media.conftest import ELF, HTML, SAMPLES, png


@pytest.mark.parametrize("mime_type", sorted(SAMPLES))
def test_each_sample_is_its_type_declared_or_not(mime_type: str) -> None:
    sample = SAMPLES[mime_type]

    assert sniff(sample.data, sample.content_type, sample.filename).mime_type == mime_type
    assert sniff(sample.data, None, sample.filename).mime_type == mime_type
    assert sniff(sample.data, "application/octet-stream", "x").file_type == sample.file_type


def test_binary_types_ignore_the_name_and_text_types_need_text() -> None:
    assert sniff(png(), None, "setup.exe").mime_type == "image/png"
    with pytest.raises(NotAllowed):
        sniff(ELF, None, "cat.png")
    with pytest.raises(NotAllowed):
        sniff(HTML, "image/png", "cat.png")
    with pytest.raises(NotAllowed):
        sniff(b"{not json", "application/json", "a.json")
    with pytest.raises(NotAllowed):
        sniff(b"caf\xe9", "text/plain", "a.txt")
    with pytest.raises(NotAllowed):
        sniff(b"a\x00b", "text/plain", "a.txt")
    with pytest.raises(NotAllowed):
        sniff(b"", None, "a.txt")


def test_plain_text_types_come_from_the_declared_type_or_the_extension() -> None:
    assert sniff(b"# Hej", None, "a.md").mime_type == "text/markdown"
    assert sniff(b"a{}", None, "a.css").mime_type == "text/css"
    assert sniff(b"hej", None, "a.weird").mime_type == "text/plain"
    assert sniff(b"hej", "text/markdown; charset=utf-8", "a.txt").mime_type == "text/markdown"
    with pytest.raises(NotAllowed):
        sniff(b"hej", "image/png", "a.png")


def test_aliases_are_the_same_type() -> None:
    assert normalise("image/JPG") == "image/jpeg"
    assert normalise("image/vnd.microsoft.icon") == "image/x-icon"
    assert normalise("text/plain; charset=utf-8") == "text/plain"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\bild.png", "bild.png"),
        ("bro\u0308d.png", "bröd.png"),
        ("\u202egnp.exe", "gnp.exe"),
        ("", "file"),
        (None, "file"),
        ("a" * 300 + ".png", "a" * 251 + ".png"),
    ],
)
def test_original_names_keep_the_last_segment_without_controls(
    given: str | None, kept: str
) -> None:
    assert original_name(given) == kept
