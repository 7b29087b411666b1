"""The ``kimi-repl`` command: flags, interactive or one-shot, exit statuses.

Exit statuses: 0 success, 1 an API error in one-shot mode, 2 bad usage or configuration, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn, TypeVar

from kimi_repl import __version__
from kimi_repl.config import Settings, load_settings
from kimi_repl.errors import UserError
from kimi_repl.profile import DEFAULT_MODEL
from kimi_repl.values import check_model_name, parse_on_off, parse_reply_tokens, parse_temperature

if TYPE_CHECKING:
    from pathlib import Path

    from kimi_repl.chat import Chat
    from kimi_repl.conversation import InForce
    from kimi_repl.display import Display
    from kimi_repl.narrator import Narrator
    from kimi_repl.sessions import SessionStore

T = TypeVar("T")

PICK = "\x00pick"
"""What ``-r`` without an id stands for: no argument can hold a NUL, so no id is mistaken for it."""


def _argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse ``type`` from one of the parsers in :mod:`kimi_repl.values` (its message kept)."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kimi-repl",
        description="Chat with Moonshot's Kimi models in the terminal.",
        epilog=(
            "Environment: MOONSHOT_API_KEY (or KIMI_API_KEY), MOONSHOT_BASE_URL, MOONSHOT_MODEL, "
            "MOONSHOT_THINKING, MOONSHOT_MAX_TOKENS, MOONSHOT_TIMEOUT, MOONSHOT_MAX_RETRIES; a .env file in "
            "the working directory (or above) is read too. Flags win over the environment, the environment "
            "over .env."
        ),
    )
    parser.add_argument(
        "-m",
        "--model",
        type=_argument(check_model_name),
        help=f"model to chat with (default: $MOONSHOT_MODEL, else the server's newest Kimi, {DEFAULT_MODEL} today)",
    )
    parser.add_argument(
        "-t",
        "--temperature",
        type=_argument(parse_temperature),
        help="sampling temperature, 0 to 1 (default: the model's own)",
    )
    parser.add_argument(
        "--thinking",
        type=_argument(lambda text: parse_on_off(text, "--thinking")),
        metavar="on|off",
        help="let models that can switch think before answering (default: on)",
    )
    parser.add_argument(
        "--max-tokens",
        type=_argument(lambda text: parse_reply_tokens(text, "--max-tokens")),
        metavar="N",
        help="largest reply budget in tokens, thinking included (default: $MOONSHOT_MAX_TOKENS or 32768)",
    )
    parser.add_argument("-s", "--system", help="system prompt sent first with every message")
    parser.add_argument("--role", metavar="NAME", help="take the settings of [roles.NAME] in config.toml")
    parser.add_argument(
        "--web", action="store_true", default=None, help="let the model search the web (Moonshot's $web_search)"
    )
    parser.add_argument("--base-url", help="API base URL (default: $MOONSHOT_BASE_URL or https://api.moonshot.cn/v1)")
    parser.add_argument(
        "--allow-http",
        action="store_true",
        default=None,
        help="allow a plain http:// base URL on another machine (the key then crosses the network unencrypted)",
    )
    parser.add_argument("-p", "--prompt", help="ask one question, print the reply and exit")
    parser.add_argument("words", nargs="*", metavar="QUESTION", help="the same as -p QUESTION (quote it)")
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("-c", "--continue", dest="continue_", action="store_true", help="resume the latest session")
    resume.add_argument(
        "-r",
        "--resume",
        metavar="ID",
        nargs="?",
        const=PICK,
        help="resume the session ID (see /sessions); without ID, pick it from a list",
    )
    parser.add_argument(
        "--sessions",
        nargs="*",
        metavar="WORD",
        help="list recent sessions (those that mention every WORD) and exit",
    )
    parser.add_argument("--version", action="version", version=f"kimi-repl {__version__}")
    return parser


def say(message: str) -> None:
    """One line on standard error, made safe: a message may quote a file name or a file's content, and no escape
    sequence in them may reach the terminal."""
    from kimi_repl.sanitize import one_line

    print(f"kimi-repl: {one_line(message)}", file=sys.stderr)


class UsageError(UserError):
    """The command line, or what came with it, cannot be used."""


MAX_PIPED_BYTES = 32 * 1024 * 1024
"""The most read from a pipe: more is surely a mistake (``cat /dev/zero | kimi-repl``), and no model takes it."""


def run() -> NoReturn:
    """The ``kimi-repl`` command: :func:`main`, then leave at once.

    When :func:`main` returns, everything is saved: session files are written unbuffered and synced, the input
    history and the error log are closed. What the interpreter would still do is free its modules one by one
    (a wait a person notices before the shell prompt), so standard output and error are flushed and the process
    ends there. (A usage error or ``--help`` leaves the usual way, through ``SystemExit``.)
    """
    status = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    """Run kimi-repl; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.sessions is not None:
        return _list_sessions(args.sessions)
    try:
        if args.resume is not None and not args.resume.strip():
            raise UsageError("-r needs a session id (or its number in /sessions); -c takes the latest")
        if args.resume == PICK and not _can_pick():
            raise UsageError(
                "-r without an id shows a list to pick from, which needs a terminal: give the session's id "
                "(kimi-repl --sessions lists them), or -c for the latest"
            )
        settings = load_settings(
            model=args.model,
            temperature=args.temperature,
            system=args.system,
            base_url=args.base_url,
            thinking=args.thinking,
            web=args.web,
            max_tokens=args.max_tokens,
            role=args.role,
            allow_http=args.allow_http,
        )
        question = _question(args)
        if question is None and not sys.stdout.isatty():
            raise UsageError(
                "standard output is not a terminal, so there is nowhere to chat: run kimi-repl in a terminal, or "
                "ask one question with -p TEXT (or a pipe) and the reply goes to standard output"
            )
    except UserError as error:
        say(str(error))
        return 2
    try:
        return _run(args, settings, question)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug: one line, the details in the error log, never a traceback
        from kimi_repl.errorlog import log_internal_error

        where = log_internal_error(settings.api_key)
        detail = f" (details in {where})" if where else ""
        say(f"internal error: {type(error).__name__}: {error}{detail}")
        return 1


