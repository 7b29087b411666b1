"""Reading in: the clipboard's picture (or, for Ctrl-V, its text) through the platform's own tool.

``wl-paste`` on Wayland, ``xclip`` on X11, ``pngpaste`` or ``osascript`` (and ``pbpaste``) on macOS, PowerShell on
Windows, each found on PATH when asked. A tool's output is untrusted: it is read up to a bound, the tool is
killed when it takes longer than :data:`READ_SECONDS`, and the bytes it calls a picture are checked by the
caller as any picture is (:func:`kimi_repl.images.image_from_bytes`).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from kimi_repl.errors import UserError
from kimi_repl.images import MAX_IMAGE_BYTES

READ_SECONDS = 5.0
"""How long a clipboard tool may take to answer before it is killed."""

MAX_TEXT_BYTES = 16 * 1024 * 1024
"""The most text Ctrl-V pastes from the clipboard (as much as an editor may give back)."""

MAX_LIST_BYTES = 64 * 1024
"""A list of the clipboard's types is a few lines."""

PICTURE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
"""The types asked for, best first: the ones a picture may be sent as."""

TEXT_TYPES = ("UTF8_STRING", "STRING", "TEXT")
"""X11's names for text, beside ``text/...``."""


class ClipboardError(UserError):
    """The clipboard could not be read: no tool, no display, or a tool that failed, hung or said too much."""


@dataclass(frozen=True)
class Held:
    """What the clipboard holds: a picture's bytes (not yet checked), else text (when asked for), else neither."""

    picture: bytes | None = None
    text: str | None = None


def clipboard_picture() -> bytes:
    """The clipboard's picture, as the tool gave it (the caller checks it is one).

    Raises:
        ClipboardError: the clipboard cannot be read, or holds no picture.
    """
    held = read_clipboard()
    if held.picture is None:
        raise ClipboardError("The clipboard holds no picture: copy one (a screenshot, say), or use /image PATH.")
    return held.picture


def clipboard_paste() -> Held:
    """What Ctrl-V pastes: the clipboard's picture, else its text.

    Raises:
        ClipboardError: the clipboard cannot be read, or holds neither.
    """
    held = read_clipboard(text=True)
    if held.picture is None and not held.text:
        raise ClipboardError("The clipboard holds no picture and no text.")
    return held


def read_clipboard(*, text: bool = False) -> Held:
    """The clipboard's picture if it holds one, else its text if ``text`` (else nothing), by the platform's tool.

    Raises:
        ClipboardError: no tool or display to read it with, or the tool failed, hung or gave too much.
    """
    if os.environ.get("SSH_CONNECTION") and not (sys.platform.startswith("linux") and any(_displays())):
        raise ClipboardError(
            "Over ssh the clipboard here is not your computer's: copy the picture over (scp) and use /image PATH."
        )
    if sys.platform == "darwin":
        return _macos(text)
    if sys.platform == "win32":
        return _windows(text)
    return _linux(text)


def _displays() -> tuple[str, str]:
    """``WAYLAND_DISPLAY`` and ``DISPLAY`` ("" when unset): where a Linux desktop's clipboard is."""
    return os.environ.get("WAYLAND_DISPLAY", ""), os.environ.get("DISPLAY", "")


def _linux(text: bool) -> Held:
    """Wayland's ``wl-paste``, else X11's ``xclip`` (also under XWayland)."""
    wayland, x11 = _displays()
    wl_paste, xclip = shutil.which("wl-paste"), shutil.which("xclip")
    if wayland and wl_paste:
        return _wayland(wl_paste, text)
    if x11 and xclip:
        return _x11(xclip, text)
    if wayland:
        raise ClipboardError("Reading the clipboard on Wayland needs wl-paste: install wl-clipboard.")
    if x11:
        raise ClipboardError("Reading the clipboard on X11 needs xclip: install it.")
    raise ClipboardError("No desktop session here (neither WAYLAND_DISPLAY nor DISPLAY is set): no clipboard to read.")


def _wayland(tool: str, text: bool) -> Held:
    """``wl-paste --list-types``, then the best picture type (or text)."""
    types = _lines(run_tool([tool, "--list-types"], what="list of types"))
    picture = next((kind for kind in PICTURE_TYPES if kind in types), None)
    if picture is not None:
        return Held(picture=_needed(run_tool([tool, "--no-newline", "--type", picture], what="picture"), tool))
    if text and any(kind.startswith("text/") or kind in TEXT_TYPES for kind in types):
        return Held(text=_decoded(run_tool([tool, "--no-newline", "--type", "text"], what="text")))
    return Held()


def _x11(tool: str, text: bool) -> Held:
    """``xclip -selection clipboard -t TARGETS -o``, then the best picture type (or text)."""
    selection = [tool, "-selection", "clipboard"]
    types = _lines(run_tool([*selection, "-t", "TARGETS", "-o"], what="list of types"))
    picture = next((kind for kind in PICTURE_TYPES if kind in types), None)
    if picture is not None:
        return Held(picture=_needed(run_tool([*selection, "-t", picture, "-o"], what="picture"), tool))
    textual = next((kind for kind in TEXT_TYPES if kind in types), None)
    if text and textual is not None:
        return Held(text=_decoded(run_tool([*selection, "-t", textual, "-o"], what="text")))
    return Held()


_PNG_HEX = re.compile(rb"PNGf([0-9A-Fa-f]+)")
"""osascript's answer: ``«data PNGf89504E47…»``."""


