"""The barred list (caseworkers): search through the matcher, an entry, the history.

A search is audited with how many results it gave, never with the names searched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from api.deps import CaseworkerPrincipal, ConnDep, StateDep
from api.fields import Name
from vbs.errors import ServiceUnavailable, ValidationFailed
from vbs.repo.barred_list import BarredEntry, Duplicate, PreviousName
from vbs.services import barred_list

if TYPE_CHECKING:
    from vbs.services.matcher_holder import MatcherHolder

log = logging.getLogger("vbs.api")
router = APIRouter(tags=["list"])

_holder_lock = threading.Lock()


def matcher_holder(request: Request) -> MatcherHolder:
    """The process's matcher holder, kept on the app state (created on first use if the
    lifespan did not put one there)."""
    from vbs.services.matcher_holder import MatcherHolder

    state = request.app.state.vbs
    holder = getattr(state, "matcher", None) or state.extras.get("matcher")
    if isinstance(holder, MatcherHolder):
        return holder
    with _holder_lock:
        holder = state.extras.get("matcher")
        if not isinstance(holder, MatcherHolder):
            holder = MatcherHolder.from_settings(state.settings)
            state.extras["matcher"] = holder
        return holder


def matcher_finder(request: Request) -> barred_list.DuplicateFinder:
    return matcher_holder(request)


class PreviousNameOut(BaseModel):
    forenames: str
    surname: str


class DuplicateOut(BaseModel):
    entry_id: UUID = Field(description="the entry already listed that may be the same person")
    band: str
    probability: float
    matcher_version: str


class EntryOut(BaseModel):
    id: UUID
    list_ref: str | None
    forenames: str | None
    surname: str | None
    date_of_birth: str | None
    previous_names: list[PreviousNameOut]
    gender: str | None
    lists: list[str]
    case_reference: str | None
    barred_on: date
    status: str
    created_version: int
    removed_version: int | None
    created_at: datetime
    removed_at: datetime | None


class HistoryItemOut(BaseModel):
    id: int
    version: int
    kind: str
    entry_id: UUID
    at: datetime
    by_user: UUID | None
    by_role: str
    case_id: UUID | None
    reason: str


class EntryDetail(BaseModel):
    entry: EntryOut
    duplicates: list[DuplicateOut]
    history: list[HistoryItemOut]


class HistoryPage(BaseModel):
    current_version: int
    items: list[HistoryItemOut]
    next_after_id: int | None = Field(description="pass as after_id for the next page")


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    forenames: Name
    surname: Name
    date_of_birth: Annotated[str | None, Field(max_length=10)] = Field(
        default=None, description="YYYY-MM-DD, YYYY-MM or YYYY"
    )
    previous_names: Annotated[list[Name], Field(max_length=20)] = []
    gender: Literal["female", "male", "unspecified"] | None = None
    lists: Literal["children", "adults", "both"] = "both"


class SearchResult(BaseModel):
    entry: EntryOut
    band: str
    probability: float
    explanation: JsonValue = Field(description="per field: the level reached, weight, sentence")


class SearchOut(BaseModel):
    band: str
    list_version: int
    matcher_version: str
    results: list[SearchResult]


def previous_names_out(names: Iterable[PreviousName]) -> list[PreviousNameOut]:
    return [PreviousNameOut(forenames=p.forenames, surname=p.surname) for p in names]


def duplicates_out(dups: Iterable[Duplicate]) -> list[DuplicateOut]:
    return [
        DuplicateOut(
            entry_id=d.duplicate_of,
            band=d.band,
            probability=d.probability,
            matcher_version=d.matcher_version,
        )
        for d in dups
    ]


def entry_out(e: BarredEntry) -> EntryOut:
    return EntryOut(
        id=e.id,
        list_ref=e.list_ref,
        forenames=e.forenames,
        surname=e.surname,
        date_of_birth=e.date_of_birth,
        previous_names=previous_names_out(e.previous_names),
        gender=e.gender,
        lists=barred_list.lists_from_mask(e.lists),
        case_reference=e.case_reference,
        barred_on=e.barred_on,
        status=e.status,
        created_version=e.created_version,
        removed_version=e.removed_version,
        created_at=e.created_at,
        removed_at=e.removed_at,
    )


def _history_out(h: barred_list.HistoryItem) -> HistoryItemOut:
    return HistoryItemOut(
        id=h.id,
        version=h.version,
        kind=h.kind,
        entry_id=h.entry_id,
        at=h.at,
        by_user=h.by_user,
        by_role=h.by_role,
        case_id=h.case_id,
        reason=h.reason,
    )


@router.post("/v1/list/search", response_model=SearchOut)
def search(
    body: SearchIn,
    request: Request,
    principal: CaseworkerPrincipal,
    state: StateDep,
    conn: ConnDep,
) -> SearchOut:
    from vbs.services.matcher_holder import entry_identity, lists_for_workforce, to_outcome

    wanted, errors = barred_list.validate_entry(
        barred_list.EntryInput(
            forenames=body.forenames,
            surname=body.surname,
            date_of_birth=body.date_of_birth,
            lists="children",
            previous_names=body.previous_names,
            gender=body.gender,
        )
    )
    if wanted is None:
        raise ValidationFailed(errors)
    identity = entry_identity(wanted)
    holder = matcher_holder(request)
    try:
        result, version = holder.match(conn, identity, lists_for_workforce(body.lists))
    except Exception as exc:
        log.error("list search: matcher failed (%s)", type(exc).__name__)
        raise ServiceUnavailable("the matcher is not available; try again") from None
    outcome = to_outcome(result, version)
    with conn.transaction():
        results: list[SearchResult] = []
        for cand in outcome.candidates:
            entry = barred_list.get_entry(conn, cand.entry_id)
            results.append(
                SearchResult(
                    entry=entry_out(entry),
                    band=cand.band,
                    probability=cand.probability,
                    explanation=cand.explanation,
                )
            )
        state.audit.record(
            conn,
            principal,
            "list.search",
            "barred_list",
            None,
            {"results": len(results), "band": outcome.band, "list_version": version},
        )
    return SearchOut(
        band=outcome.band,
        list_version=version,
        matcher_version=outcome.matcher_version,
        results=results,
    )


@router.get("/v1/list/entries/{entry_id}", response_model=EntryDetail)
def get_entry(
    entry_id: UUID, principal: CaseworkerPrincipal, state: StateDep, conn: ConnDep
) -> EntryDetail:
    with conn.transaction():
        entry = barred_list.get_entry(conn, entry_id)
        dups = barred_list.duplicates_of(conn, entry_id)
        hist = barred_list.history(conn, entry_id=entry_id)
        state.audit.record(conn, principal, "list.entry.view", "barred_entry", str(entry_id))
    return EntryDetail(
        entry=entry_out(entry),
        duplicates=duplicates_out(dups),
        history=[_history_out(h) for h in hist],
    )


@router.get("/v1/list/history", response_model=HistoryPage)
def list_history(
    principal: CaseworkerPrincipal,
    conn: ConnDep,
    after_version: Annotated[int, Query(ge=0)] = 0,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> HistoryPage:
    with conn.transaction():
        current = barred_list.current_version(conn)
        items = barred_list.history(
            conn, after_version=after_version, after_id=after_id, limit=limit
        )
    return HistoryPage(
        current_version=current,
        items=[_history_out(h) for h in items],
        next_after_id=items[-1].id if len(items) == limit else None,
    )
