"""The fake's HTTP handler: chat completions (SSE), models, files, balance, token estimates, as Moonshot answers
them.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from tests.fake import files
from tests.fake.lineups import ERRORS, FakeModel, estimate_tokens
from tests.fake.scripts import Script

if TYPE_CHECKING:
    from tests.fake.server import FakeMoonshot


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class _Reply:
    """What one chat request is answered with, after the budget was applied."""

    model: str
    text: str
    reasoning: str
    prompt_tokens: int
    finish: str
    script: Script
    details: bool  # report completion_tokens_details (today's API)
    cached: int = 0  # prompt tokens the prompt cache served (the messages an earlier request shared)


def _cost(ch: str) -> float:
    return 1.0 if ord(ch) > 0x2E80 else 0.25


def within_budget(reasoning: str, text: str, budget: int) -> tuple[str, str, bool]:
    """Reasoning then text, cut where ``budget`` tokens run out (reasoning spends the budget first).

    Returns:
        What is sent of each, and whether the budget cut it.
    """
    total = estimate_tokens([{"content": reasoning}]) + estimate_tokens([{"content": text}]) - 8
    if total <= budget:
        return reasoning, text, False
    used = 0.0
    for index, ch in enumerate(reasoning):
        used += _cost(ch)
        if used > budget:
            return reasoning[:index], "", True
    for index, ch in enumerate(text):
        used += _cost(ch)
        if used > budget:
            return reasoning, text[:index], True
    return reasoning, text, False


def _handler_for(server: FakeMoonshot) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        fake = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    fake: FakeMoonshot
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def handle(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client went away (Ctrl-C)
            super().handle()

    # -- plumbing -------------------------------------------------------------------------------
    def _record(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake.requests.append(Recorded(self.command, self.path, headers, body))

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if "json" not in (self.headers.get("Content-Type") or "json"):
            return raw
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def _send_json(self, status: int, payload: Any, extra_headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-trace-id", uuid.uuid4().hex[:16])
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_bytes(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _raw(self, script: Script) -> None:
        """Answer with the script's own bytes (chunked, in pieces), then keep-alive comments if it asks."""
        self.send_response(script.status or 200)
        self.send_header("Content-Type", script.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for key, value in (script.headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        body = script.body or b""
        step = script.piece_bytes or max(1, len(body))
        try:
            for at in range(0, len(body), step):
                self._write_chunk(body[at : at + step])
                if script.delay:
                    time.sleep(script.delay)
            while script.pings:
                time.sleep(script.pings)
                self._write_chunk(b": ping\n\n")
            self._end_body()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _error(
        self,
        status: int,
        error_type: str | None = None,
        message: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        default_type, default_message = ERRORS.get(status, ("server_error", "error"))
        headers = {"retry-after-ms": str(self.fake.retry_after_ms)} if status in (429, 503) and not extra else {}
        headers.update(extra or {})
        body = {"error": {"message": message or default_message, "type": error_type or default_type}}
        self._send_json(status, body, headers)

    def _authorized(self) -> bool:
        if self.fake.api_key is None:
            return True
        if self.headers.get("Authorization") == f"Bearer {self.fake.api_key}":
            return True
        self._error(401)
        return False

    # -- routes ---------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._record(None)
        time.sleep(self.fake.get_delay)
        if not self._authorized():
            return
        if self.fake.get_script is not None:
            return self._raw(self.fake.get_script)
        if self.path.rstrip("/") == "/v1/models":
            if self.fake.models_status is not None:
                return self._error(self.fake.models_status)
            if self.fake.models_body is not None:
                return self._send_bytes(200, self.fake.models_body, "application/json")
            data = []
            for name, model in self.fake.models.items():
                entry: dict[str, Any] = {
                    "id": name,
                    "object": "model",
                    "created": 1711000000,
                    "owned_by": "moonshot",
                }
                if self.fake.capabilities:
                    entry.update(
                        context_length=model.window,
                        supports_reasoning=model.thinking != "never",
                        supports_image_in=model.images,
                        supports_video_in=model.video,
                    )
                data.append(entry)
            self._send_json(200, {"object": "list", "data": data})
        elif self.path == "/v1/users/me/balance":
            self._send_json(200, {"code": 0, "data": self.fake.balance, "scode": "0x0", "status": True})
        elif files.route(self, "GET"):
            return
        else:
            self._error(404, "resource_not_found_error", f"Not found: {self.path}")

    def do_POST(self) -> None:
        body = self._read_json()
        self._record(body)
        if not self._authorized():
            return
        if self.path == "/v1/chat/completions" and isinstance(body, dict):
            try:
                self._chat(body)
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as error:  # a bug here must show in the tests, not hang the client
                self.fake.errors.append(repr(error))
                raise
        elif self.path == "/v1/tokenizers/estimate-token-count" and isinstance(body, dict):
            if self.fake.estimate_status is not None:
                return self._error(self.fake.estimate_status)
            self._send_json(200, {"data": {"total_tokens": estimate_tokens(body.get("messages") or [])}})
        elif files.route(self, "POST", body):
            return
        else:
            self._error(404, "resource_not_found_error", f"Not found: {self.path}")

    def do_DELETE(self) -> None:
        self._record(None)
        if not self._authorized():
            return
        if not files.route(self, "DELETE"):
            self._error(404, "resource_not_found_error", f"Not found: {self.path}")

    def _chat(self, body: dict[str, Any]) -> None:
        fake = self.fake
        model = str(body.get("model"))
        messages = body.get("messages") or []
        served = fake.models.get(model)
        if served is None:
            return self._error(404, message=f"Not found the model {model} or Permission denied")
        refusal = self._refusal(body, served)
        if refusal:
            fake.refused.append(refusal)
            return self._error(400, message=refusal)
        thinks = served.thinking == "always" or (
            served.thinking == "switchable" and (body.get("thinking") or {}).get("type") != "disabled"
        )
        budget = body.get("max_completion_tokens", body.get("max_tokens", fake.default_budget))
        searched = _searches_since_the_question(messages)
        prompt_tokens = estimate_tokens(messages) + searched * fake.search_result_tokens
        needed = prompt_tokens + ((budget or 0) if fake.budget_counts_input else 0)
        if needed > served.window or prompt_tokens >= served.window:
            fake.refused.append(f"too long for {model}: {prompt_tokens} + {budget}")
            return self._error(
                400, message=f"Invalid request: Your request exceeded model token limit: {served.window}"
            )
        if _offers_web_search(body) and searched < fake.search_rounds:
            return self._search(model, messages, prompt_tokens, thinks)
        script = fake.next_script(body)
        time.sleep(script.first_byte_delay)
        if script.body is not None or script.pings:
            return self._raw(script)
        if script.status is not None and script.headers and script.status < 400:
            return self._send_bytes(script.status, b"", "text/plain", script.headers)
        if script.status is not None:
            return self._error(script.status, script.error_type, script.message, script.headers)
        reasoning = (script.reasoning or "Thinking it over. " * 4) if thinks else ""
        text = script.text if script.text is not None else ""
        finish = script.finish_reason
        if budget is not None and script.budget_applies:
            whole = text
            reasoning, text, cut = within_budget(reasoning, text, budget)
            if cut:
                finish = "length"
                last = messages[-1] if messages else {}
                so_far = str(last.get("content")) if last.get("partial") else ""
                fake.remainders[so_far + text] = whole[len(text) :]
        cached = fake.prompt_cache(body, messages) if fake.capabilities else 0
        reply = _Reply(model, text, reasoning, prompt_tokens, finish, script, details=fake.capabilities, cached=cached)
        if not body.get("stream"):
            return self._complete(reply)
        self._stream(reply)

    def _refusal(self, body: dict[str, Any], served: FakeModel) -> str | None:
        """Moonshot's message for a request it refuses before answering, or None."""
        fake = self.fake
        model = body.get("model")
        if "max_completion_tokens" in body and not fake.accepts_max_completion_tokens:
            return "Unrecognized request argument supplied: max_completion_tokens"
        if "prompt_cache_key" in body and not fake.accepts_cache_key:
            return "Unrecognized request argument supplied: prompt_cache_key"
        for name in ("max_completion_tokens", "max_tokens"):
            value = body.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                return f"Invalid request: {name} must be a positive integer"
        thinking = body.get("thinking")
        if thinking is not None:
            kind = thinking.get("type") if isinstance(thinking, dict) else None
            if kind not in ("enabled", "disabled"):
                return f"Invalid request: thinking.type must be enabled or disabled, not {kind!r}"
            if served.thinking == "never":
                return f"Invalid request: {model} does not support thinking"
            if served.thinking == "always" and kind == "disabled":
                return f"Invalid request: {model} does not support non-thinking mode"
        messages = body.get("messages") or []
        thinks = served.thinking == "always" or (
            served.thinking == "switchable" and (thinking or {}).get("type") != "disabled"
        )
        if _offers_web_search(body) and thinks and fake.search_refuses_thinking:
            return "Invalid request: the builtin $web_search cannot be used while thinking is enabled"
        for message in messages:
            if not message.get("content") and not message.get("tool_calls"):
                return "Invalid request: message content must not be empty"
            if message.get("tool_calls") and thinks and not message.get("reasoning_content"):
                return "Invalid request: reasoning_content is required for assistant messages with tool_calls"
            parts = message.get("content") if isinstance(message.get("content"), list) else []
            if not served.images and any(isinstance(p, dict) and p.get("type") == "image_url" for p in parts):
                return f"Invalid request: {model} does not support image input"
        if messages and messages[-1].get("partial") and messages[-1].get("role") != "assistant":
            return "Invalid request: only the last assistant message can be partial"
        temperature = body.get("temperature")
        if temperature is not None and (not isinstance(temperature, (int, float)) or not 0 <= temperature <= 1):
            return f"Invalid request: temperature {temperature} out of range [0, 1]"
        if served.fixed is not None:
            switched_off = (thinking or {}).get("type") == "disabled"
            fixed = {"temperature": served.fixed[0 if switched_off else 1], "top_p": 0.95, "n": 1}
            fixed.update(presence_penalty=0, frequency_penalty=0)
            for name, value in fixed.items():
                if body.get(name) is not None and body[name] != value:
                    return f"invalid {name}: only {value:g} is allowed for this model"
        return None

    def _search(self, model: str, messages: list[dict[str, Any]], prompt_tokens: int, thinks: bool) -> None:
        """Answer with a ``$web_search`` call, streamed in pieces, as Moonshot does before it searches."""
        question = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        arguments = json.dumps(
            {
                "search_result": {"search_id": f"search-{uuid.uuid4().hex[:8]}"},
                "usage": {"total_tokens": self.fake.search_result_tokens},
                "query": question[:60],
            },
            ensure_ascii=False,
        )
        call_id = f"call_{uuid.uuid4().hex[:8]}"
        reasoning = "I should look this up. " if thinks else ""
        pieces: list[dict[str, Any]] = [
            {
                "index": 0,
                "id": call_id,
                "type": "builtin_function",
                "function": {"name": "$web_search", "arguments": ""},
            }
        ]
        third = max(1, len(arguments) // 3)
        pieces += [
            {"index": 0, "function": {"arguments": arguments[i : i + third]}} for i in range(0, len(arguments), third)
        ]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion.chunk", "model": model}
        if reasoning:
            self._event({**base, "choices": [{"index": 0, "delta": {"reasoning_content": reasoning}}]})
        for piece in pieces:
            self._event({**base, "choices": [{"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": None}]})
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 20, "total_tokens": prompt_tokens + 20}
        self._event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls", "usage": usage}]})
        self._write_chunk(b"data: [DONE]\n\n")
        self._end_body()

    def _usage(self, reply: _Reply) -> dict[str, Any]:
        completion = estimate_tokens([{"content": reply.text}]) + (
            estimate_tokens([{"content": reply.reasoning}]) if reply.reasoning else 0
        )
        usage: dict[str, Any] = {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": reply.prompt_tokens + completion,
        }
        cached = reply.script.cached_tokens or reply.cached
        if cached and reply.script.cached_style == "details":
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        elif cached:
            usage["cached_tokens"] = cached
        if reply.reasoning and reply.details:
            usage["completion_tokens_details"] = {"reasoning_tokens": estimate_tokens([{"content": reply.reasoning}])}
        return usage

    def _complete(self, reply: _Reply) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        self._send_json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": reply.model,
                "choices": [{"index": 0, "message": message, "finish_reason": reply.finish}],
                "usage": self._usage(reply),
            },
        )

    def _stream(self, reply: _Reply) -> None:
        script = reply.script
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-trace-id", uuid.uuid4().hex[:16])
        self.end_headers()
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:8]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": reply.model,
        }

        def chunk(
            delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None
        ) -> dict[str, Any]:
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
            if usage is not None:
                choice["usage"] = usage
            return {**base, "choices": [choice]}

        def pieces(s: str) -> list[str]:
            step = max(1, script.chunk_chars)
            return [s[i : i + step] for i in range(0, len(s), step)]

        try:
            self._event(chunk({"role": "assistant", "content": ""}))
            for piece in pieces(reply.reasoning):
                self._event(chunk({"reasoning_content": piece}))
                if script.delay:
                    time.sleep(script.delay)
            for count, piece in enumerate(pieces(reply.text), start=1):
                self._event(chunk({"content": piece}))
                if script.error_after is not None and count >= script.error_after:
                    self._event({"error": {"message": "The engine is currently overloaded", "type": "server_error"}})
                    self._end_body()
                    return
                if script.cut_after is not None and count >= script.cut_after:
                    if script.abrupt:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self._end_body()
                    return
                if script.delay:
                    time.sleep(script.delay)
            usage = self._usage(reply)
            in_choice = usage if script.usage_style in ("choice", "both") else None
            self._event(chunk({}, reply.finish, in_choice))
            if script.usage_style in ("top", "both"):
                self._event({**base, "choices": [], "usage": usage})
            self._write_chunk(b"data: [DONE]\n\n")
            self._end_body()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (Ctrl-C): nothing to do

    def _event(self, payload: dict[str, Any]) -> None:
        self._write_chunk(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_body(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _text_of(content: Any) -> str:
    """A message's text; a list of parts as its text and how many pictures came with it."""
    if not isinstance(content, list):
        return str(content or "")
    text = " ".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    pictures = sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")
    return f"{text} [{pictures} picture{'s' if pictures != 1 else ''}]" if pictures else text


def _offers_web_search(body: dict[str, Any]) -> bool:
    tools = body.get("tools") or []
    return any(isinstance(t, dict) and (t.get("function") or {}).get("name") == "$web_search" for t in tools)


def _searches_since_the_question(messages: list[dict[str, Any]]) -> int:
    """Tool messages after the last user message: searches already answered for this question."""
    count = 0
    for message in reversed(messages):
        if message.get("role") == "user":
            break
        count += message.get("role") == "tool"
    return count
