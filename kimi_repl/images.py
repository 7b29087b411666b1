"""Pictures to ask about: read, checked by their content (not their name), and sent as base64 ``data:`` URLs."""

from __future__ import annotations

from pathlib import Path

from kimi_repl.conversation import Image
from kimi_repl.errors import UserError
from kimi_repl.safefiles import read_regular_file

MAX_IMAGE_BYTES = 10 * 1024 * 1024
"""The largest picture sent: its base64 is a third bigger, and it goes with every later message."""


class ImageError(UserError):
    """A file cannot be sent as a picture."""


def sniff(data: bytes) -> str | None:
    """The MIME type of a PNG, JPEG, WebP or GIF picture, from its first bytes; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
"""A file name's ending for each kind of picture (a pasted picture is named after its kind)."""


def read_image(path: Path) -> Image:
    """The picture in ``path``.

    Raises:
        ImageError: missing, not a regular file, too big, or not a PNG, JPEG, WebP or GIF (whatever its name).
    """
    data = read_regular_file(path, max_bytes=MAX_IMAGE_BYTES, kind="a picture (at most 10 MB)", error=ImageError)
    return image_from_bytes(data, path.name, source=str(path))


def image_from_bytes(data: bytes, name: str, *, source: str) -> Image:
    """The picture in ``data`` (from ``source``, for messages), named ``name``: a file's or the clipboard's.

    Raises:
        ImageError: over 10 MB, or not a PNG, JPEG, WebP or GIF (judged by its content).
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"{source} is over 10 MB: too big to send as a picture")
    import base64

    mime = sniff(data)
    if mime is None:
        raise ImageError(f"{source} is not a PNG, JPEG, WebP or GIF picture (judged by its content, not its name)")
    return Image(name=name, mime=mime, data=base64.b64encode(data).decode("ascii"))
