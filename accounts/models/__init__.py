from accounts.models.alerts import AlertChannel, AlertRule, AlertSend
from accounts.models.catalogue import ModelEntry
from accounts.models.keys import ApiKey
from accounts.models.ledger import DailyUsage, Hold, LedgerEntry, Pack, TopUp, UsageRecord
from accounts.models.prices import Price, PriceTier
from accounts.models.teams import Invite, Membership, Team

__all__ = [
    "AlertChannel",
    "ApiKey",
    "AlertRule",
    "AlertSend",
    "DailyUsage",
    "Hold",
    "Invite",
    "LedgerEntry",
    "Membership",
    "ModelEntry",
    "Pack",
    "Price",
    "PriceTier",
    "Team",
    "TopUp",
    "UsageRecord",
]
