"""Who pays for an upstream call, carried by whoever makes it."""

from dataclasses import dataclass

from accounts.services.holds import hold_release
from accounts.services.teams import team_ensure_personal
from accounts.services.usage import usage_record
from bigmodel.tools import search_engine_of
from playground.models import Message


@dataclass(frozen=True)
class BilledCall:
    """Who pays for one upstream call, held by whoever makes the call, so its usage is recorded
    whatever becomes of the rows that describe it (a conversation deleted while its reply runs)."""

    request_id: str
    user_id: int
    team_id: int
    model: str
    search_engine: str = ""  # the web_search tool's, when the call may search

    def record(
        self,
        *,
        prompt_tokens: int = 0,
        cached_tokens: int = 0,
        completion_tokens: int = 0,
        reasoning_tokens: int = 0,
        images: int = 0,
        size: str = "",
        quality: str = "",
        searches: int = 0,
        exact: bool = True,
    ) -> None:
        usage_record(
            request_id=self.request_id,
            user_id=self.user_id,
            team_id=self.team_id,
            model=self.model,
            prompt_tokens=prompt_tokens,
            cached_tokens=cached_tokens,
            completion_tokens=completion_tokens,
            reasoning_tokens=reasoning_tokens,
            images=images,
            size=size,
            quality=quality,
            search_engine=self.search_engine if searches else "",
            searches=searches,
            exact=exact,
        )

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
            search_engine=search_engine_of(message.params),
        )
