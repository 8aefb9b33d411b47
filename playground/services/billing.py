"""Who pays for an upstream call, carried by whoever makes it."""

from dataclasses import dataclass

from accounts.services.holds import hold_release
from accounts.services.teams import team_ensure_personal
from accounts.services.usage import usage_record
from bigmodel.usage import CallUsage
from playground.models import Message


@dataclass(frozen=True)
class BilledCall:
    """Who pays for one upstream call, held by whoever makes the call, so its usage is recorded
    whatever becomes of the rows that describe it (a conversation deleted while its reply runs)."""

    request_id: str
    user_id: int
    team_id: int
    model: str

    def _record(self, **usage) -> None:
        usage_record(
            request_id=self.request_id,
            user_id=self.user_id,
            team_id=self.team_id,
            model=self.model,
            **usage,
        )

    def record(self, used: CallUsage) -> None:
        """A chat call, as :func:`bigmodel.usage.chat_call_usage` decided it used."""
        self._record(**used.record_fields())

    def record_images(self, *, images: int, size: str, quality: str) -> None:
        self._record(images=images, size=size, quality=quality)

    def release(self) -> None:
        hold_release(request_id=self.request_id)

    @classmethod
    def of_reply(cls, message: Message) -> "BilledCall":
        assert message.request_id is not None  # a reply is saved with its request id
        user = message.conversation.user
        team_id = message.team_id or team_ensure_personal(user=user).id  # replies from before teams
        return cls(
            request_id=message.request_id,
            user_id=user.id,
            team_id=team_id,
            model=message.model,
        )
