"""Pictures: known by their content, sent with the next message, refused by models that take none."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest

from kimi_repl.commands import CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.errors import UserError
from kimi_repl.images import sniff
from kimi_repl.sessions import load_file
from kimi_repl.transcript import from_json, from_markdown, to_json, to_markdown
from tests.fake import FakeMoonshot
from tests.helpers import CapturedDisplay, png_bytes, saved_session


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (png_bytes(), "image/png"),
        (b"\xff\xd8\xff\xe0 jfif", "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a....", "image/gif"),
        (b"%PDF-1.7", None),
        (b"<svg></svg>", None),
    ],
)
def test_pictures_are_known_by_their_content(data: bytes, mime: str | None) -> None:
    assert sniff(data) == mime


def test_a_picture_goes_with_the_next_message_and_survives_everything(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    (tmp_path / "cat.png").write_bytes(png_bytes())
    session = saved_session(settings, display, thinking=False)
    registry.dispatch(session, f"/image {tmp_path / 'cat.png'}")
    registry.dispatch(session, "/image")
    assert "cat.png  image/png" in display.output
    turn = session.chat.send("what is this?")
    assert turn is not None and turn.content == "Echo 1: what is this? [1 picture]"
    content = server.chat_requests()[-1]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    assert content[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    assert session.chat.attachments == []  # sent: the next message goes without
    session.chat.send("and now?")
    assert server.chat_requests()[-1]["messages"][0]["content"] == content  # the history keeps it
    assert session.chat.log is not None
    reloaded, _ = load_file(session.chat.log.path)
    assert reloaded == session.chat.conversation
    assert from_json(to_json(reloaded), "t") == reloaded
    markdown = to_markdown(reloaded)
    assert "🖼 cat.png" in markdown and base64.b64encode(png_bytes()).decode()[:20] not in markdown
    placeholder = from_markdown(markdown, "t").turns[0].images[0]
    assert (placeholder.name, placeholder.data) == ("cat.png", "")
    assert placeholder.part()["type"] == "image_url"
    assert from_markdown(markdown, "t").turns[0].to_message() == {
        "role": "user",
        "content": "what is this?\n\n[picture not shown here: cat.png]",  # its data was not kept: named only
    }


def test_pictures_are_refused_by_a_model_that_takes_none(
    registry: CommandRegistry, settings: Settings, server: FakeMoonshot, display: CapturedDisplay, tmp_path: Path
) -> None:
    (tmp_path / "cat.png").write_bytes(png_bytes())
    session = CommandContext.open(replace(settings, model="moonshot-v1-8k"), display)
    with pytest.raises(UserError, match=r"moonshot-v1-8k takes no pictures: /model moonshot-v1-8k-vision-preview"):
        registry.dispatch(session, f"/image {tmp_path / 'cat.png'}")
    session.chat.choose(model="kimi-k2.6")
    registry.dispatch(session, f"/image {tmp_path / 'cat.png'}")
    session.chat.choose(model="kimi-k3")  # switched after attaching: refused when sending, nothing sent
    assert session.chat.send("look") is None
    assert "kimi-k3 takes no pictures" in display.output and server.chat_requests() == []
    registry.dispatch(session, "/image clear")
    assert session.chat.attachments == [] and session.chat.send("look") is not None


def test_files_that_are_not_pictures_are_refused(
    registry: CommandRegistry, session: CommandContext, tmp_path: Path
) -> None:
    (tmp_path / "fake.png").write_text("not a picture at all")
    with pytest.raises(UserError, match="not a PNG, JPEG, WebP or GIF picture"):
        registry.dispatch(session, f"/image {tmp_path / 'fake.png'}")
    big = tmp_path / "big.png"
    big.write_bytes(png_bytes() + b"\x00" * 11 * 1024 * 1024)
    with pytest.raises(UserError, match="too big"):
        registry.dispatch(session, f"/image {big}")
    with pytest.raises(UserError, match="is a device"):
        registry.dispatch(session, "/image /dev/zero")
    assert session.chat.attachments == []