def _run(args: argparse.Namespace, settings: Settings, question: str | None) -> int:
    from kimi_repl.chat import Chat
    from kimi_repl.config import is_loopback, sessions_dir
    from kimi_repl.display import Display
    from kimi_repl.listing import report_passed_over
    from kimi_repl.narrator import Narrator
    from kimi_repl.safefiles import NotPrivate
    from kimi_repl.sessions import SessionStore
    from kimi_repl.transcript import TranscriptError
    from kimi_repl.values import public_url

    display = Display(secret=settings.api_key)
    for note in settings.notes:
        display.warning(note)
    if question is not None and not settings.base_url_trusted:
        if not is_loopback(settings.base_url):  # nobody has seen where it goes: refuse rather than send
            say(
                f"{settings.base_url_source} points at {public_url(settings.base_url)}: a .env file (perhaps a "
                "repository's) may not send a question elsewhere unseen. Start kimi-repl without -p to see it "
                "first, or set MOONSHOT_BASE_URL in the environment, or pass --base-url."
            )
            return 2
        display.warning(f"⚠ {settings.destination()}")
    resuming = args.continue_ or args.resume is not None
    try:
        store: SessionStore | None = SessionStore(sessions_dir(), secret=settings.api_key)
    except NotPrivate as error:
        if resuming:
            say(str(error))
            return 2
        display.warning(f"⚠ Sessions are not saved: {error}.")
        store = None
    except OSError as error:
        display.warning(f"⚠ Sessions cannot be saved ({error.strerror or error}); /save still works.")
        store = None
    chat = Chat(settings, display, store=store)
    display.secret = chat.client.secret  # whatever the display shows, the key is taken out
    narrator = Narrator(display, interactive=question is None)
    chat.observers.append(narrator)
    try:
        resumed, pending = False, ""
        before: InForce | None = None  # the resumed session's settings, before the flags
        if resuming:
            try:
                if store is None:
                    raise TranscriptError("there are no saved sessions to resume")
                path: Path | None
                if args.resume == PICK:
                    path = _picked(store, display)
                    if path is None:
                        return 0  # the user left the list: nothing to do
                elif args.resume is not None:
                    path = store.find(args.resume, listing="kimi-repl --sessions")
                else:
                    listing = store.scan(1)
                    report_passed_over(display, listing.problems, "Not resumed")
                    path = listing.sessions[0].path if listing.sessions else None
                if path is not None:
                    pending = chat.resume(path)
                    resumed = True
            except UserError as error:
                say(str(error))
                return 2
            before = chat.conversation.in_force
            _apply_flags(chat, args)
        if question is not None:
            return _one_shot(chat, narrator, question, settings_before=before)
        from kimi_repl.repl import run

        return run(chat, narrator, resumed=resumed, pending=pending, asked_to_continue=args.continue_)
    finally:
        problem = chat.flush()
        if problem:
            display.error(f"{problem}: the last changes are not saved.")
        chat.close()
        if display.gone:
            _silence_stdout()


def _can_pick() -> bool:
    from kimi_repl.picker import terminal_can_draw

    return terminal_can_draw()


