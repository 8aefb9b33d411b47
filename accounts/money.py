"""Yuan in and out of the integer unit the ledger keeps (10⁻⁹ yuan, "nano")."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

NANO_PER_YUAN = 10**9
MAX_YUAN = 10**9  # a billion yuan: far above any wallet, far below a 64-bit column's limit


def to_nano(yuan) -> int:
    """``"12.5"`` → 12_500_000_000. Refuses what the unit cannot hold exactly."""
    try:
        amount = Decimal(str(yuan).strip().replace(",", "").removeprefix("¥"))
    except InvalidOperation:
        raise ValueError(f"“{yuan}” is not an amount of yuan.") from None
    if not amount.is_finite() or abs(amount) > MAX_YUAN:
        raise ValueError(f"“{yuan}” is not an amount this app handles (at most a billion yuan).")
    nano = amount * NANO_PER_YUAN
    if nano != nano.to_integral_value():
        raise ValueError(f"“{yuan}” has more than 9 decimal places.")
    return int(nano)


def to_yuan(nano: int) -> Decimal:
    """Exact: every digit kept."""
    return Decimal(nano).scaleb(-9)


def exact(nano: int) -> str:
    """The exact amount as a decimal string, at least two decimals: ``"0.000123"``, ``"12.50"``."""
    text = f"{to_yuan(nano):.9f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def rounded(nano: int, places: int = 2) -> str:
    """For display: ``"1,234.57"`` (half up)."""
    quantum = Decimal(1).scaleb(-places)
    return f"{to_yuan(nano).quantize(quantum, rounding=ROUND_HALF_UP):,}"


def yuan(nano: int) -> str:
    """"¥1,234.57", "-¥0.03": rounded to the cent, for reading."""
    return f"-¥{rounded(-nano)}" if nano < 0 else f"¥{rounded(nano)}"


def yuan_exact(nano: int) -> str:
    """"¥0.000123", "-¥12.50": every digit the ledger holds."""
    return f"-¥{exact(-nano)}" if nano < 0 else f"¥{exact(nano)}"
