"""Request and response bodies (they also make the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from detector.stream.schema import AccountIn, EventIn, ProjectIn, Strict
from detector.vocab import Decision
from service.tokens import NAME_MAX
from service.vocab import Role
from service.vocab import Verdict as VerdictName

__all__ = ["AccountIn", "EventIn", "ProjectIn"]  # the event schema is the detector's


def has_nul(value: Any) -> bool:
    """True when a NUL character hides anywhere in decoded JSON (PostgreSQL text refuses it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


class _Checked(Strict):
    """A request body model that also refuses NUL characters (events are checked once, on
    their raw JSON, in `service.api.parse_events`)."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


class DecisionOut(BaseModel):
    """The answer for one event (CONTRACT §3), plus `pending` while code is still being scanned."""

    id: str
    score: float
    decision: Decision
    reasons: list[str]
    campaign: str | None
    pending: bool = False


class EventOut(DecisionOut):
    """A stored event's decision with its stored context (moderator/analyst view)."""

    type: str
    ts: datetime
    received_at: datetime
    username: str
    project: str | None
    signals: list[str]
    verdict: VerdictName | None
    detail: dict[str, Any]


class QueueItem(BaseModel):
    id: str
    type: str
    ts: datetime
    username: str
    project: str | None
    score: float
    decision: Decision
    reasons: list[str]
    campaign: str | None
    signals: list[str]
    pending: bool
    verdict: VerdictName | None


class QueueGroup(BaseModel):
    """One row of the grouped queue: a campaign (its members that match the filter) or
    a lone item (``campaign`` None, ``item`` set)."""

    kind: Literal["campaign", "item"]
    campaign: str | None
    size: int
    first_ts: datetime
    last_ts: datetime
    max_score: float
    decisions: dict[str, int]
    verdicts: dict[str, int]
    traits: list[str]
    top_target: str | None
    item: QueueItem | None


# Reasons, notes and pause lengths are validated by `service.actions` (one set of limits
# from the policy for the API and the pages alike), not here.
_REASON = "required; at most `[service] max_reason_chars` characters (2,000 shipped)"


_COHORT = ("one cohort of the event type only, written kind:value (kinds: email_domain, "
           "registrable_domain, provider, template, target, ip_prefix, account), e.g. "
           "`email_domain:uni.example`, `ip_prefix:203.0.113.0/24`, `template:acme-*`, "
           "`account:name`; "
           "absent: the whole event type")


class PauseIn(_Checked):
    reason: str = Field(description=_REASON)
    expires_in_minutes: float | None = Field(
        default=None, description="default `[breaker] manual_pause_default_minutes` (60), "
                                  "at most `manual_pause_max_minutes` (10,080)")
    cohort: str | None = Field(default=None, max_length=400, description=_COHORT)


class ResumeIn(_Checked):
    reason: str = Field(description=_REASON)
    cohort: str | None = Field(default=None, max_length=400, description=_COHORT)


class ScopeStatus(BaseModel):
    state: Literal["open", "paused"]
    kind: Literal["automatic", "manual"] | None = None
    reason: str | None = None
    since: datetime | None = None
    expires_at: datetime | None = None
    confirmed: bool | None = None
    message: str
    scope: str | None = Field(default=None, description=(
        "with email/ip/project: the pause that holds this registration, the event type "
        "or a cohort scope (`account.created|email_domain:uni.example`)"))
    cohort: str | None = Field(default=None, description="the cohort of a cohort pause")


class CohortPause(ScopeStatus):
    type: str


class AuditEntry(BaseModel):
    at: datetime
    scope: str
    action: str
    actor: str
    reason: str
    expires_at: datetime | None
    previous_state: str


class VerdictIn(_Checked):
    verdict: VerdictName
    note: str = Field(default="", description="at most `[service] max_reason_chars` "
                                              "characters")


class VerdictOut(BaseModel):
    event_id: str
    verdict: VerdictName
    note: str
    actor: str
    at: datetime
    campaign: str | None
    batch: str | None = Field(default=None, description="undo it with "
                                                         "`POST /v1/verdicts/{batch}/undo`")


class WaveVerdictIn(VerdictIn):
    members: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None, max_length=100_000,
        description="the members to judge (default: every event of the campaign)")
    exclude: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=100_000, description="members left out")
    dry_run: bool = Field(default=False, description="only say what would be recorded")


class CampaignVerdictOut(BaseModel):
    campaign: str
    verdict: VerdictName
    events: int = Field(description="events the verdict was (or would be) recorded on")
    batch: str | None = Field(default=None, description="None on a dry run")
    recorded: list[str] = Field(default_factory=list)
    kept: dict[str, VerdictName] = Field(
        default_factory=dict, description="members keeping their own verdict (never "
                                          "overwritten by a wave verdict)")
    excluded: list[str] = Field(default_factory=list)
    replaced: list[str] = Field(default_factory=list,
                                description="members whose needs-info this replaces")


class UndoIn(_Checked):
    note: str = ""


class UndoOut(BaseModel):
    batch: str
    undo_batch: str
    restored: int
    superseded: list[str] = Field(description="events judged again since: left as they are")


class CampaignOut(BaseModel):
    campaign: str
    events: int
    first_ts: datetime
    last_ts: datetime
    max_score: float
    decisions: dict[str, int]
    verdicts: dict[str, int]
    accounts: list[str]
    projects: list[str]
    items: list[QueueItem]


class TokenIn(_Checked):
    role: Role
    name: str = Field(default="", max_length=NAME_MAX)


class TokenOut(BaseModel):
    id: int
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked: bool


class NewTokenOut(TokenOut):
    token: str


class ErrorOut(BaseModel):
    detail: str
