from decimal import Decimal

import pytest

from accounts import money


@pytest.mark.parametrize("text, nano", [("12.5", 12_500_000_000), ("0.000000001", 1), ("¥1,000", 10**12),
                                        ("-3", -3 * 10**9), (" 0.1 ", 100_000_000)])
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
    assert money.rounded(1_234_565_000_000) == "1,234.57"  # half up
    assert money.to_yuan(1) == Decimal("0.000000001")
