"""/usage, /compact, /thinking, /web, /balance: what Moonshot's API offers beyond plain chat."""

from __future__ import annotations

from kimi_repl.chat import ChatSession
from kimi_repl.commands.registry import CommandError, CommandRegistry
from kimi_repl.conversation import Usage
from kimi_repl.planner import session_usage, short_tokens
from kimi_repl.profile import Thinking
from kimi_repl.values import parse_on_off

BALANCE_PARTS = (("voucher_balance", "voucher"), ("cash_balance", "cash"))


def currency(base_url: str) -> str:
    """CNY on the China platform (and by default), USD on the international one."""
    from urllib.parse import urlparse

    host = urlparse(base_url).hostname or ""
    return "USD" if host == "moonshot.ai" or host.endswith(".moonshot.ai") else "CNY"


def register(registry: CommandRegistry) -> None:
    cmd = registry.command

    @cmd("usage", "Show the tokens this session used, and how full the context is.")
    def usage(session: ChatSession, argument: str) -> None:
        conversation = session.conversation
        total, replies = session_usage(conversation.turns)
        if not replies:
            session.display.info("No usage reported yet.")
            return
        rows = [
            ("replies", str(replies)),
            ("prompt tokens", f"{total.prompt:,}"),
            ("cached prompt tokens", f"{total.cached:,}"),
            ("completion tokens", f"{total.completion:,}"),
            ("reasoning tokens", f"{total.reasoning:,} (part of the completion)"),
            ("web searches", str(sum(len(turn.searches) for turn in conversation.turns))),
        ]
        last = next((t for t in reversed(conversation.turns) if t.usage), None)
        window = session.window()
        if last is not None:
            used = last.usage or Usage()
            of = f" of {short_tokens(window)} ({100 * used.total / window:.0f}%)" if window else ""
            rows.append(("context at the last reply", f"{short_tokens(used.total)}{of} for {conversation.model}"))
        if conversation.context_start:
            rows.append(("compacted (/compact off)", f"the {conversation.context_start} oldest turns"))
        if session.sent_from > conversation.context_start:
            rows.append(("left out of the last request", f"the {session.sent_from} oldest turns (to fit the window)"))
        rows.append(("reply budget", f"up to {session.settings.max_tokens:,} tokens, as the window allows"))
        session.display.rows(rows, title="Usage this session")

    @cmd(
        "compact",
        "Stop sending the oldest turns, so the conversation uses at most half the window; 'off' sends them again.",
        usage="[off]",
        arguments=lambda session, argument: ["off"],
    )
    def compact(session: ChatSession, argument: str) -> None:
        conversation = session.conversation
        if argument == "off":
            count = session.uncompact()
            session.display.info(
                f"The {count} oldest turns are sent again, as far as the window allows."
                if count
                else "Nothing is compacted."
            )
            return
        if argument:
            raise CommandError(f"/compact takes nothing or 'off', not {argument!r}.")
        profile = session.profile()
        window = profile.window
        if window is None:
            raise CommandError(
                f"The context window of {profile.id} is unknown, so there is nothing to measure against."
            )
        planned = session.plan(profile, target=window // 2)
        if planned.start <= conversation.context_start:
            session.display.info(
                f"Nothing to drop: about {short_tokens(planned.tokens)} of {short_tokens(window)} tokens in use."
            )
            return
        session.compact(planned.start)
        session.display.info(
            f"The {planned.start} oldest turns are not sent any more (/history still shows them; /compact off sends "
            f"them again); about {short_tokens(planned.tokens)} of {short_tokens(window)} tokens in use."
        )

    @cmd(
        "thinking",
        "Turn the model's thinking on or off; show or hide its reasoning on screen.",
        usage="[on|off|show|hide]",
        arguments=lambda session, argument: ["on", "off", "show", "hide"],
    )
    def thinking(session: ChatSession, argument: str) -> None:
        display = session.display
        if argument in ("show", "hide"):
            display.show_thinking = argument == "show"
            last = session.conversation.last_reply
            if argument == "show" and last is not None and last.reasoning_content:
                display.note(f"The last reply's reasoning ({last.model or 'the model'}):")
                display.text(last.reasoning_content)
        elif argument:
            try:
                on = parse_on_off(argument, "/thinking")
            except ValueError as error:
                raise CommandError(f"{error} (or show, hide).") from None
            profile = session.profile()
            if profile.thinking is Thinking.SWITCHABLE:
                session.set_thinking(on)
            elif profile.thinking is Thinking.ALWAYS:
                raise CommandError(f"{profile.id} always thinks: it cannot be switched off. Nothing changed.")
            elif profile.known:
                raise CommandError(f"{profile.id} does not think: there is nothing to switch. Nothing changed.")
            else:
                raise CommandError(f"{profile.id} is not a model kimi-repl knows can switch thinking. Nothing changed.")
        state = session.profile().thinking_state(session.conversation.thinking)
        shown = "shown in full" if display.show_thinking else "collapsed to one line"
        display.info(f"Thinking: {state} for {session.model}; reasoning is {shown} (always kept in the transcript).")

    @cmd(
        "web",
        "Let the model search the web (Moonshot's $web_search, billed per search), or stop it.",
        usage="[on|off]",
        arguments=lambda session, argument: ["on", "off"],
    )
    def web(session: ChatSession, argument: str) -> None:
        if argument:
            try:
                session.set_web(parse_on_off(argument, "/web"))
            except ValueError as error:
                raise CommandError(f"{error}.") from None
        if session.conversation.web:
            session.display.info(
                "Web search: on. The model searches when it needs to (about ¥0.03 / $0.005 a search, plus the "
                "results as input); each search shows as a dim line."
            )
        else:
            session.display.info("Web search: off. /web on lets the model search.")

    @cmd("balance", "Show your Moonshot account balance.")
    def balance(session: ChatSession, argument: str) -> None:
        with session.display.working("Asking Moonshot for your balance…"):
            amounts = session.client.balance()
        unit = currency(session.settings.base_url)
        available = amounts.get("available_balance")
        text = f"Balance: {available:.2f} {unit} available" if available is not None else f"Balance in {unit}"
        parts = [f"{name} {amounts[key]:.2f}" for key, name in BALANCE_PARTS if key in amounts]
        if parts:
            text += f" ({', '.join(parts)})"
        if available is not None and available <= 0:
            site = "platform.moonshot.ai" if unit == "USD" else "platform.moonshot.cn"
            text += f". Top up at https://{site} before the next request."
        session.display.info(text)
