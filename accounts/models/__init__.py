from accounts.models.alerts import AlertChannel, AlertRule, AlertSend
from accounts.models.catalogue import ModelEntry
from accounts.models.ledger import DailyUsage, Hold, LedgerEntry, Pack, Price, TopUp, UsageRecord
from accounts.models.teams import Invite, Membership, Team

__all__ = [
    "AlertChannel",
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
    "Team",
    "TopUp",
    "UsageRecord",
]
