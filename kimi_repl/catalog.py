"""The model catalog: which models the server offers, what each accepts, and the default choice.

``GET /models`` is asked once (by the client) and the built-in table fills in the rest (:mod:`kimi_repl.profile`).
When no model was configured, the default comes from the server's list; that choice and any choice the user
makes meanwhile (the list arrives on a background thread) are taken under one lock, so the later one wins.
Everything here returns data: the sentences are the narrator's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol

from kimi_repl.client import ChatError
from kimi_repl.interrupts import held
from kimi_repl.prices import PriceBook
from kimi_repl.profile import BUILT_IN, PREFERRED_MODELS, ModelProfile, built_in, choose_default, closest, profile_for


class ModelSource(Protocol):
    """What the catalog needs of the client."""

    @property
    def models_fetched(self) -> bool: ...

    def list_models(self, *, retry_failed: bool = True) -> list[dict[str, Any]]: ...

    def model_entry(self, model: str) -> dict[str, Any] | None: ...


class DefaultChosen(NamedTuple):
    """The server does not offer the built-in default: ``chosen`` replaced ``previous``."""

    previous: str
    chosen: str


class Catalog:
    """The models one session can use.

    Args:
        from_server: no model was configured: the default is to be chosen from the server's list.
        prices: what the models cost on this platform (none known without it).
    """

    def __init__(self, client: ModelSource, *, from_server: bool, prices: PriceBook | None = None) -> None:
        self.client = client
        self.from_server = from_server
        self.prices = prices or PriceBook("")
        self._lock = threading.Lock()  # taken only while held: an interrupt never leaves it taken

    def listed(self) -> list[str] | None:
        """The ids ``GET /models`` lists (fetched once), or None when the server cannot say."""
        try:
            return [str(entry["id"]) for entry in self.client.list_models(retry_failed=False)]
        except ChatError:
            return None

    def profile(self, model: str, *, fetch: bool = True) -> ModelProfile:
        """What ``model`` accepts: ``GET /models`` first, the built-in table next.

        Args:
            fetch: a model the table does not know is worth one fetch of ``GET /models`` (made once per
                session); False answers at once with what is known.
        """
        if fetch and not self.client.models_fetched and built_in(model) is None:
            self.listed()
        return profile_for(model, self.client.model_entry(model))._replace(price=self.prices.price(model))

    @contextmanager
    def choosing(self) -> Iterator[None]:
        """Around a model chosen by the user (or a conversation from a file): the server's default no longer
        applies, and a default being chosen meanwhile waits or gives way."""
        with held(), self._lock:
            self.from_server = False
            yield

    def resolve_default(self, current: Callable[[], str], switch: Callable[[str], None]) -> DefaultChosen | None:
        """Choose the default model from the server's list, if no model was configured (once).

        Args:
            current: the model in force (read under the lock).
            switch: puts the chosen model in force (called under the lock).

        Returns:
            The change, when the server's choice differs from the built-in default; else None.
        """
        if not self.from_server:
            return None
        listed = self.listed()
        with held(), self._lock:
            if not self.from_server:  # the user chose one meanwhile
                return None
            self.from_server = False
            if not listed:
                return None
            chosen, previous = choose_default(listed), current()
            if chosen == previous:
                return None
            switch(chosen)
        return DefaultChosen(previous, chosen)

    def unlisted(self, model: str) -> bool:
        """Whether the server lists models and ``model`` is not one of them."""
        listed = self.listed()
        return bool(listed) and model not in (listed or ())

    def nearest(self, name: str) -> list[str] | None:
        """The listed models, the closest to ``name`` first (a few); None when the server cannot say."""
        listed = self.listed()
        return closest(name, listed) if listed else None

    def names(self) -> list[str]:
        """The listed models, else the built-in ones: sorted, unique."""
        listed = self.listed()
        return sorted(set(listed) if listed else set(BUILT_IN))

    def taking_pictures(self, near: str) -> str | None:
        """The model closest to ``near`` that takes pictures (from the list, else the preferred ones), or None."""
        listed = self.listed() or list(PREFERRED_MODELS)
        ranked = closest(near, listed, limit=len(listed))
        return next((model for model in ranked if self.profile(model, fetch=False).images), None)
