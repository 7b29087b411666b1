"""The streaming floor: the bare openai SDK reading the same reply kimi-repl renders.

Prints one JSON line: wall and CPU seconds from sending the request to the end of the stream, after a
warm-up request on the same client (kimi-repl is measured after a warm-up message too).
"""

import argparse
import json
import time

from openai import OpenAI


def read(client: OpenAI, message: str) -> int:
    stream = client.chat.completions.create(
        model="kimi-k2.6", messages=[{"role": "user", "content": message}], stream=True
    )
    size = 0
    for chunk in stream:
        for choice in chunk.choices:
            size += len(choice.delta.content or "")
    return size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--message", required=True)
    args = parser.parse_args()
    client = OpenAI(api_key="sk-bench", base_url=args.base_url)
    read(client, "hi")
    wall, cpu = time.perf_counter(), time.process_time()
    size = read(client, args.message)
    print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "chars": size}))


if __name__ == "__main__":
    main()
