"""Moonshot's Files API: a document uploaded for extraction (with progress, and never left behind by Ctrl-C),
the files the account holds, and deleting them.

What a server lists is untrusted: the answer is read up to :data:`MAX_LIST_BYTES`, at most :data:`MAX_FILES`
entries are kept, names are cut to :data:`MAX_NAME_CHARS` (the display sanitises them), and an id that could
not be a file id (it goes into a URL path) is left out.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from kimi_repl.client.errors import ChatError
from kimi_repl.client.http import MAX_EXTRACTED_BYTES, body_chunks, listed_entries, read_bounded
from kimi_repl.interrupts import allowed, held
from kimi_repl.values import public_url

if TYPE_CHECKING:
    from kimi_repl.client.client import MoonshotClient

MAX_LIST_BYTES = 4 * 1024 * 1024
"""The most read of ``GET /files`` (1,000 files take about 250 KB)."""
MAX_FILES = 1000
"""The most files kept from the list: Moonshot lets an account hold 1,000."""
MAX_NAME_CHARS = 200
CLEANUP_TIMEOUT = 10.0
"""Seconds given to deleting an upload that Ctrl-C stopped (a second Ctrl-C gives up at once)."""
FILE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


class ServerFile(NamedTuple):
    """A file the server holds, as listed (``name`` cut, not yet sanitised)."""

    id: str
    name: str
    size: int | None
    created_at: int | None
    purpose: str
    status: str


class Progress(NamedTuple):
    """How far a document has gone: ``upload`` (``done`` of ``total`` bytes sent) or ``extract`` (waiting)."""

    phase: Literal["upload", "extract"]
    done: int
    total: int


ProgressCallback = Callable[[Progress], None]


class NoFilesApi(ChatError):
    """The server has no Files API (it answered 404 or 405): llama.cpp's server, older compatible servers."""


class Stopped(KeyboardInterrupt):
    """Ctrl-C stopped an extraction. ``cleaned``: nothing was left on the server (the upload was deleted, or
    never stored); False when deleting it failed or a second Ctrl-C gave up on it."""

    def __init__(self, cleaned: bool) -> None:
        super().__init__()
        self.cleaned = cleaned


class _Reader(io.BytesIO):
    """The bytes of an upload, read by the HTTP client a piece at a time: each read reports progress."""

    def __init__(self, data: bytes, report: ProgressCallback) -> None:
        super().__init__(data)
        self._report = report
        self.finished = False
        """Every byte was handed over: from here the server may have stored the file."""

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.finished = not chunk or self.tell() >= len(self.getbuffer())
        self._report(Progress("upload", self.tell(), len(self.getbuffer())))
        return chunk


def _nothing(progress: Progress) -> None:
    pass


