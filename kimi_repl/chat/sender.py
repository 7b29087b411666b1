"""Sending: from the conversation to a reply, through the planner and the replier.

The planner decides what one request carries (:mod:`kimi_repl.planner`); the sender builds the request, tells
what it leaves out (once, when that changes), hands it to the replier, and after a "too long" refusal sends the
planner's next plan once more. It never changes the conversation: the chat core records the reply.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from kimi_repl.catalog import Catalog
from kimi_repl.chat.outcomes import (
    DoesNotFit,
    Observer,
    PicturesNamed,
    SentAgain,
    StillTooBig,
    Trimmed,
    WindowLeavesOut,
)
from kimi_repl.chat.replier import Replier, ReplyFailed
from kimi_repl.client import MoonshotClient
from kimi_repl.conversation import Conversation, Image, Turn
from kimi_repl.planner import (
    REPLY_FLOOR,
    Plan,
    after_refusal,
    local_estimate,
    oversize,
    plan,
    reply_budget,
    tokens_by_usage,
)
from kimi_repl.profile import ModelProfile
from kimi_repl.request import build_request


class Sender:
    """Gets replies for one chat, and remembers what the last request left out.

    Attributes:
        sent_from: the first turn the last request sent (turns before it were left out to fit, or compacted).
    """

    def __init__(self, client: MoonshotClient, catalog: Catalog, replier: Replier, tell: Observer, cap: int) -> None:
        self.client = client
        self.catalog = catalog
        self.replier = replier
        self.tell = tell
        self.cap = cap
        self.sent_from = 0
        self._pictures_named_for: str | None = None  # the model last told that pictures go as their names

    def switched(self, conversation: Conversation) -> None:
        """Another conversation is current: nothing was left out of it yet but what it compacted."""
        self.sent_from = conversation.context_start
        self._pictures_named_for = None

    def too_long_alone(self, conversation: Conversation, text: str, pictures: list[Image]) -> DoesNotFit | None:
        """Why ``text`` cannot be sent at all to the current model (too long for its window, even with every older
        turn left out), or None. Counted here, cautiously: nothing is sent to find out."""
        profile = self.catalog.profile(conversation.model)
        window = profile.window
        if window is None:
            return None
        turn = Turn(role="user", content=text, images=pictures, outputs=conversation.outputs)
        message = turn.to_message(images=profile.images)
        if local_estimate([*conversation.preamble(), message]) <= window:
            return None
        size = local_estimate([message])
        return DoesNotFit(conversation.model, window, oversize(conversation, window, message=size), sent=False)

    def reply(self, conversation: Conversation, model: str, turns: list[Turn], *, partial: bool = False) -> Turn:
        """A reply to ``turns`` from ``model``, planned for its window; after a "too long" refusal, the
        planner's next plan is sent once more. Nothing changes for later requests.

        Raises:
            ReplyFailed: no reply arrived.
        """
        profile = self.catalog.profile(model)
        planned = self.plan(conversation, profile, turns)
        window = planned.window
        if window is not None and planned.tokens + min(REPLY_FLOOR, self.cap) > window:
            # Even the newest turns leave no room for a reply: the server would refuse it; say why here.
            size = local_estimate(planned.messages[-1:])
            too_big = oversize(conversation, window, message=size, reply=partial)
            raise ReplyFailed(DoesNotFit(model, window, too_big, sent=False))
        self._report(planned, profile)
        try:
            return self._generate(conversation, profile, planned, partial)
        except ReplyFailed as failure:
            window = failure.window or profile.window
            if not failure.too_long or window is None:
                raise
            counted = self.client.estimate_tokens(planned.messages, model=model)
            again = after_refusal(conversation, turns, profile, planned, counted=counted, window=window)
            if again is None:
                raise ReplyFailed(DoesNotFit(model, window, oversize(conversation, window))) from None
            if again.start != planned.start:
                self._report(again, profile, refused=True)
            return self._generate(conversation, profile, again, partial)

    def plan(
        self,
        conversation: Conversation,
        profile: ModelProfile,
        turns: Sequence[Turn] | None = None,
        *,
        target: int | None = None,
        ask: bool = True,
    ) -> Plan:
        """What a request to ``profile``'s model would carry of ``turns`` (the whole conversation by default).

        Args:
            ask: the server may be asked for the size when it is close to the limit (False: estimate locally).
        """
        turns = conversation.turns if turns is None else turns
        count = functools.partial(self.client.estimate_tokens, model=profile.id) if ask else None
        hint = tokens_by_usage(conversation, turns)
        searching = conversation.in_force.web and target is None
        return plan(conversation, turns, profile, count=count, hint=hint, target=target, searching=searching)

    def _generate(self, conversation: Conversation, profile: ModelProfile, planned: Plan, partial: bool) -> Turn:
        in_force = conversation.in_force
        tools = self.replier.declarations() if in_force.web else []
        thinking = False if tools and self.replier.thinking_off_with_tools else in_force.thinking
        request = build_request(
            planned.messages,
            profile,
            temperature=in_force.temperature,
            thinking=thinking,
            budget=reply_budget(profile.window, planned.tokens, self.cap),
            tools=tools,
            partial=partial,
            cache_key=conversation.id,
        )
        return self.replier.reply(request, profile, in_force)

    def _report(self, planned: Plan, profile: ModelProfile, *, refused: bool = False) -> None:
        """Tell what this request leaves out that the last one did not (or sends again), once."""
        model, window = profile.id, planned.window
        before, self.sent_from = self.sent_from, planned.start
        if window is not None and planned.start > before:
            self.tell(Trimmed(model, window, planned.start, refused))
        elif planned.start < before:
            self.tell(SentAgain(model, before - planned.start))
        if window is not None and not planned.fits:
            self.tell(StillTooBig(model, planned.tokens, window))
        if planned.named_pictures and self._pictures_named_for != model:
            self.tell(PicturesNamed(model, planned.named_pictures))
        self._pictures_named_for = model if planned.named_pictures else None

    def unseen_by(
        self, conversation: Conversation, model: str, attached: list[Image]
    ) -> list[PicturesNamed | WindowLeavesOut]:
        """What ``model`` will not see of ``conversation`` (and of the pictures ``attached`` for the next
        message), for /model NAME."""
        profile = self.catalog.profile(model)
        planned = self.plan(conversation, profile, ask=False)
        unseen: list[PicturesNamed | WindowLeavesOut] = []
        if planned.named_pictures:
            unseen.append(PicturesNamed(model, planned.named_pictures, so_far=True))
        if attached and not profile.images:
            unseen.append(PicturesNamed(model, len(attached), attached=True))
        left_out = planned.start - conversation.context_start
        if left_out > 0 and planned.window is not None:
            unseen.append(WindowLeavesOut(model, planned.window, left_out))
        return unseen
