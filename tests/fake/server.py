"""The fake Moonshot server (:class:`FakeMoonshot`) and its command line."""

from __future__ import annotations

import argparse
import threading
import time
from collections import deque
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fake.handler import Recorded, _handler_for, _text_of
from tests.fake.lineups import CURRENT_MODELS, DEFAULT_BUDGET, LEGACY_MODELS, TEST_KEY, FakeModel, estimate_tokens
from tests.fake.scripts import MODELS_BODIES, Script, directive_script, hostile_models_body


class FakeMoonshot:
    """The server; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, api_key: str | None = TEST_KEY, lineup: str = "current"
    ) -> None:
        """Args:
        lineup: ``current`` (Moonshot in late 2026) or ``legacy`` (the older lineup, served the older way).
        """
        if lineup not in ("current", "legacy"):
            raise ValueError(f"unknown lineup {lineup!r}")
        current = lineup == "current"
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.errors: list[str] = []
        self.refused: list[str] = []  # chat requests refused for their shape, as Moonshot refuses them
        self.scripts: deque[Script] = deque()
        self.models: dict[str, FakeModel] = dict(CURRENT_MODELS if current else LEGACY_MODELS)
        self.capabilities = current  # /models reports context_length and supports_* (else ids only)
        self.default_budget: int | None = DEFAULT_BUDGET if current else None
        self.budget_counts_input = current  # input + budget must fit the window
        self.accepts_max_completion_tokens = current
        self.accepts_cache_key = True  # a stricter server refuses Moonshot's prompt_cache_key (tests set it)
        self.cached_prompts: dict[str, list[Any]] = {}  # the last messages sent under each prompt_cache_key
        self.directive_uses: dict[tuple[int, str], int] = {}  # how often each typed failure was applied
        self.upload_id: str | None = None  # the id every upload is answered with (None: a fresh one, as Moonshot)
        self.retry_after_ms = 20
        self.balance = {"available_balance": 49.58894, "voucher_balance": 46.58893, "cash_balance": 3.00001}
        self.files: dict[str, dict[str, Any]] = {}  # the Files API's store (tests.fake.files)
        self.files_api = current  # False: every /files route answers 404, as a server without the API does
        self.extract_delay = 0.0  # seconds before GET /files/{id}/content answers (a slow extraction)
        self.uploads: list[str] = []  # the name of every file uploaded (POST /files), in order
        self.remainders: dict[str, str] = {}  # a reply cut by its budget -> what the model had left to say
        self.estimate_status: int | None = None  # answer /tokenizers/estimate-token-count with this error
        self.models_status: int | None = None  # answer GET /models with this error
        self.models_body: bytes | None = None  # answer GET /models with these bytes (a hostile list)
        self.get_script: Script | None = None  # answer every GET with this script's raw body (a hostile server)
        self.get_delay = 0.0  # seconds before answering any GET (a slow server)
        self.search_rounds = 1  # web searches the model runs before it answers, when $web_search is offered
        self.search_result_tokens = 1_500  # what each search's results add to the next request
        self.search_refuses_thinking = False  # refuse $web_search with thinking on (reported, unconfirmed)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeMoonshot:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeMoonshot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *scripts: Script) -> None:
        """Queue scripts for the next chat requests, in order."""
        with self._lock:
            self.scripts.extend(scripts)

    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of every chat request received so far."""
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    def prompt_cache(self, body: dict[str, Any], messages: list[Any]) -> int:
        """Tokens Moonshot's prompt cache would serve: the messages this request shares, from the start, with the
        last request under the same ``prompt_cache_key`` (none without a key)."""
        key = body.get("prompt_cache_key")
        if not isinstance(key, str):
            return 0
        before = self.cached_prompts.get(key, [])
        shared = 0
        while shared < min(len(before), len(messages)) and before[shared] == messages[shared]:
            shared += 1
        self.cached_prompts[key] = list(messages)
        return estimate_tokens(messages[:shared]) if shared else 0

    def next_script(self, body: dict[str, Any]) -> Script:
        with self._lock:
            if self.scripts:
                script = self.scripts[0]
                script.times -= 1
                if script.times <= 0:
                    self.scripts.popleft()
                return script
        messages = body.get("messages") or []
        if messages and messages[-1].get("partial"):  # partial mode: go on from the reply so far
            rest = self.remainders.get(str(messages[-1].get("content")))
            return Script(text=rest if rest is not None else " …and that is the rest of the answer.")
        last_user = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        directive = directive_script(str(last_user))
        turn = sum(1 for m in messages if m.get("role") == "user")
        if directive is not None:
            with self._lock:  # a failure directive fails ``times`` times for one message, then it is answered
                key = (turn, str(last_user))
                uses = self.directive_uses[key] = self.directive_uses.get(key, 0) + 1
            if directive.status is None or uses <= directive.times:
                return directive
        return Script(text=f"Echo {turn}: {last_user}")


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Moonshot API server for trying kimi-repl.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--key", default=TEST_KEY, help="the API key it accepts ('' accepts any)")
    parser.add_argument(
        "--lineup", choices=("current", "legacy"), default="current", help="today's Moonshot, or the older one"
    )
    parser.add_argument("--get-delay", type=float, default=0.0, help="seconds before answering each GET")
    parser.add_argument("--extract-delay", type=float, default=0.0, help="seconds a document's extraction takes")
    parser.add_argument("--no-files-api", action="store_true", help="answer every /files route with 404")
    parser.add_argument(
        "--search-refuses-thinking", action="store_true", help="refuse $web_search while thinking (a 400)"
    )
    parser.add_argument(
        "--models-body",
        choices=MODELS_BODIES,
        help="answer GET /models with a hostile list: one model with a 5 MB id, or 200,000 models",
    )
    parser.add_argument("--models-scale", type=int, default=1, help="that list N times bigger")
    args = parser.parse_args()
    server = FakeMoonshot(port=args.port, api_key=args.key or None, lineup=args.lineup)
    server.get_delay = args.get_delay
    server.extract_delay = args.extract_delay
    server.files_api = server.files_api and not args.no_files_api
    if args.models_body:
        server.models_body = hostile_models_body(args.models_body, args.models_scale)
    server.search_refuses_thinking = args.search_refuses_thinking
    print(f"Fake Moonshot ({args.lineup} lineup) at {server.base_url} (key {args.key or 'any'})", flush=True)
    server.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
