"""Yuan in and out of the integer unit the ledger keeps (10⁻⁹ yuan, "nano")."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

NANO_PER_YUAN = 10**9
MAX_YUAN = 10**9  # a billion yuan: far above any wallet, far below a 64-bit column's limit


def to_nano(yuan: str | int | Decimal) -> int:
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


PLACES = 4  # as BigModel's console shows money: "¥ 1.4610"
FEN = 10_000_000  # ¥0.01 in nano


def _digits(amount: Decimal) -> str:
    return f"{amount:,.9f}".rstrip("0").rstrip(".")


def yuan(nano: int) -> str:
    """Money on a page: "¥1,234.5678", "-¥0.0030". Four decimals, as BigModel's bills show it; an
    amount under a fen that four decimals would round keeps every digit ("¥0.00315", "¥0.000001"),
    so nothing reads as less than it is. CSV and JSON use ``exact``."""
    amount = to_yuan(abs(nano))
    if 0 < abs(nano) < FEN and abs(nano) % 10 ** (9 - PLACES):
        whole, _, fraction = _digits(amount).partition(".")
        text = f"{whole}.{fraction.ljust(PLACES, '0')}"
    else:
        text = f"{amount.quantize(Decimal(1).scaleb(-PLACES), rounding=ROUND_HALF_UP):,}"
    return f"-¥{text}" if nano < 0 else f"¥{text}"


def rate_text(amount: Decimal) -> str:
    """A price as the price list writes it (¥ per million tokens, per image): "100", "0.4", never
    "1E+2"."""
    return f"{amount.normalize():f}"


def axis(nano: int) -> str:
    """A chart's tick: as short as the value allows ("¥0", "¥0.005", "¥20")."""
    return f"¥{_digits(to_yuan(nano)) or '0'}"