def _picked(store: SessionStore, display: Display) -> Path | None:
    """``-r`` without an id: the session chosen from the list, or None if the user left it.

    Raises:
        TranscriptError: there is no session to choose.
    """
    import time

    from kimi_repl.sessionpicker import SessionPicker
    from kimi_repl.transcript import TranscriptError

    sessions = SessionPicker(store, secret=display.secret)
    if not sessions.sessions:
        from kimi_repl.listing import report_passed_over

        report_passed_over(display, sessions.problems, "Not listed")
        raise TranscriptError("there are no saved sessions to resume yet")
    chosen = sessions.picker(time.time()).run()
    for line in sessions.deleted:
        display.info(line)
    return None if chosen is None else sessions.path(chosen)


def _list_sessions(words: list[str]) -> int:
    """``kimi-repl --sessions [WORDS]``: what /sessions shows, printed; 0, or 2 if the folder cannot be read."""
    from kimi_repl.config import sessions_dir
    from kimi_repl.display import Display
    from kimi_repl.listing import show_sessions
    from kimi_repl.safefiles import NotPrivate
    from kimi_repl.sessions import SessionStore

    display = Display()
    try:
        store = SessionStore(sessions_dir(), secret=_api_key())
    except NotPrivate as error:
        say(str(error))
        return 2
    except OSError as error:
        say(f"the sessions folder cannot be read: {error.strerror or error}")
        return 2
    show_sessions(display, store, words, shell=True)
    return 0


def _api_key() -> str | None:
    """The API key, if one is set: listing needs none, but a short one repairs files an older kimi-repl wrote."""
    try:
        return load_settings().api_key
    except UserError:
        return None


def _silence_stdout() -> None:
    """Standard output went away (``kimi-repl -p ... | head -1``): point it at /dev/null, so that Python's own
    flush at exit does not complain about the broken pipe."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _piped_input() -> str | None:
    """Standard input, if it is a pipe or a file (not a terminal, nor something that may never end).

    Raises:
        UsageError: it is not UTF-8 text, or too much.
    """
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return None
    if not (stat.S_ISFIFO(mode) or stat.S_ISREG(mode)):
        return None
    data = sys.stdin.buffer.read(MAX_PIPED_BYTES + 1)
    if len(data) > MAX_PIPED_BYTES:
        raise UsageError(f"standard input is more than {MAX_PIPED_BYTES // 1_048_576} MB: too much to send")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(f"standard input is not UTF-8 text (byte {error.start + 1} cannot be read)") from None


def _question(args: argparse.Namespace) -> str | None:
    """The one-shot question (-p, words after the flags, piped input, or a prompt then the input), or None for
    the REPL."""
    if args.words:
        if args.prompt is not None:
            raise UsageError("give the question once: with -p, or as words after the flags, not both")
        args.prompt = " ".join(args.words)
    if args.prompt is not None:
        prompt: str = args.prompt
        piped = _piped_input()
        return prompt + ("\n\n" + piped if piped and piped.strip() else "")
    if sys.stdin.isatty():
        return None
    return _piped_input() or ""


def _one_shot(chat: Chat, narrator: Narrator, question: str, *, settings_before: InForce | None = None) -> int:
    """Send one question, print the reply; 0 when it arrived whole, 1 on an API error or a reply that did not
    finish (cut short or incomplete), 130 on Ctrl-C."""
    from kimi_repl.chat import message_text

    text = message_text(question)
    if not text:
        say("nothing to ask: give -p TEXT or pipe a question on standard input.")
        return 2
    narrator.display.hints = False
    reply = chat.send(text)
    if reply is None and settings_before is not None:
        chat.restore(settings_before)  # flags given with -c stay with the session only if they worked
    if narrator.display.gone:
        return 141  # the reader closed the pipe (| head -1): the shell's status for SIGPIPE, and nothing said
    if reply is None:
        return 1
    if reply.interrupted:
        return 130
    return 1 if reply.unfinished else 0  # cut at its budget or by the model's limit, or incomplete


def _apply_flags(chat: Chat, args: argparse.Namespace) -> None:
    """Flags given with -c / -r change the resumed conversation's settings (a role first: flags win over it)."""
    if args.role and args.role in chat.settings.roles:
        chat.apply_role(chat.settings.roles[args.role])
    if args.web is not None:
        chat.choose(web=args.web)
    if args.model:
        chat.choose(model=args.model)
    if args.temperature is not None:
        chat.choose(temperature=args.temperature)
    if args.system is not None:
        chat.choose(system=args.system)
    if args.thinking is not None:
        chat.choose(thinking=args.thinking)
