"""The walks publishers make fetchers take, written once (as Kingfisher Collect's base spiders).

Each walk is a generator a fetcher delegates to (`yield from`): it calls back the fetcher's
own function for one page, which yields the page's documents and returns where to go next;
the walk keeps the checkpoint, so every fetcher built on it resumes the same way.

- `follow_links`: a URL per page, the next one named by the page (OCDS `links.next`,
  ProZorro `next_page.uri`); checkpoint `{"next": url}`.
- `iteration_tokens`: an opaque token per page (TED's ITERATION mode); checkpoint `{"token"}`.
- `numbered_pages`: page 1, 2, 3… of each of several searches (EIS, USAspending); checkpoint
  `{"search": i, "page": n}` plus what the page function keeps in `state` (a keyset).
- `each_day`: one request or more per day of a date window (CBR rates, the EIS document
  service); checkpoint `{key: next day}`.
- `each_document`: the detail behind each entry of a listing, archived as a document.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import date, timedelta
from typing import Any

from survtrack.scrapers.scrape import Checkpoint, FetchContext, LayoutChanged

Page = Generator[Any, None, Any]  # yields documents, returns where the walk goes next


def follow_links(ctx: FetchContext, start: str, page: Callable[[str], Page]) -> Iterator:
    """`page(url)` yields the page's documents and returns the next URL (None: the end).
    A next link already followed is a changed layout, not an endless walk."""
    url = ctx.checkpoint.get("next", start)
    seen: set[str] = set()
    while url:  # a checkpoint of None: the last page was done
        seen.add(url)
        nxt = yield from page(url)
        if nxt in seen:
            raise LayoutChanged(url, "a new next-page link", f"{nxt} repeats")
        yield Checkpoint({"next": nxt}, more=bool(nxt))
        url = nxt


def iteration_tokens(ctx: FetchContext, page: Callable[[str | None], Page]) -> Iterator:
    """`page(token)` yields the page's documents and returns (next token, entries on the
    page); the walk ends at a page with no next token or no entries."""
    token = ctx.checkpoint.get("token")
    while True:
        token, entries = yield from page(token)
        more = bool(token) and bool(entries)
        yield Checkpoint({"token": token if more else None}, more=more)
        if not more:
            return


def numbered_pages(ctx: FetchContext, searches: list,
                   page: Callable[[Any, int, dict], Page]) -> Iterator:
    """`page(search, number, state)` yields one page's documents and returns True after the
    last page of that search. `state` lives for one search; its keys not starting with `_`
    are kept in the checkpoint and given back on resume (a keyset to continue from)."""
    cp = ctx.checkpoint
    first = cp.get("search", 0)
    for i in range(first, len(searches)):
        resumed = i == first
        number = cp.get("page", 1) if resumed else 1
        state = {k: v for k, v in cp.items() if k not in ("search", "page")} if resumed else {}
        while True:
            last = yield from page(searches[i], number, state)
            kept = {k: v for k, v in state.items() if not k.startswith("_")}
            nxt = {"search": i + 1, "page": 1} if last else {"search": i, "page": number + 1,
                                                             **kept}
            yield Checkpoint(nxt, more=not (last and i == len(searches) - 1))
            if last:
                break
            number += 1


def each_day(ctx: FetchContext, first: date, last: date, day_page: Callable[[date], Page],
             key: str = "date") -> Iterator:
    """`day_page(day)` yields the day's documents, for each day from `first` to `last`."""
    day = date.fromisoformat(ctx.checkpoint[key]) if ctx.checkpoint.get(key) else first
    while day <= last:
        yield from day_page(day)
        day += timedelta(days=1)
        yield Checkpoint({key: day.isoformat()}, more=day <= last)


def each_document(ctx: FetchContext, entries: Iterable[tuple[str, str | None]], expect: str,
                  media_type: str, **request) -> Iterator:
    """Fetch each (detail URL, public URL) of a listing and archive it as a document."""
    for url, public in entries:
        resp = ctx.client.get(url, kind="detail", expect=expect, **request)
        yield ctx.document(url, resp.content, media_type, public)
