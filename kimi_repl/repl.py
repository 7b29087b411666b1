"""The prompt_toolkit loop: reads a line, hands it to a command or sends it, and never dies of one line."""

from __future__ import annotations

import contextlib
import contextvars
import gc
import threading
from typing import TYPE_CHECKING

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.application import get_app, run_in_terminal
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import ThreadedCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent, merge_key_bindings
from prompt_toolkit.output import Output
from prompt_toolkit.styles import Style
from prompt_toolkit.utils import is_dumb_terminal

from kimi_repl import __version__
from kimi_repl.chat import Chat, message_text
from kimi_repl.client import ChatError
from kimi_repl.commands import CommandContext, CommandRegistry, SlashCompleter, build_registry
from kimi_repl.commands.shared import describe_switch
from kimi_repl.commands.shell import is_shell_line, shell_line
from kimi_repl.display import Display
from kimi_repl.errorlog import log_internal_error
from kimi_repl.errors import UserError
from kimi_repl.narrator import Narrator
from kimi_repl.pastes import Pastes, clipboard_bindings, gather_pastes_linearly, paste_bindings
from kimi_repl.profile import built_in
from kimi_repl.replstate import ReplState
from kimi_repl.sanitize import one_line
from kimi_repl.terminal import hangup_ends, typeahead_mode, typed_ahead

if TYPE_CHECKING:
    from kimi_repl.chat.titles import ModelTitles
    from kimi_repl.picker import Picker

PRELOAD_AFTER_SECONDS = 1.0
STYLE = Style.from_dict(
    {
        "model": "ansicyan bold",
        "arrow": "ansibrightblack",
        "continuation": "ansibrightblack",
        "banner": "dim",
        "warning": "ansiyellow",
    }
)


async def edit_buffer(buffer: Buffer, display: Display) -> None:
    """Open the buffer's text in the user's editor; what was saved comes back to the prompt, not sent."""
    from kimi_repl.editor import EditorError, edit

    try:
        text = await run_in_terminal(lambda: edit(buffer.text), in_executor=True)
    except EditorError as error:
        message = str(error)
        await run_in_terminal(lambda: display.error(message))
        return
    buffer.document = Document(text, cursor_position=len(text))


