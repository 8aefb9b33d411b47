from decimal import Decimal

import pytest

from accounts import money


@pytest.mark.parametrize(
    "text, nano",
    [
        ("12.5", 12_500_000_000),
        ("0.000000001", 1),
        ("¥1,000", 10**12),
        ("-3", -3 * 10**9),
        (" 0.1 ", 100_000_000),
    ],
)
def test_yuan_to_nano_is_exact(text, nano):
    assert money.to_nano(text) == nano


@pytest.mark.parametrize("text", ["0.0000000001", "abc", "NaN", "1e400"])
def test_amounts_the_unit_cannot_hold_are_refused(text):
    with pytest.raises(ValueError):
        money.to_nano(text)


def test_formatting():
    assert money.exact(123_000) == "0.000123"
    assert money.exact(12_500_000_000) == "12.50"
    assert money.exact(-1) == "-0.000000001"
    assert money.to_yuan(1) == Decimal("0.000000001")


@pytest.mark.parametrize(
    "nano, shown",
    [
        (1_461_000_000, "¥1.4610"),  # as BigModel's bills read
        (1_234_567_850_000, "¥1,234.5679"),  # four decimals, half up
        (297_198_500, "¥0.2972"),  # a fen or more: four decimals
        (3_150_000, "¥0.00315"),  # under a fen: every digit it has
        (1_000, "¥0.000001"),  # never "¥0.0000" for something
        (100_000, "¥0.0001"),
        (0, "¥0.0000"),
        (-3_000_000, "-¥0.0030"),  # a small debt reads as one
        (-1, "-¥0.000000001"),
    ],
)
def test_money_on_pages_reads_as_bigmodel_shows_it(nano, shown):
    assert money.yuan(nano) == shown


def test_chart_ticks_are_as_short_as_their_value():
    assert [money.axis(n) for n in (0, 5_000_000, 10_000_000, 20 * 10**9)] == [
        "¥0",
        "¥0.005",
        "¥0.01",
        "¥20",
    ]