def _macos(text: bool) -> Held:
    """``pngpaste -`` if installed, else ``osascript`` (the clipboard as PNG, in hex); text from ``pbpaste``."""
    pngpaste, osascript = shutil.which("pngpaste"), shutil.which("osascript")
    if pngpaste is not None:
        picture = run_tool([pngpaste, "-"], what="picture")
        if picture:
            return Held(picture=picture)
    elif osascript is not None:
        answer = run_tool([osascript, "-e", "the clipboard as «class PNGf»"], what="picture", encoded=2)
        found = _PNG_HEX.search(answer or b"")
        if found:
            return Held(picture=binascii.unhexlify(found.group(1)[: len(found.group(1)) // 2 * 2]))
    else:
        raise ClipboardError("Reading the clipboard needs osascript (part of macOS) or pngpaste, on PATH.")
    pbpaste = shutil.which("pbpaste")
    if text and pbpaste is not None:
        return Held(text=_decoded(run_tool([pbpaste], what="text")) or None)
    return Held()


_WINDOWS_SCRIPT = (
    "Add-Type -AssemblyName System.Windows.Forms,System.Drawing;"
    "$c=[System.Windows.Forms.Clipboard];$i=$c::GetImage();"
    "if($i){$m=New-Object System.IO.MemoryStream;$i.Save($m,[System.Drawing.Imaging.ImageFormat]::Png);"
    "'picture:'+[Convert]::ToBase64String($m.ToArray())}"
    "elseif($want -and $c::ContainsText()){"
    "'text:'+[Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($c::GetText()))}"
)
"""PowerShell: the clipboard's picture as PNG, else its text, in base64 (nothing to decode on the console)."""


def _windows(text: bool) -> Held:
    """PowerShell (``powershell``, else ``pwsh``) through System.Windows.Forms.Clipboard."""
    tool = shutil.which("powershell") or shutil.which("pwsh")
    if tool is None:
        raise ClipboardError("Reading the clipboard needs PowerShell (powershell or pwsh) on PATH.")
    script = f"$want=${'true' if text else 'false'};{_WINDOWS_SCRIPT}"
    command = [tool, "-NoProfile", "-NonInteractive", "-STA", "-Command", script]
    answer = (run_tool(command, what="content", encoded=4 / 3) or b"").strip()
    kind, _, encoded = answer.partition(b":")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return Held()
    if kind == b"picture":
        return Held(picture=data)
    if kind == b"text" and text:
        return Held(text=_decoded(data))
    return Held()


LIMITS = {"picture": MAX_IMAGE_BYTES, "text": MAX_TEXT_BYTES, "list of types": MAX_LIST_BYTES}
"""The most a tool may give of each kind of answer (anything else: :data:`MAX_TEXT_BYTES`)."""


def run_tool(command: list[str], *, what: str, encoded: float = 1.0) -> bytes | None:
    """What ``command`` (its first word a path) writes, read up to the limit for ``what`` (times ``encoded``, for
    hex or base64); None if it exits with an error (most tools do when the clipboard holds nothing of the type
    asked for).

    Raises:
        ClipboardError: it could not be run, took longer than :data:`READ_SECONDS` (it is killed), or wrote
            more than the limit.
    """
    name = os.path.basename(command[0])
    limit = LIMITS.get(what, MAX_TEXT_BYTES)
    bound = int(limit * encoded) + 64
    environment = {**os.environ, "LANG": os.environ.get("LANG") or "en_US.UTF-8"}  # pbpaste reads the locale
    deadline = time.monotonic() + READ_SECONDS
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=environment,
            start_new_session=True,  # its own process group: killed whole, and Ctrl-C here is not sent to it
        )
    except OSError as error:
        raise ClipboardError(f"{name} could not be run ({error.strerror or error}).") from None
    # Read on a thread of its own: a child the tool started in a session of its own may hold the pipe open
    # after the tool is killed, and only giving up on the read (left to that thread) gets the prompt back.
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(_read_up_to(process, bound)), daemon=True)
    reader.start()
    reader.join(timeout=READ_SECONDS)
    expired = reader.is_alive()
    data = read[0] if read else b""
    try:
        if not expired and len(data) <= bound:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        expired = True
    finally:
        if process.poll() is None:
            _kill(process)
            process.wait()
        if not reader.is_alive() and process.stdout is not None:
            process.stdout.close()
    if expired:
        raise ClipboardError(f"{name} did not answer within {READ_SECONDS:g} seconds: it was stopped.")
    if len(data) > bound:
        raise ClipboardError(f"The clipboard's {what} is over {limit >> 20 or 1} MB: nothing was taken from it.")
    return data if process.returncode == 0 else None


def _read_up_to(process: subprocess.Popen[bytes], bound: int) -> bytes:
    """The process's output until it closes it, or as soon as it passes ``bound`` bytes."""
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    pieces: list[bytes] = []
    size = 0
    while size <= bound:
        piece = os.read(descriptor, 65536)
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    return b"".join(pieces)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Stop the tool and whatever it started."""
    try:
        if sys.platform != "win32":
            import signal

            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except OSError:
        pass


def _lines(data: bytes | None) -> list[str]:
    """A tool's list of types, one a line (an empty clipboard: none)."""
    return [line.strip() for line in (data or b"").decode("utf-8", errors="replace").splitlines()]


def _decoded(data: bytes | None) -> str | None:
    """Text a tool gave, as UTF-8 (anything else replaced); None when it gave none."""
    return data.decode("utf-8", errors="replace") if data else None


def _needed(data: bytes | None, tool: str) -> bytes:
    """A picture the tool listed; it must then give it.

    Raises:
        ClipboardError: it did not.
    """
    if data is None:
        raise ClipboardError(f"{os.path.basename(tool)} listed a picture in the clipboard but could not give it.")
    return data