def key_bindings(display: Display) -> KeyBindings:
    """Enter sends (so does Ctrl-J: an Enter typed before the prompt is ready arrives as one); Alt-Enter
    (Esc Enter) inserts a newline; Ctrl-X Ctrl-E writes the message in an editor."""
    bindings = KeyBindings()

    @bindings.add("c-x", "c-e")
    def compose(event: KeyPressEvent) -> None:
        event.app.create_background_task(edit_buffer(event.current_buffer, display))

    @bindings.add("enter")
    @bindings.add("c-j")
    def send(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.current_completion is not None:
            buffer.apply_completion(state.current_completion)
            return
        buffer.validate_and_handle()

    @bindings.add("escape", "enter")
    def newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


class Repl:
    """The interactive loop around one chat (its :class:`CommandContext`)."""

    def __init__(
        self,
        context: CommandContext,
        registry: CommandRegistry,
        *,
        history: History | None = None,
        input: Input | None = None,
        output: Output | None = None,
    ) -> None:
        self.context = context
        self.registry = registry
        self._notice: str | None = None  # from the background thread, shown before the next prompt
        self._warned_unsaved = False
        self._input, self._output = input, output
        self.pastes = Pastes()
        context.state.confirm = self._confirm
        context.state.pick = None if is_dumb_terminal() else self._pick
        context.state.choose = None if is_dumb_terminal() else self._choose
        self.titles: ModelTitles | None = None
        if context.settings.titles == "model":
            from kimi_repl.chat.titles import ModelTitles  # not at start-up: most never ask the model for titles

            self.titles = ModelTitles(context.chat)
        self.prompt_session: PromptSession[str] = PromptSession(
            history=history if history is not None else InMemoryHistory(),
            auto_suggest=AutoSuggestFromHistory(),
            completer=ThreadedCompleter(SlashCompleter(registry, context)),
            complete_while_typing=True,
            key_bindings=merge_key_bindings(
                [
                    key_bindings(context.display),
                    paste_bindings(self.pastes),
                    clipboard_bindings(self.pastes, self._attach_pasted, context.display.error),
                ]
            ),
            multiline=True,
            prompt_continuation=lambda width, line, wrap: [("class:continuation", "… ".rjust(width))],
            style=STYLE,
            input=input,
            output=output,
        )
        gather_pastes_linearly(self.prompt_session.input)

    def _message(self) -> FormattedText:
        """The prompt: the model the next message goes to, or the question about a big paste (read at every
        redraw)."""
        if self.pastes.asking is not None:
            return FormattedText([("class:warning", self.pastes.question()), ("class:arrow", " › ")])
        return FormattedText([("class:model", self.context.chat.model), ("class:arrow", " › ")])

    def banner(self) -> None:
        """The first line: the version, the model and how to get help.

        prompt_toolkit writes it, as it draws the prompt below it: neither waits for rich to load.
        """
        context = self.context
        profile = context.chat.profile(fetch=False)  # the prompt must not wait for the server
        conversation = context.chat.conversation
        web = "web search on" if conversation.web else ""
        parts = (f"kimi-repl {__version__}", profile.id, profile.thinking_label(conversation.thinking), web)
        line = one_line(" · ".join(p for p in parts if p) + " · /help · Alt-Enter newline · Ctrl-D quit")
        settings = context.settings
        destination = settings.destination()
        warn = not settings.base_url_trusted
        lines = [("class:banner", line)]
        if destination:  # where the key and the conversation go, whenever it is not Moonshot's default
            text = one_line(("⚠ " if warn else "") + destination)
            lines += [("", "\n"), ("class:warning" if warn else "class:banner", text)]
        origin = settings.key_origin()
        if origin:  # whose account pays: a project's .env may hold a key of its own
            lines += [("", "\n"), ("class:banner", one_line(origin))]
        if is_dumb_terminal():  # prompt_toolkit would style it anyway; rich writes plain text there
            for _, text in lines[::2]:
                context.display.note(text)
            return
        print_formatted_text(
            FormattedText(lines),
            style=STYLE,
            output=self.prompt_session.output,
            include_default_pygments_style=False,
        )

    def run(self) -> int:
        """Read and handle lines until /exit, Ctrl-D or a hang-up; return the exit status."""
        # Load the SDK, the server's models and the markdown renderer while the user types the first
        # message, not after they send it. Not at once: a quick /exit should not wait for it, and the
        # prompt should appear first.
        variables = contextvars.copy_context()
        after = 0.0 if typed_ahead() else PRELOAD_AFTER_SECONDS  # a message waits already: it needs all that now
        preload = threading.Timer(after, self._preload, args=(variables,))
        preload.daemon = True  # leaving never waits for a slow server's model list
        preload.start()
        try:
            with hangup_ends(self.context.state):
                status = self._loop()
        finally:
            preload.cancel()
        self.farewell()
        return status

    def _preload(self, variables: contextvars.Context) -> None:
        """The SDK, ``GET /models`` (the default model comes from it) and the renderer, in the background."""
        context = self.context
        with contextlib.suppress(Exception):  # any real problem shows when the first message is sent
            from kimi_repl.markdown import warm_up

            context.chat.client.preload()
            warm_up()  # before the list of models: a message typed ahead is drawn while that is asked
            notice = None
            if context.settings.base_url_trusted:  # else nothing goes out before the user has seen where
                notice = context.resolve_model() or context.unlisted_warning(context.chat.model, once=True)
                notice = notice or context.chat.client.key_refused  # told before the first message, not by it
            self._show_later(notice, variables)
        # What is loaded now stays for good: leave it out of garbage collection. The SDK's many objects would
        # otherwise be scanned by each full collection, and rendering a long reply allocates enough to start some.
        gc.freeze()

    def _show_later(self, notice: str | None, variables: contextvars.Context) -> None:
        """From a background thread: show ``notice`` above the prompt, and redraw the prompt (its model)."""
        app = self.prompt_session.app
        if not app.is_running:  # between prompts (a reply may be streaming): the loop shows it next
            self._notice = notice
            return

        def show() -> None:
            if notice:
                run_in_terminal(lambda: self.context.display.note(notice))
            app.invalidate()

        app.loop.call_soon_threadsafe(show, context=variables)  # type: ignore[union-attr]

    def _loop(self) -> int:
        context, failures = self.context, 0
        while not (context.state.exit_requested and self._may_leave()):
            notice, self._notice = self._notice, None
            if notice:
                context.display.note(notice)
            pending = context.state.take_pending_input()
            if pending:
                self._recall(pending)
            draft, context.state.edit_request = context.state.edit_request, None
            prefill, context.state.prefill = context.state.prefill, None
            if self.titles is not None:
                self.titles.tick()
            try:
                if draft is not None:  # /edit: the prompt opens with the editor on the draft
                    text = self.prompt_session.prompt(self._message, default=draft, pre_run=self._compose)
                else:
                    line = self.pastes.shorten(prefill) if prefill else ""  # a long one behind a marker
                    text = self.prompt_session.prompt(self._message, default=line)
                failures = 0
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt clears the line
            except EOFError:
                context.state.exit_requested = True
                continue
            except Exception as error:  # a broken terminal: report it, and give up if it keeps failing
                failures += 1
                self._internal_error(error)
                if failures >= 3:
                    return 1
                continue
            self.handle(self.pastes.expand(text), typed=text)
        return 0

    def _compose(self) -> None:
        """Open the editor on the prompt's text, as the prompt starts (/edit)."""
        get_app().create_background_task(edit_buffer(self.prompt_session.default_buffer, self.context.display))

    def _confirm(self, question: str) -> bool:
        """Ask ``question`` at the terminal; only y or yes is a yes (Ctrl-C, Ctrl-D and Enter are no)."""
        asking: PromptSession[str] = PromptSession(input=self._input, output=self._output)
        try:
            answer = asking.prompt(f"{one_line(question)} [y/N] ")  # it may name a title from a loaded file
        except (KeyboardInterrupt, EOFError):
            return False
        return answer.strip().lower() in ("y", "yes")

    def _pick(self, picker: Picker) -> int | None:
        """Show ``picker`` full-screen on this terminal; the index of the row chosen, or None."""
        return picker.run(input=self._input, output=self._output)

    def _choose(self, question: str, rows: list[tuple[str, ...]], start: int) -> int | None:
        """A plain list to choose from (/rewind's messages), shown as :meth:`_pick` shows one."""
        from kimi_repl.picker import Picker

        return self._pick(Picker.plain(question, rows, start))

    def _await_models(self, message: str) -> None:
        """If the server's list of models is still on its way (a slow server at start-up: the first message may
        need it), wait for it with a spinner, not a silent prompt; Ctrl-C stops the wait, ↑ brings the message."""
        chat = self.context.chat
        client = chat.client
        if client.models_fetched or not (chat.catalog.from_server or built_in(chat.model) is None):
            return  # the list is here, or the message does not wait for it (a model the table knows was chosen)
        try:
            with self.context.display.working("Waiting for the server's models"), contextlib.suppress(ChatError):
                client.list_models(retry_failed=False)
        except KeyboardInterrupt:
            self._recall(message)
            raise

    def _recall(self, text: str) -> None:
        """Make ``text`` (a message that got no reply) the latest history entry: ↑ brings it back.

        It is not put back in the input line: what is typed next must never be glued to it.
        """
        history = self.prompt_session.history
        strings = history.get_strings()
        text = self.pastes.shorten(text)  # a long message comes back behind a marker, as a big paste does
        if not strings or strings[-1] != text:
            history.append_string(text)

    def _may_leave(self) -> bool:
        """Leaving is asked for: fine, unless the session could not be saved; then say so once and stay."""
        context = self.context
        problem = context.chat.flush()
        if problem is None or self._warned_unsaved or context.display.gone:
            return True
        self._warned_unsaved = True
        context.state.exit_requested = False
        context.display.error(f"{problem}: the session is not saved. /save PATH elsewhere, or quit again to leave.")
        return False

    def farewell(self) -> None:
        """Say how to come back to this conversation, if it was saved."""
        context = self.context
        if context.chat.log is None or not context.chat.log.started or not context.chat.conversation.turns:
            return  # nothing was answered: the file goes when the session closes (nothing to come back to)
        cid = context.chat.conversation.id
        latest = context.store is not None and context.store.latest() == context.chat.log.path
        how = f"kimi-repl -c (or kimi-repl -r {cid})" if latest else f"kimi-repl -r {cid}"
        with contextlib.suppress(OSError):  # the terminal may be gone (a hang-up)
            title = context.chat.conversation.title
            context.display.note(f"Session {cid} “{title}” is saved. Resume it with: {how}")

    def _attach_pasted(self, picture: bytes) -> None:
        """Ctrl-V found a picture in the clipboard: attach it now, as ``/image paste`` does; say so above the
        prompt (or in one line why not)."""
        from kimi_repl.commands.attachments import attach_pasted

        display = self.context.display
        try:
            line, show = attach_pasted(self.context, picture), display.info
        except UserError as error:
            line, show = str(error), display.error
        except Exception as error:  # the prompt must survive it
            failure = error
            run_in_terminal(lambda: self._internal_error(failure))
            return
        run_in_terminal(lambda: show(line))

    def _internal_error(self, error: Exception) -> None:
        context = self.context
        where = log_internal_error(context.settings.api_key)
        detail = f" (details in {where})" if where else ""
        context.display.error(f"Internal error: {type(error).__name__}: {error}{detail}")

    def handle(self, text: str, *, typed: str | None = None) -> None:
        """Run one line of input: a command, a shell command (``!``), a message, or nothing; report any failure in
        one line.

        Args:
            typed: the line as typed, before pastes were put back in place of their markers: only what was
                typed first makes a command (a line that starts with a paste is a message).
        """
        context = self.context
        display = context.display
        command = text.strip()
        raw = text if typed is None else typed
        first = raw.strip()
        try:
            if not command:
                return
            with typeahead_mode():
                if first.startswith("/") and not first.startswith("//"):
                    self.registry.dispatch(self.context, command)
                    return
                if is_shell_line(raw):  # typed by the user: a reply or a paste never gets here
                    shell_line(self.context, command)
                    return
                message = message_text(text)
                if first.startswith("//"):
                    message = message.replace("//", "/", 1)
                self._await_models(message)
                context.chat.send(message)
            display.gap()
        except UserError as error:
            display.error(str(error))
        except KeyboardInterrupt:
            display.note("Interrupted.")
        except Exception as error:  # the loop must survive any one line
            self._internal_error(error)


def run(chat: Chat, narrator: Narrator, *, resumed: bool, pending: str = "", asked_to_continue: bool = False) -> int:
    """The interactive session around ``chat`` (shown by ``narrator``): read and handle lines until the user
    leaves; return the exit status.

    Args:
        resumed: ``chat`` took up a saved session (``pending``: its message that never got a reply).
        asked_to_continue: -c found no session to continue.
    """
    from kimi_repl.config import history_file
    from kimi_repl.history import PrivateHistory

    display = narrator.display
    history: History
    try:
        history = PrivateHistory(history_file(), chat.settings.api_key)
    except OSError as error:
        display.warning(f"⚠ Input history cannot be kept ({error.strerror or error}).")
        history = InMemoryHistory()
    context = CommandContext.around(chat, display, state=ReplState(pending_input=pending), narrator=narrator)
    repl = Repl(context, build_registry(), history=history)
    repl.banner()
    if resumed:
        describe_switch(context, f"Resumed session {chat.conversation.id}")
    elif asked_to_continue:
        display.note("No saved session to continue: starting a new one.")
    return repl.run()
