"""What replies cost: the price table, the user's prices, and the cost of a reply and of a conversation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kimi_repl.configfile import read_config
from kimi_repl.conversation import Turn, Usage
from kimi_repl.errors import ConfigError
from kimi_repl.prices import GLOBAL_PRICES, Price, PriceBook, money, spent


def test_cached_input_is_charged_at_the_cache_price() -> None:
    price = Price(miss=1.0, hit=0.1, output=4.0, currency="USD")
    usage = Usage(prompt=1_000_000, completion=500_000, cached=600_000)
    assert price.cost(usage) == pytest.approx(0.4 + 0.06 + 2.0)
    assert price.cost(Usage(prompt=10, cached=99)) == pytest.approx(10 * 0.1 / 1e6), "cached never exceeds prompt"


def test_the_platform_decides_the_table_and_the_user_overrides_it() -> None:
    assert PriceBook("https://api.moonshot.ai/v1").price("kimi-k2.6") == GLOBAL_PRICES["kimi-k2.6"]
    assert PriceBook("https://api.moonshot.ai/v1").price("kimi-k2.6-0415") == GLOBAL_PRICES["kimi-k2.6"], "a family"
    assert PriceBook("https://api.moonshot.ai/v1").price("moonshot-v1-8k") is None, "never guessed"
    assert PriceBook("https://api.moonshot.cn/v1").price("kimi-k2.6") is None, "no CNY list is built in"
    assert PriceBook("http://127.0.0.1:8080/v1").price("kimi-k2.6") is None, "another server: its own prices"
    mine = Price(4.0, 1.0, 16.0, "CNY")
    book = PriceBook("https://api.moonshot.cn/v1", {"kimi-k2.6": mine})
    assert book.price("kimi-k2.6") == mine and book.price("kimi-k3") is None


def test_money_has_the_sign_of_its_currency_and_enough_digits() -> None:
    assert money(0.00123, "USD") == "$0.0012"
    assert money(12.5, "CNY") == "¥12.50"
    assert money(0.5, "EUR") == "0.5000 EUR"


def test_a_conversation_costs_what_its_priced_replies_cost_and_names_the_rest() -> None:
    prices = {"a": Price(1.0, 1.0, 1.0, "USD"), "b": Price(2.0, 2.0, 2.0, "USD"), "c": Price(1.0, 1.0, 1.0, "CNY")}
    million = Usage(prompt=500_000, completion=500_000)

    def reply(model: str, **more: object) -> Turn:
        return Turn("assistant", "x", model=model, usage=million, **more)  # type: ignore[arg-type]

    turns = [
        Turn("user", "q"),
        reply("a"),
        reply("b"),
        reply("c"),
        reply("unknown"),
        reply("a", written_by=["a", "b"]),  # continued on a model of another price: not known apart
        reply("a", spent=Usage(prompt=1_000_000, completion=1_000_000)),  # every request of a searched reply
    ]
    total = spent(turns, prices.get, "a")
    assert total.totals == {"USD": pytest.approx(1 + 2 + 2), "CNY": pytest.approx(1)}
    assert total.unpriced == 2
    assert total.shown() == "$5.00 + ¥1.00"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def test_prices_in_the_config_file(tmp_path: Path) -> None:
    path = _config(tmp_path, '[prices."kimi-k2.6"]\ninput = 4\ncached = 1\noutput = 16\ncurrency = "cny"\n')
    assert read_config(path).prices == {"kimi-k2.6": Price(4.0, 1.0, 16.0, "CNY")}
    path = _config(tmp_path, '[prices."my-model"]\ninput = 0.5\noutput = 1.5\n')
    assert read_config(path).prices == {"my-model": Price(0.5, 0.5, 1.5, "USD")}, "no cache price: the input one"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('[prices."m"]\ninput = "cheap"\noutput = 1\n', "line 2: input: expected a price per million tokens"),
        ('[prices."m"]\ninput = 1\n', "prices of 'm' need output"),
        ('[prices."m"]\ninput = 1\noutput = -1\n', "line 3: output: expected a price"),
        ('[prices."m"]\ninput = 1\noutput = 1\ncurrency = "\\u001b[2J"\n', "currency: expected a currency code"),
        ('[prices."m"]\ninput = 1\noutput = 1\ntip = 1\n', "unknown setting 'tip' in prices of 'm'"),
        ("prices = 3\n", "prices must be tables"),
    ],
)
def test_a_bad_price_is_one_line_naming_the_file(tmp_path: Path, text: str, said: str) -> None:
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        read_config(path)
    assert said in str(raised.value) and str(path) in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("name", ["bad model", "", "m" * 200])
def test_a_price_for_a_name_that_is_no_model_is_one_line(tmp_path: Path, name: str) -> None:
    path = _config(tmp_path, f'[prices."{name}"]\ninput = 1\noutput = 2\n')
    with pytest.raises(ConfigError) as raised:
        read_config(path)
    assert str(path) in str(raised.value) and "prices: " in str(raised.value) and "\n" not in str(raised.value)