class ServerFiles:
    """The Files API of ``client``'s server."""

    def __init__(self, client: MoonshotClient) -> None:
        self.client = client

    def no_api(self, error: Any) -> NoFilesApi | None:
        """The :class:`NoFilesApi` error an SDK error of ``POST`` or ``GET /files`` means (404 or 405), or None.

        (``/files`` itself takes no id: a 404 there is the route missing, whatever the message says.)
        """
        status = getattr(error, "status_code", None)
        if status in (404, 405):
            where = public_url(self.client.settings.base_url)
            return NoFilesApi(self.client.clean(f"{where} has no Files API ({status}): it stores no files."))
        return None

    def _failure(self, error: Any) -> ChatError:
        return self.no_api(error) or self.client.error(error)

    def extract(self, name: str, data: bytes, progress: ProgressCallback = _nothing) -> tuple[str, str]:
        """Upload ``data`` as ``name`` for extraction (purpose ``file-extract``), read the text, delete the upload.

        Ctrl-C stops it at any moment; the upload, if the server may have stored it, is deleted first.

        Returns:
            The file id, and the extracted content (a JSON document, as text).

        Raises:
            Stopped: Ctrl-C (a KeyboardInterrupt).
            NoFilesApi: the server has none.
            ChatError: the upload or the extraction failed.
        """
        import openai

        sdk = self.client.sdk
        reader = _Reader(data, progress)
        file_id: str | None = None
        started = time.time()
        with held():
            try:
                with allowed():
                    uploaded = sdk.files.create(file=(name, reader), purpose="file-extract")  # type: ignore[arg-type]
                file_id = str(uploaded.id)
                if not FILE_ID.fullmatch(file_id):  # not a path segment: look for the upload as after Ctrl-C
                    gone = self._clean_up(None, name, len(data), started, sent=True)
                    kept = "" if gone else " (it may keep the upload)"
                    raise ChatError(f"The server answered the upload of {name} with an id that is not a file id{kept}.")
                progress(Progress("extract", len(data), len(data)))
                with allowed():
                    extracted = sdk.files.content(file_id)
                    content = extracted.text
            except KeyboardInterrupt:
                raise Stopped(self._clean_up(file_id, name, len(data), started, sent=reader.finished)) from None
            except openai.APIError as error:
                if file_id is None:  # the upload failed: a 404 or 405 there is the Files API missing
                    raise self._failure(error) from None
                self._delete_quietly(file_id)
                raise self.client.error(error) from None
            self._delete_quietly(file_id)  # the text is kept here; the upload need not stay
        if extracted.response.headers.get("x-kimi-repl-cut"):
            raise ChatError(f"The text extracted from {name} is bigger than {MAX_EXTRACTED_BYTES >> 20} MB.")
        return file_id, content

    def _delete_quietly(self, file_id: str) -> bool:
        """Delete ``file_id``, briefly; whether it is gone (a second Ctrl-C gives up)."""
        import openai

        quick = self.client.sdk.with_options(max_retries=0, timeout=CLEANUP_TIMEOUT)
        try:
            with allowed():
                quick.files.delete(file_id)
        except openai.NotFoundError:
            return True
        except (openai.APIError, KeyboardInterrupt, ValueError):
            return False
        return True

    def _clean_up(self, file_id: str | None, name: str, size: int, started: float, *, sent: bool) -> bool:
        """After Ctrl-C: delete the upload if the server may hold it; whether nothing is left there.

        Without its id (stopped before the answer came), the upload is looked for in the list: the newest
        file of that name and size created since the upload began (a minute's leeway for the clocks).
        """
        if file_id is None and not sent:
            return True  # the server never had the whole file: it stored nothing
        if file_id is None:
            try:
                with allowed():
                    files, _ = self.list(timeout=CLEANUP_TIMEOUT)
            except (ChatError, KeyboardInterrupt):
                return False
            since = started - 60
            same = [f for f in files if f.name == name[:MAX_NAME_CHARS] and f.size == size]
            matches = [f for f in same if (f.created_at or 0) >= since]
            if not matches:
                return True
            file_id = max(matches, key=lambda f: f.created_at or 0).id
        return self._delete_quietly(file_id)

    def list(self, *, timeout: float | None = None) -> tuple[list[ServerFile], int]:
        """``GET /files``: the files the server holds, and how many entries were left out (unusable, or past
        :data:`MAX_FILES`).

        Raises:
            NoFilesApi: the server has none.
            ChatError: the request failed, or the answer is too big or not a list of files.
        """
        import openai

        sdk = self.client.sdk.with_options(max_retries=0, timeout=timeout) if timeout else self.client.sdk
        try:
            with allowed(), sdk.files.with_streaming_response.list() as response:
                body = read_bounded(body_chunks(response.http_response), MAX_LIST_BYTES)
        except openai.APIError as error:
            raise self._failure(error) from None
        return server_files(body)

    def delete(self, file_id: str) -> bool:
        """``DELETE /files/{file_id}``; False if the server has no such file.

        Raises:
            ValueError: ``file_id`` cannot be a file id.
            NoFilesApi: the server has no Files API (405, or 404 and no list of files).
            ChatError: the request failed.
        """
        import openai

        if not FILE_ID.fullmatch(file_id):
            raise ValueError(file_id)
        try:
            with allowed():
                self.client.sdk.files.delete(file_id)
        except openai.NotFoundError:
            self.list()  # a server without the API says so here (NoFilesApi); else the file is not there
            return False
        except openai.APIError as error:
            raise self._failure(error) from None
        return True


def server_files(body: bytes | None) -> tuple[list[ServerFile], int]:
    """The files a ``GET /files`` answer lists (at most :data:`MAX_FILES`), and how many were left out.

    Raises:
        ChatError: the answer is too big or not a list of files.
    """
    entries = listed_entries(body, path="/files", what="files", limit=MAX_LIST_BYTES)
    kept: list[ServerFile] = []
    for entry in entries:
        if len(kept) >= MAX_FILES:
            break
        found = _server_file(entry)
        if found is not None:
            kept.append(found)
    return kept, len(entries) - len(kept)


def _server_file(entry: Any) -> ServerFile | None:
    """One listed file, or None if its id cannot be a file id."""
    if not isinstance(entry, dict):
        return None
    file_id = entry.get("id")
    if not isinstance(file_id, str) or not FILE_ID.fullmatch(file_id):
        return None

    def number(key: str, limit: int) -> int | None:
        value = entry.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < limit else None

    def text(key: str, limit: int) -> str:
        value = entry.get(key)
        return value[:limit] if isinstance(value, str) else ""

    status = text("status", 40)
    details = text("status_details", 200)
    return ServerFile(
        id=file_id,
        name=text("filename", MAX_NAME_CHARS),
        size=number("bytes", 10**13),
        created_at=number("created_at", 10**11),
        purpose=text("purpose", 40),
        status=f"{status}: {details}" if details and status not in ("ok", "") else status,
    )
