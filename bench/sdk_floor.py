"""The raw floor through the openai SDK: what a plain-text client that must use the SDK pays, and none pays less.

The same as ``raw_floor.py`` (each event's JSON parsed, its text written to the terminal at once), but the
request goes through the openai SDK and its HTTP client, as kimi-repl's must: the stream's bytes are read with
``iter_raw`` (the cheapest way the SDK's client offers) and cut into lines with ``bytes.split``. It waits for
Enter, then writes its CPU seconds for the request to ``--report``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def ask(client: object, message: str) -> None:
    create = client.chat.completions.with_streaming_response.create  # type: ignore[attr-defined]
    body = {"thinking": {"type": "disabled"}}  # as kimi-repl is run (--thinking off): the same reply
    messages = [{"role": "user", "content": message}]
    write, flush = sys.stdout.write, sys.stdout.flush
    with create(model="kimi-k2.6", messages=messages, stream=True, extra_body=body) as response:
        rest = b""
        for chunk in response.http_response.iter_raw():
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    return
                for choice in json.loads(data).get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        write(text)
                        flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--message", required=True)
    parser.add_argument("--report", required=True)
    args = parser.parse_args()
    from openai import OpenAI

    client = OpenAI(api_key="sk-bench", base_url=args.base_url, max_retries=0)
    sys.stdin.readline()  # Enter
    cpu = time.process_time()
    ask(client, args.message)
    with open(args.report, "w") as report:
        json.dump({"cpu": time.process_time() - cpu}, report)


if __name__ == "__main__":
    main()
