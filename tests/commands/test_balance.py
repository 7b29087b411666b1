"""/balance: the account's balance, in its currency, and when it fails."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kimi_repl.commands import CommandRegistry
from kimi_repl.commands.context import CommandContext
from kimi_repl.config import Settings
from kimi_repl.errors import UserError
from tests.fake import FakeMoonshot
from tests.helpers import CapturedDisplay


def test_balance(registry: CommandRegistry, session: CommandContext, display: CapturedDisplay) -> None:
    registry.dispatch(session, "/balance")
    assert "Balance: 49.59 CNY available (voucher 46.59, cash 3.00)" in display.output


def test_balance_in_usd_on_the_international_platform() -> None:
    from kimi_repl.commands.account import currency

    assert currency("https://api.moonshot.ai/v1") == "USD"
    assert currency("https://api.moonshot.cn/v1") == "CNY"


def test_balance_used_up_says_where_to_top_up(
    registry: CommandRegistry, session: CommandContext, server: FakeMoonshot, display: CapturedDisplay
) -> None:
    server.balance = {"available_balance": 0, "voucher_balance": 0, "cash_balance": 0}
    registry.dispatch(session, "/balance")
    assert "0.00 CNY available" in display.output and "Top up at https://platform.moonshot.cn" in display.output


def test_balance_error_is_one_line(registry: CommandRegistry, settings: Settings, display: CapturedDisplay) -> None:
    session = CommandContext.open(replace(settings, api_key="sk-wrong"), display)
    with pytest.raises(UserError, match="rejected the API key"):
        registry.dispatch(session, "/balance")
