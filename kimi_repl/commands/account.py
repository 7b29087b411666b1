"""/balance: the Moonshot account behind the key."""

from __future__ import annotations

from kimi_repl.commands.context import CommandContext
from kimi_repl.commands.registry import CommandTable

BALANCE_PARTS = (("voucher_balance", "voucher"), ("cash_balance", "cash"))


def currency(base_url: str) -> str:
    """CNY on the China platform (and by default), USD on the international one."""
    from urllib.parse import urlparse

    host = urlparse(base_url).hostname or ""
    return "USD" if host == "moonshot.ai" or host.endswith(".moonshot.ai") else "CNY"


commands = CommandTable()


@commands.command("balance", "Show your Moonshot account balance.")
def balance(context: CommandContext, argument: str) -> None:
    with context.display.working("Asking Moonshot for your balance…"):
        amounts = context.chat.client.balance()
    unit = currency(context.settings.base_url)
    available = amounts.get("available_balance")
    text = f"Balance: {available:.2f} {unit} available" if available is not None else f"Balance in {unit}"
    parts = [f"{name} {amounts[key]:.2f}" for key, name in BALANCE_PARTS if key in amounts]
    if parts:
        text += f" ({', '.join(parts)})"
    if available is not None and available <= 0:
        site = "platform.moonshot.ai" if unit == "USD" else "platform.moonshot.cn"
        text += f". Top up at https://{site} before the next request."
    context.display.info(text)
