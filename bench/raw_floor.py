"""The raw floor: what a plain-text client pays to show a streamed reply, and no client pays less.

The standard library sends the request and reads the server-sent events; each event is parsed with
``json.loads`` and its text written to the terminal at once. It waits for Enter on standard input (as a
person would start a request), then writes its CPU seconds for the request to ``--report``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from urllib.parse import urlsplit


def ask(base_url: str, message: str, out: object) -> None:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80)
    request = {"model": "kimi-k2.6", "messages": [{"role": "user", "content": message}], "stream": True}
    request["thinking"] = {"type": "disabled"}  # as kimi-repl is run (--thinking off): the same reply
    body = json.dumps(request)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    connection.request("POST", parts.path + "/chat/completions", body=body, headers=headers)
    response = connection.getresponse()
    write = sys.stdout.write
    flush = sys.stdout.flush
    for raw in response:
        if not raw.startswith(b"data:"):
            continue
        data = raw[5:].strip()
        if data == b"[DONE]":
            break
        for choice in json.loads(data).get("choices") or ():
            text = (choice.get("delta") or {}).get("content")
            if text:
                write(text)
                flush()
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--message", required=True)
    parser.add_argument("--report", required=True)
    args = parser.parse_args()
    sys.stdin.readline()  # Enter
    cpu = time.process_time()
    ask(args.base_url, args.message, sys.stdout)
    with open(args.report, "w") as report:
        json.dump({"cpu": time.process_time() - cpu}, report)


if __name__ == "__main__":
    main()
