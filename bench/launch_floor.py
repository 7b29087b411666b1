"""The launch floor: a bare prompt loop that sends what is typed through the openai SDK and shows the reply.

From launch to the first words of a reply to a message typed at once: prompt_toolkit draws a prompt and
reads the line, the openai SDK (imported once the line is in, as a client that starts fast would) streams the
reply, and each piece is printed as it comes, the first once rich's markdown has drawn it (off screen: what a
client that shows markdown must load first). No client that must load all three can show the first words sooner.
"""

from __future__ import annotations

import argparse
import io
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    args = parser.parse_args()
    from prompt_toolkit import PromptSession

    line = PromptSession[str]().prompt("› ")
    from openai import OpenAI

    client = OpenAI(api_key="sk-bench", base_url=args.base_url, max_retries=0)
    stream = client.chat.completions.create(
        model="kimi-k2.6",
        messages=[{"role": "user", "content": line}],
        stream=True,
        extra_body={"thinking": {"type": "disabled"}},
    )
    first = True
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content and first:  # the renderer loaded and used once, as the first words are drawn
                from rich.console import Console
                from rich.markdown import Markdown

                Console(file=io.StringIO(), force_terminal=True).print(Markdown(choice.delta.content))
                first = False
            if choice.delta.content:
                sys.stdout.write(choice.delta.content)
                sys.stdout.flush()


if __name__ == "__main__":
    main()
