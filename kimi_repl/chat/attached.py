"""What the user attached: pictures and shell commands' output for the next message, documents sent before
every message.

Each is checked against the model it will go to (pictures need a model that takes them; a document must fit
its window), and refused as data (:class:`Refused`) when it cannot go.
"""

from __future__ import annotations

from pathlib import Path

from kimi_repl.catalog import Catalog
from kimi_repl.chat.autosave import Autosave
from kimi_repl.chat.outcomes import DocumentTooBig, NoPictures, PicturesTooBig, Refused, SameDocument
from kimi_repl.client import MoonshotClient
from kimi_repl.conversation import Conversation, Document, Image, Output
from kimi_repl.documents import load_document
from kimi_repl.images import read_image
from kimi_repl.planner import document_tokens, reply_reserve

MAX_PICTURES_BYTES = 20 * 1024 * 1024
"""Pictures one message may carry: they go again with every later message (and are kept in its record)."""


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
        refusal = self.refusal(model)
        if refusal is not None:
            raise Refused(refusal)
        image = read_image(path)
        if sum(picture.size for picture in self.pictures) + image.size > MAX_PICTURES_BYTES:
            raise Refused(PicturesTooBig(path.name, MAX_PICTURES_BYTES))
        self.pictures.append(image)
        return image

    def document(self, conversation: Conversation, path: Path) -> Document:
        """Read ``path`` (uploading it for extraction if it is not plain text) and add it to ``conversation``.

        Raises:
            DocumentError: the file cannot be used.
            Refused: it is attached already, or too big for the model's window.
        """
        document = load_document(path, self.client)
        if any((d.name, d.content) == (document.name, document.content) for d in conversation.documents):
            raise Refused(SameDocument(path.name))
        window, tokens = self.catalog.profile(conversation.model).window, document_tokens(document)
        if window is not None and tokens > window - reply_reserve(window):
            raise Refused(DocumentTooBig(path.name, tokens, conversation.model, window))
        conversation.documents.append(document)
        self.autosave.record(lambda log: log.document(document))
        return document

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
