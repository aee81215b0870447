"""History: every version, newest first, filtered and paged in SQL; and a timeline of scores and live periods."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timezone
from typing import Any

import streamlit as st

from vibedash.decisions.benchmarks import display_name
from vibedash.registry import queries
from vibedash.registry import records as registry
from vibedash.registry.records import HistoryFilter
from vibedash.ui import charts, deeplink, frame, tables

PAGE_SIZE = 50
MAX_ROWS_IN_VIEW = 15  # a page of 50 scrolls inside the table; fewer rows get a table just their height
NEWEST = "newest"
OLDEST = "oldest"
SORT_KEY = "history_sort"
TIMELINE_VERSIONS = 200
TIMELINE_DEFAULT_BENCHMARKS = 4
ALL = "all"
PAGE_KEY = "history_page"
KEEP = "session"  # filters survive a visit to a version's page and back
TABLE_GENERATION_KEY = "history_table_generation"
TIMELINE_KEY = "history_timeline_benchmarks"


# --- cached reads -----------------------------------------------------------------------------------------

@st.cache_data(ttl=frame.READ_TTL_S, show_spinner=False)
def load_choices(db_url: str) -> dict[str, list[str]]:
    with frame.read_session() as session:
        benchmarks = registry.benchmarks_in_registry(session)
        counts = queries.recent_headline_counts(session, TIMELINE_VERSIONS)
        # The timeline starts with the benchmarks most of its versions have (a benchmark scored once is no line).
        most_scored = sorted(benchmarks, key=lambda b: -counts.get(b, 0))[:TIMELINE_DEFAULT_BENCHMARKS]
        return {"benchmarks": benchmarks, "branches": registry.branches(session),
                "contexts": queries.deploy_contexts(session), "states": queries.deploy_states(session),
                "timeline_default": [b for b in benchmarks if b in most_scored]}


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner="Reading versions…")
def load_page(db_url: str, benchmarks: tuple[str, ...], filter_key: str, _flt: HistoryFilter,
              page: int, sort: str = NEWEST) -> tuple[list[dict[str, Any]], int]:
    """One page of versions plus the number matching (``filter_key`` is the filter's repr, for the cache)."""
    sort_by, descending = sort_order(sort)
    with frame.read_session() as session:
        return registry.history_page(session, list(benchmarks), _flt, page=page, page_size=PAGE_SIZE,
                                     sort_by=sort_by, descending=descending)


def sort_order(sort: str) -> tuple[str | None, bool]:
    """"aime25:desc" -> ("aime25", True); "newest" and "oldest" sort by creation time."""
    if sort in (NEWEST, OLDEST):
        return None, sort == NEWEST
    bench, _, direction = sort.partition(":")
    return bench, direction != "asc"


def sort_choices(benchmarks: list[str]) -> list[str]:
    return [NEWEST, OLDEST, *(f"{b}:{d}" for b in benchmarks for d in ("desc", "asc"))]


def sort_label(sort: str) -> str:
    if sort == NEWEST:
        return "Newest first"
    if sort == OLDEST:
        return "Oldest first"
    bench, descending = sort_order(sort)
    return f"{display_name(bench)}, {'highest' if descending else 'lowest'} first"


@st.cache_data(ttl=frame.READ_TTL_S, show_spinner="Drawing the timeline…")
def load_timeline(db_url: str, benchmarks: tuple[str, ...], branch: str | None) -> dict[str, list[dict[str, Any]]]:
    with frame.read_session() as session:
        rows = registry.score_timeline(session, list(benchmarks), limit=TIMELINE_VERSIONS, branch=branch)
        since = min((r["created_at"] for r in rows), default=None)
        periods = registry.live_periods(session)
        changes = queries.live_changes(session, since=since)
    periods, changes = charts.on_branch(periods, changes, branch)
    return {"rows": rows, "periods": periods, "changes": changes}


# --- state ------------------------------------------------------------------------------------------------

def first_page() -> None:
    """Filters changed: what was page 7 no longer exists, start again at page 1."""
    st.session_state[PAGE_KEY] = 1


def turn_page(step: int) -> None:
    st.session_state[PAGE_KEY] = max(1, st.session_state.get(PAGE_KEY, 1) + step)


def clear_filters(benchmarks: list[str]) -> None:
    st.session_state["history_branch"] = ALL
    st.session_state["history_context"] = ALL
    st.session_state["history_state"] = ALL
    st.session_state["history_dates"] = ()
    st.session_state["history_text"] = ""
    st.session_state[SORT_KEY] = NEWEST
    for bench in benchmarks:
        st.session_state[f"history_min_{bench}"] = None
    first_page()


def dates_text(dates: Any) -> str:
    """The "Created between" days as the URL writes them: 2026-01-01..2026-01-31, or 2026-01-01.. for a start."""
    days = list(dates or ())
    return f"{days[0].isoformat()}..{days[1].isoformat() if len(days) > 1 else ''}" if days else ""


def parse_dates(raw: str) -> tuple[date, ...]:
    start, _, end = raw.partition("..")
    try:
        days = tuple(date.fromisoformat(part) for part in (start, end) if part)
    except ValueError:
        raise ValueError("not days as YYYY-MM-DD..YYYY-MM-DD") from None
    if not days or len(days) == 2 and days[1] < days[0]:
        raise ValueError("not a start day, then an end day after it")
    return days


def deep_link(choices: dict[str, list[str]]) -> deeplink.DeepLink:
    """The URL keeps what the page shows (a link to it opens the same view): filters, sort, page."""
    return deeplink.DeepLink(
        frame.HISTORY,
        deeplink.choice("branch", "history_branch", [ALL, *choices["branches"]], what="a branch in the registry"),
        deeplink.choice("context", "history_context", [ALL, *choices["contexts"]], what="a deploy context here"),
        deeplink.choice("state", "history_state", [ALL, *choices["states"]], what="a deploy state here"),
        deeplink.Param("created", "history_dates", (), parse_dates, dates_text),
        deeplink.Param("q", "history_text", "", str, lambda text: (text or "").strip()),
        *(deeplink.number(f"min_{bench}", f"history_min_{bench}", None, low=0, high=100, kind=float)
          for bench in choices["benchmarks"]),
        deeplink.choice("sort", SORT_KEY, sort_choices(choices["benchmarks"]), what="a sort order here"),
        deeplink.page_number("page", PAGE_KEY),
        deeplink.Param("timeline", TIMELINE_KEY, list(choices["timeline_default"]),
                       lambda raw: benchmark_list(raw, choices["benchmarks"]), lambda chosen: ",".join(chosen or ())))


def benchmark_list(raw: str, benchmarks: list[str]) -> list[str]:
    """The timeline's benchmarks as the URL names them: aime25,hmmt25 (in the registry, each once)."""
    chosen = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    unknown = [b for b in chosen if b not in benchmarks]
    if unknown or not chosen:
        raise ValueError("not benchmarks with scores, separated by commas")
    return chosen


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def day_end(day: date) -> datetime:
    return datetime.combine(day, time.max, tzinfo=timezone.utc)


# --- pieces -----------------------------------------------------------------------------------------------

def filters(choices: dict[str, list[str]]) -> HistoryFilter:
    """The filter widgets; every change goes back to page 1."""
    benchmarks = choices["benchmarks"]
    with st.container(border=True):
        branch_col, context_col, state_col, dates_col, text_col = st.columns([2, 2, 1.5, 2.5, 3])
        branch = branch_col.selectbox("Branch", [ALL, *choices["branches"]], key="history_branch",
                                      persist_state=KEEP, on_change=first_page)
        context = context_col.selectbox("Context", [ALL, *choices["contexts"]], key="history_context",
                                        persist_state=KEEP, on_change=first_page,
                                        help="Netlify deploy context of the latest deploy")
        deploy_state = state_col.selectbox("State", [ALL, *choices["states"]], key="history_state",
                                           persist_state=KEEP, on_change=first_page,
                                           help="State of the version's latest deploy")
        dates = dates_col.date_input("Created between", key="history_dates", persist_state=KEEP,
                                     on_change=first_page, format="YYYY-MM-DD",
                                     help="Pick a start and an end day (UTC)")
        text = text_col.text_input("Search", key="history_text", persist_state=KEEP, on_change=first_page,
                                   placeholder="sha prefix or words of the message")
        minimums: dict[str, float] = {}
        if benchmarks:
            with st.expander("Minimum scores"):
                for column, bench in zip(st.columns(len(benchmarks)), benchmarks):
                    value = column.number_input(f"{display_name(bench)} ≥", min_value=0.0, max_value=100.0,
                                                value=None, step=1.0, key=f"history_min_{bench}",
                                                persist_state=KEEP, on_change=first_page, placeholder="any")
                    if value is not None:
                        minimums[bench] = float(value)
    since = until = None
    if isinstance(dates, (tuple, list)):
        if len(dates) >= 1:
            since = day_start(dates[0])
        if len(dates) == 2:
            until = day_end(dates[1])
    return HistoryFilter(branch=None if branch == ALL else branch, context=None if context == ALL else context,
                         state=None if deploy_state == ALL else deploy_state, since=since, until=until,
                         minimums=minimums, text=text.strip() or None)


def pager(page: int, pages: int, total: int, benchmarks: list[str]) -> str:
    """Sort order (applied in the database, across pages) and the page buttons; returns the sort order."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        choices = sort_choices(benchmarks)
        if st.session_state.get(SORT_KEY) not in choices:
            st.session_state[SORT_KEY] = NEWEST
        sort = st.selectbox("Sort all versions by", choices, key=SORT_KEY, format_func=sort_label,
                            on_change=first_page, width=260, persist_state=KEEP,
                            help="Sorts every matching version, across pages. Clicking a column header sorts "
                                 "only the rows of this page.")
        st.space("stretch")
        st.markdown(f"page {page} of {pages} · {total:,} version{'s' if total != 1 else ''}", width="content")
        st.button("Previous", key="history_previous", icon=":material/chevron_left:", disabled=page <= 1,
                  on_click=turn_page, args=(-1,))
        st.button("Next", key="history_next", icon=":material/chevron_right:", disabled=page >= pages,
                  on_click=turn_page, args=(1,))
    return sort


def versions_table(rows: list[dict[str, Any]], benchmarks: list[str]) -> None:
    """The page of versions; selecting a row opens its detail page."""
    generation = st.session_state.setdefault(TABLE_GENERATION_KEY, 0)
    # A fresh key per visit: the selection that opened a version must not reopen it when coming back.
    selection = tables.show(tables.history_table(rows, benchmarks), key=f"history_table_{generation}",
                            height=tables.fitted_height(len(rows), MAX_ROWS_IN_VIEW), on_select="rerun",
                            selection_mode="single-row")
    chosen = selection.selection.rows if selection is not None else []
    if chosen:
        st.session_state[TABLE_GENERATION_KEY] = generation + 1
        st.switch_page(frame.VERSION, query_params={"commit": rows[chosen[0]]["sha"]})
    st.caption("Select a row, or click its version, to open the version's detail page. Clicking a column header "
               "sorts this page only; “Sort all versions by” sorts across every page.")


def timeline(benchmarks: list[str], branch: str | None) -> None:
    st.subheader("Timeline")
    if not benchmarks:
        frame.empty_state("No scores yet: the timeline appears once versions have results.")
        return
    chosen = st.multiselect("Benchmarks", benchmarks, format_func=display_name, key=TIMELINE_KEY,
                            persist_state=KEEP)
    if not chosen:
        st.caption("Pick at least one benchmark.")
        return
    data = load_timeline(frame.db_url(), tuple(chosen), branch)
    if not data["rows"]:
        frame.empty_state("No version on this branch has results on these benchmarks.")
        return
    st.altair_chart(charts.timeline_chart(data["rows"], data["periods"], data["changes"]), width="stretch")
    where = f" on {branch}" if branch else ""
    whose = f"a deploy of {branch}" if branch else "a deploy"
    st.caption(f"The newest {TIMELINE_VERSIONS} versions{where}. Shaded: when {whose} was live. Dashed lines: "
               "promotions and rollbacks (hover for who and when).")


# --- the page ---------------------------------------------------------------------------------------------

frame.header("History", "Every version, newest first, with its headline scores and its latest deploy.")
frame.require_registry()
choices = load_choices(frame.db_url())
link = deep_link(choices)
link.read()
flt = filters(choices)
benchmarks = choices["benchmarks"]
page = st.session_state.setdefault(PAGE_KEY, 1)
sort = st.session_state.get(SORT_KEY) or NEWEST
if sort not in sort_choices(benchmarks):
    sort = NEWEST
rows, total = load_page(frame.db_url(), tuple(benchmarks), repr(flt), flt, page, sort)
pages = max(1, math.ceil(total / PAGE_SIZE))
if page > pages:  # the registry shrank, or the filters narrowed, since the page was chosen
    st.session_state[PAGE_KEY] = page = pages
    rows, total = load_page(frame.db_url(), tuple(benchmarks), repr(flt), flt, page, sort)
link.write()

if total == 0 and flt == HistoryFilter():
    frame.empty_state("The registry has no versions yet. Load the sample registry or connect Netlify on the "
                      "Overview page, or record versions with `python -m vibedash record`.")
    st.page_link(frame.OVERVIEW, label="Go to the overview", icon=":material/dashboard:")
elif total == 0:
    frame.empty_state("No version matches these filters.", icon=":material/filter_alt_off:")
    st.button("Clear filters", key="history_clear", icon=":material/filter_alt_off:", on_click=clear_filters,
              args=(benchmarks,))
else:
    pager(page, pages, total, benchmarks)
    versions_table(rows, benchmarks)
    timeline(benchmarks, flt.branch)
