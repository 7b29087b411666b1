"""What the user attached: pictures and shell commands' output for the next message, documents sent before
every message.

Each is checked against the model it will go to (pictures need a model that takes them; a document must fit
its window), and refused as data (:class:`Refused`) when it cannot go.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from kimi_repl.catalog import Catalog
from kimi_repl.chat.autosave import Autosave
from kimi_repl.chat.outcomes import DocumentTooBig, NoPictures, PicturesTooBig, Refused, SameDocument
from kimi_repl.client import MoonshotClient
from kimi_repl.client.files import Progress, ProgressCallback
from kimi_repl.conversation import Conversation, Image, Output
from kimi_repl.documents import Loaded, load_document
from kimi_repl.extracts import ExtractCache
from kimi_repl.images import EXTENSIONS, image_from_bytes, read_image
from kimi_repl.planner import document_tokens, reply_reserve
from kimi_repl.safefiles import NotPrivate

_PASTED = re.compile(r"clipboard-(\d{1,9})\.\w+")
"""The name of a picture pasted from the clipboard."""

MAX_PICTURES_BYTES = 20 * 1024 * 1024
"""Pictures one message may carry: they go again with every later message (and are kept in its record)."""


def _no_progress(progress: Progress) -> None:
    pass


class Attached:
    """The pictures waiting for the next message, and the way documents join a conversation.

    Attributes:
        pictures: pictures to send with the next message (cleared, in place, once sent).
    """

    def __init__(self, client: MoonshotClient, catalog: Catalog, autosave: Autosave) -> None:
        self.client = client
        self.catalog = catalog
        self.autosave = autosave
        self.pictures: list[Image] = []
        self.extracts: ExtractCache | None = None
        """Documents' extracted text by file hash (the user's cache folder, opened on first use)."""
        self._cache_tried = False

    def refusal(self, model: str, *, sending: bool = False) -> NoPictures | None:
        """Why pictures cannot go to ``model`` (it takes none), or None."""
        if self.catalog.profile(model).images:
            return None
        return NoPictures(model, self.catalog.taking_pictures(model), sending)

    def picture(self, path: Path, model: str) -> Image:
        """Read a picture to send to ``model`` with the next message.

        Raises:
            ImageError: the file is not a picture that can be sent.
            Refused: the model takes none, or the pictures would be too many bytes.
        """
        return self._attach(model, lambda: read_image(path))

    def pasted(self, data: bytes, model: str, conversation: Conversation) -> Image:
        """Attach the clipboard's picture ``data`` for ``model``, named ``clipboard-N.png`` (N: one more than
        any pasted picture of ``conversation`` or of the next message has).

        Raises:
            ImageError: ``data`` is not a picture that can be sent.
            Refused: as for :meth:`picture`.
        """
        pictures = [*(i for turn in conversation.turns for i in turn.images), *self.pictures]
        numbers = [int(found.group(1)) for i in pictures if (found := _PASTED.fullmatch(i.name))]
        number = max(numbers, default=0) + 1

        def read() -> Image:
            image = image_from_bytes(data, "", source="The clipboard's picture")
            image.name = f"clipboard-{number}.{EXTENSIONS[image.mime]}"
            return image

        return self._attach(model, read)

    def _attach(self, model: str, read: Callable[[], Image]) -> Image:
        """Check ``model`` takes pictures, ``read`` one, check the next message's pictures stay within bounds,
        and add it to them."""
        refusal = self.refusal(model)
        if refusal is not None:
            raise Refused(refusal)
        image = read()
        if sum(picture.size for picture in self.pictures) + image.size > MAX_PICTURES_BYTES:
            raise Refused(PicturesTooBig(image.name, MAX_PICTURES_BYTES))
        self.pictures.append(image)
        return image

    def extract_cache(self) -> tuple[ExtractCache | None, str | None]:
        """The cache of extracted texts (opened on first use), and why it cannot be used, the first time only."""
        if self.extracts is None and not self._cache_tried:
            self._cache_tried = True
            try:
                self.extracts = ExtractCache.default()
            except NotPrivate as error:
                return None, str(error)
            except OSError as error:
                return None, f"the document cache cannot be used ({error.strerror or error})"
        return self.extracts, None

    def document(self, conversation: Conversation, path: Path, progress: ProgressCallback = _no_progress) -> Loaded:
        """Read ``path`` (its extracted text from the cache, or uploaded for extraction if it is not plain text)
        and add it to ``conversation``.

        Raises:
            DocumentError: the file cannot be used.
            Refused: it is attached already, or too big for the model's window.
            Stopped: Ctrl-C stopped the upload (nothing was added).
        """
        cache, problem = self.extract_cache()
        loaded = load_document(path, self.client, cache=cache, progress=progress)
        if problem:
            loaded = replace(loaded, cache_problem=problem)
        document = loaded.document
        if any((d.name, d.content) == (document.name, document.content) for d in conversation.documents):
            raise Refused(SameDocument(path.name))
        window, tokens = self.catalog.profile(conversation.model).window, document_tokens(document)
        if window is not None and tokens > window - reply_reserve(window):
            raise Refused(DocumentTooBig(path.name, tokens, conversation.model, window))
        document.turn = len(conversation.turns)
        conversation.documents.append(document)
        self.autosave.record(lambda log: log.document(document))
        return loaded

    def forget_documents(self, conversation: Conversation) -> int:
        """Remove every document of ``conversation``; return how many there were."""
        count = len(conversation.documents)
        conversation.documents.clear()
        if count:
            self.autosave.record(lambda log: log.documents_cleared())
        return count

    def output(self, conversation: Conversation, output: Output) -> None:
        """Attach a shell command's ``output`` to the next message of ``conversation`` (saved as it waits)."""
        conversation.outputs.append(output)
        self.autosave.record(lambda log: log.output(output))

    def forget_outputs(self, conversation: Conversation) -> int:
        """Drop the shell output waiting for the next message; return how many commands' there were."""
        count = len(conversation.outputs)
        conversation.outputs.clear()
        if count:
            self.autosave.record(lambda log: log.outputs_cleared())
        return count
