"""Paging `taobao.trades.sold.increment.get` without losing trades that change mid-pull.

The list is sorted by `modified`, newest first, and paged by `page_no`. Offset paging over a
list that changes while it is read loses rows: when a trade already read is modified again it
leaves a closed window (`end_modified` in the past) and every later row moves up one place,
so one row slips into a page already read. TOP's advice, "page from the last page
backwards", fails the other way round: in a window still open, a modified trade moves to the
front and pushes a row into the pages already read at the back.

So the connector pages by key instead (`PageCursor`): each page asks for the window's trades
modified at or before an *anchor* second, and the next page moves the anchor down to the
`modified` second of the last (oldest) row just read. Rows that leave or join the window above
the anchor cannot shift anything below it. Ties are handled with:

- `seen`: ids already returned at the anchor second (the next query starts at that second
  again, so they come back once more and are dropped);
- `page`: when a whole page shares one second (a flash sale), the anchor cannot move, and the
  next page of the *same* query is read.

TOP bounds are whole seconds and their inclusiveness is not documented, so each query asks
one second more on both sides (`start - 1s`, `anchor + 1s`) and the connector filters rows to
the half-open window `[start, end)` itself.

If a page is not sorted newest first (a gateway that ignores the documented order), the cursor
falls back to plain `page_no` stepping over a fixed query, which is right for a list that does
not change while it is read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Final

from shopbridge.connectors.errors import Rejected

__all__ = ["PageCursor"]

_TOKEN: Final = re.compile(r"^v1:(-?\d{1,12}):(\d{1,6}):([0-9A-Za-z_,\-]*)$")
_MAX_SEEN: Final = 500
"""Bound on `seen` (a page holds at most 100 rows; this only guards hand-made tokens)."""


@dataclass(frozen=True)
class PageCursor:
    """Where the next page of one pull window starts (all times in epoch seconds)."""

    anchor: int
    """Rows modified at or before this second are still to be read."""
    page: int = 1
    """`page_no` within the query bounded by `anchor`."""
    seen: frozenset[str] = field(default_factory=frozenset)
    """Trade ids at the `anchor` second already returned."""

    def encode(self) -> str:
        return f"v1:{self.anchor}:{self.page}:{','.join(sorted(self.seen))}"

    @classmethod
    def decode(cls, token: str) -> PageCursor:
        match = _TOKEN.fullmatch(token.strip())
        if match is None:
            reason = "the page token is not one this connector issued"
            raise Rejected(reason, reason=reason, platform="taobao", code="bad_page_token")
        seen = frozenset(s for s in match.group(3).split(",") if s)
        page = int(match.group(2))
        if page < 1 or len(seen) > _MAX_SEEN:
            reason = "the page token is not one this connector issued"
            raise Rejected(reason, reason=reason, platform="taobao", code="bad_page_token")
        return cls(anchor=int(match.group(1)), page=page, seen=seen)

    def advance(
        self, rows: Sequence[tuple[str | None, int | None]], *, has_next: bool, floor: int
    ) -> PageCursor | None:
        """The cursor after a page of `(trade id, modified second)` rows in platform order;
        None when the window is done. `floor` is the window's first second."""
        if not has_next or not rows:
            return None
        seconds = [second for _, second in rows if second is not None]
        if not seconds or any(a < b for a, b in pairwise(seconds)):
            return PageCursor(self.anchor, self.page + 1, self.seen)
        last = seconds[-1]
        if last < floor:
            return None  # everything after this row is older than the window
        if last < self.anchor:
            seen = frozenset(tid for tid, second in rows if second == last and tid)
            return PageCursor(last, 1, seen)
        return PageCursor(self.anchor, self.page + 1, self.seen)
