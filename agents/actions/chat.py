"""Chat and post (RecAgent): a user tells a friend, or all followers, about recent films.

What is said becomes a memory of each listener, and the films it names become "heard of"
for them, which is how word of mouth reaches users the recommender never showed a film.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field, create_model

from agents.domain import FILMS, Domain
from agents.profile import ItemProfile, UserProfile
from agents.prompts import PROMPTS, clean, domain_words, quote_items, render
from memory.records import MemoryKind, MemoryRecord
from simulator.types import Event, LLMRequest, LLMResponse

if TYPE_CHECKING:
    from agents.user import UserAgent


class ChatMessageOut(BaseModel):
    """A message about recent films; ``mentioned_positions`` number the speaker's list."""

    mode: Literal["chat", "post"] = "chat"
    message: str = Field(max_length=200)
    mentioned_positions: list[int] = Field(default_factory=list)


@lru_cache(maxsize=32)
def chat_schema(n_recent: int) -> type[ChatMessageOut]:
    """The schema for a list of ``n_recent`` films, so positions cannot fall off the list.

    Cached so the class (and the response cache key) is the same object every step.
    """
    position = Annotated[int, Field(ge=1, le=max(n_recent, 1))]
    return create_model(
        f"ChatMessageOut{n_recent}",
        __base__=ChatMessageOut,
        mentioned_positions=(list[position], Field(default_factory=list, max_length=n_recent)),
    )


@dataclass(frozen=True, slots=True)
class ChatOutcome:
    """What one chat or post did.

    Attributes:
        speaker: Who spoke.
        listeners: Who heard it (one friend for a chat, every follower for a post).
        text: The message, cleaned for quoting.
        mentioned_item_ids: Films the message names, from the speaker's list; the world
            adds them to each listener's ``heard_of``.
        memories: One CHAT record per listener, owned by that listener.
        mode: "chat" or "post".
        failed: The answer did not parse; nobody heard anything.
    """

    speaker: str
    listeners: tuple[str, ...]
    text: str
    mentioned_item_ids: tuple[str, ...]
    memories: tuple[MemoryRecord, ...]
    mode: str = "chat"
    failed: bool = False

    def events(self, step: int) -> list[Event]:
        """Rows for the event log: one per mentioned film (or one); ``value`` = audience."""
        audience = float(len(self.listeners))
        items = self.mentioned_item_ids or ("",)
        return [Event(step, self.mode, self.speaker, item, audience, self.text) for item in items]


class ChatAction:
    """One structured request per speaker; the answer becomes listeners' memories.

    Args:
        max_recent: How many recent items the speaker may talk about (the latest ones).
        domain: The dataset's words ("films", "watched") for the prompts.
    """

    name = "chat"

    def __init__(self, *, max_recent: int = 5, domain: Domain = FILMS) -> None:
        self.max_recent = max_recent
        self.domain = domain

    def request(
        self,
        agent: UserAgent,
        friend_profile: UserProfile | None,
        recent_watches: Sequence[ItemProfile],
        *,
        relation: str = "friend",
    ) -> LLMRequest:
        """Ask for a message to ``friend_profile``, or a post when it is ``None``.

        Args:
            agent: The speaker.
            friend_profile: The partner (``SocialGraph.pick_partner``); ``None`` asks for a
                post to all followers.
            recent_watches: The speaker's latest films, newest last; only the last
                ``max_recent`` are offered.
            relation: What the friend is to the speaker (``SocialGraph.relation``).
        """
        recent = self._recent(recent_watches)
        persona = agent.profile.describe()
        words = domain_words(self.domain)
        if friend_profile is None:
            messages = render(PROMPTS["post"], persona=persona, items=_listing(recent), **words)
        else:
            messages = render(
                PROMPTS["chat"],
                persona=persona,
                items=_listing(recent),
                **words,
                friend=clean(friend_profile.name or friend_profile.user_id, 60),
                relation=clean(relation, 30) or "friend",
            )
        return LLMRequest(
            messages=messages, schema=chat_schema(len(recent)), max_tokens=128, tag=self.name
        )

    def apply(
        self,
        agent: UserAgent,
        friend_id: str | None,
        recent_watches: Sequence[ItemProfile],
        response: LLMResponse,
        *,
        step: int,
        followers: Sequence[str] = (),
    ) -> ChatOutcome:
        """Deliver the message: to ``friend_id``, or to ``followers`` for a post.

        A chat answered with mode "post" goes to the followers; a post with no followers
        (or a chat with no friend) reaches nobody. The speaker gets no memory of it.

        Args:
            agent: The speaker.
            friend_id: The partner asked about in ``request``; ``None`` for a post.
            recent_watches: The same films as in ``request``.
            response: The answer to ``request``.
            step: The current step, for the memories' timestamps.
            followers: Who sees the speaker's posts (``SocialGraph.followers``).
        """
        decision = response.parsed
        if not isinstance(decision, ChatMessageOut):
            return ChatOutcome(agent.user_id, (), "", (), (), failed=True)
        recent = self._recent(recent_watches)
        post = friend_id is None or decision.mode == "post"
        audience = followers if post else [friend_id]
        listeners = tuple(dict.fromkeys(u for u in audience if u and u != agent.user_id))
        mentioned = [
            recent[p - 1]
            for p in dict.fromkeys(decision.mentioned_positions)
            if 1 <= p <= len(recent)
        ]
        text = clean(decision.message, 200)
        speaker = clean(agent.profile.name or agent.user_id, 60)
        said = f"{speaker} posted" if post else f"Friend {speaker} told me"
        heard = "; ".join(f'heard of "{clean(item.title, 80)}"' for item in mentioned)
        memory_text = f'{said}: "{text}"' + (f" ({heard})" if heard else "")
        memory_id = agent.next_memory_id()
        memories = tuple(
            MemoryRecord(
                id=f"{memory_id}>{listener}",
                owner=listener,
                text=memory_text,
                kind=MemoryKind.CHAT,
                created=step,
                last_access=step,
                importance=0.3 if post else 0.4,
            )
            for listener in listeners
        )
        return ChatOutcome(
            speaker=agent.user_id,
            listeners=listeners,
            text=text,
            mentioned_item_ids=tuple(item.item_id for item in mentioned),
            memories=memories,
            mode="post" if post else "chat",
        )

    def _recent(self, recent_watches: Sequence[ItemProfile]) -> list[ItemProfile]:
        return list(recent_watches)[-self.max_recent :] if self.max_recent > 0 else []


def _listing(recent: Sequence[ItemProfile]) -> str:
    return quote_items(recent) if recent else "(none yet)"
