"""The fake's Files API, in Moonshot's shapes: upload (``purpose=file-extract``), the extracted text, the list,
delete. Switched off (every route a 404, as llama.cpp's server answers) with ``files_api = False``, which the
``legacy`` lineup starts with; ``extract_delay`` makes the extraction slow (to see progress and Ctrl-C it);
``uploads`` counts uploads, so a test can tell a file was sent once."""

from __future__ import annotations

import email.policy
import json
import time
import uuid
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fake.handler import _Handler

LISTED = ("id", "object", "bytes", "created_at", "filename", "purpose", "status", "status_details")
"""The fields of a file object, as ``GET /files`` and ``POST /files`` answer."""


def stored_file(filename: str, data: bytes, *, created_at: int | None = None) -> dict[str, Any]:
    """A file record as the fake keeps it: Moonshot's file object, plus its "extracted" text."""
    if data.startswith(b"%PDF"):
        text = data.split(b"\n", 1)[-1].decode("utf-8", "replace")  # the fake's "PDF" is text after a header
    else:
        text = data.decode("utf-8", "replace")
    return {
        "id": "cn" + uuid.uuid4().hex[:18],
        "object": "file",
        "bytes": len(data),
        "created_at": int(time.time()) if created_at is None else created_at,
        "filename": filename,
        "purpose": "file-extract",
        "status": "ok",
        "status_details": "",
        "file_type": filename.rsplit(".", 1)[-1],
        "text": text,
    }


def route(handler: _Handler, method: str, body: Any = None) -> bool:
    """Answer a Files API request; False if the path is not one (the caller answers 404)."""
    fake = handler.fake
    path = handler.path
    if path != "/v1/files" and not path.startswith("/v1/files/"):
        return False
    if not fake.files_api:
        handler._error(404, "not_found_error", "File Not Found")  # llama.cpp's answer to an unknown route
        return True
    if method == "GET" and path == "/v1/files":
        listed = [{k: f[k] for k in LISTED} for f in fake.files.values()]
        handler._send_json(200, {"object": "list", "data": listed})
    elif method == "GET" and path.endswith("/content"):
        _content(handler, path.split("/")[3])
    elif method == "POST" and path == "/v1/files" and isinstance(body, bytes):
        _upload(handler, body)
    elif method == "DELETE":
        file_id = path.removeprefix("/v1/files/")
        if fake.files.pop(file_id, None) is None:
            handler._error(404, "resource_not_found_error", "file not found")
        else:
            handler._send_json(200, {"id": file_id, "object": "file", "deleted": True})
    else:
        handler._error(405, "invalid_request_error", "Method not allowed")
    return True


def _content(handler: _Handler, file_id: str) -> None:
    """``GET /files/{id}/content``: the extracted text, as Moonshot's JSON document (after the extraction delay)."""
    stored = handler.fake.files.get(file_id)
    if stored is None:
        return handler._error(404, "resource_not_found_error", "file not found")
    time.sleep(handler.fake.extract_delay)
    extracted = {
        "content": stored["text"],
        "file_type": stored["file_type"],
        "filename": stored["filename"],
        "title": "",
        "type": "file",
    }
    handler._send_bytes(200, json.dumps(extracted, ensure_ascii=False).encode(), "text/plain; charset=utf-8")


def _upload(handler: _Handler, raw: bytes) -> None:
    """``POST /files``: multipart with ``file`` and ``purpose=file-extract``; the text is "extracted"."""
    content_type = (handler.headers.get("Content-Type") or "").encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(b"Content-Type: " + content_type + b"\r\n\r\n" + raw)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    purpose = fields.get("purpose", (None, b""))[1].decode()
    if "file" not in fields or purpose != "file-extract":
        return handler._error(400, message=f"Invalid request: purpose must be file-extract, not {purpose!r}")
    filename, data = fields["file"]
    record = stored_file(filename or "upload", data)
    if handler.fake.upload_id is not None:  # a broken or hostile server's answer
        record["id"] = handler.fake.upload_id
    handler.fake.files[record["id"]] = record
    handler.fake.uploads.append(record["filename"])
    handler._send_json(200, {k: record[k] for k in LISTED})
