"""Deep links: what a person chose on a page (filters, paging, the version on show) kept in the page's URL and
restored from it, so a reload, a bookmark or a shared link opens the same view.

A page declares its parameters (:class:`Param`: the query parameter, the session-state key of the widget it
mirrors, the value it has when nothing was chosen) in a :class:`DeepLink`, calls :meth:`DeepLink.read` before it
draws those widgets and :meth:`DeepLink.write` after. Widgets it manages take their value from session state only
(no ``index=``/``value=``/``default=`` of their own), or Streamlit warns that two places set it.

- A URL with parameters this page did not write itself (a shared link, a bookmark, a reload, a link from another
  page) sets every managed widget: the parameters it has to their values, the others to their defaults.
- A URL without any (the menu) keeps what the session chose, and ``write`` then shows it in the URL.
- A value a page cannot show (an unknown filter, a page past the end, a version that is no candidate) is ignored,
  with a quiet notice that says so, never an exception; the URL then names what is shown instead.
- Parameters a page does not declare are dropped (``?commit=`` left over from the version page), so leaving a
  page never carries its parameters to the next one.

Streamlit's own ``bind="query-params"`` is not used: it names parameters after widget keys, puts format_func
labels in the URL and drops a bad value without a word.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from vibedash.ui import format as fmt

WRITTEN_KEY = "deeplink_written"  # (page, {name: text}) the last run of any page wrote


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Param:
    """One query parameter: ``name`` in the URL, ``key`` in st.session_state (the widget's key), ``default`` when
    the URL does not say (left out of the URL, so the plain page has a plain URL, unless ``always``: a default
    that follows the data, like "the newest version", would make the same link show something else tomorrow).

    ``parse`` turns the URL's text into the widget's value and raises ValueError with the reason when the page
    cannot show it; ``text`` turns the widget's value back into the URL's text ("" leaves it out)."""

    name: str
    key: str
    default: Any
    parse: Callable[[str], Any] = str
    text: Callable[[Any], str] = field(default=_text)
    always: bool = False


def choice(name: str, key: str, options: Sequence[Any], default: Any = None, *,
           what: str = "one of the choices", listed: bool = False) -> Param:
    """A parameter naming one of ``options`` (their text in the URL); ``default`` is the first one unless given.
    With ``listed``, a wrong value's notice lists the choices (for a handful of plain words)."""
    by_text = {_text(option): option for option in options}

    def parse(raw: str) -> Any:
        if raw not in by_text:
            raise ValueError(f"not {what}" + (f": {', '.join(by_text)}" if listed else ""))
        return by_text[raw]

    return Param(name, key, options[0] if default is None and options else default, parse)


def number(name: str, key: str, default: float, *, low: float | None = None,
           high: float | None = None, kind: type = int) -> Param:
    """A whole number (or, with ``kind=float``, any number) between ``low`` and ``high``."""
    def parse(raw: str) -> float:
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError("not a number" if kind is float else "not a whole number") from None
        if math.isnan(value) or (low is not None and value < low) or (high is not None and value > high):
            bounds = (f"between {low:g} and {high:g}" if low is not None and high is not None
                      else f"at least {low:g}" if low is not None else f"at most {high:g}")
            raise ValueError(f"not {bounds}")
        return value

    def text(value: float | None) -> str:
        return "" if value is None else str(value) if isinstance(value, int) else f"{value:g}"

    return Param(name, key, default, parse, text)


def page_number(name: str, key: str, pages: int | None = None) -> Param:
    """A page of a paged table, from 1; past the last page (when ``pages`` is known) it is ignored."""
    return number(name, key, 1, low=1, high=pages)


class DeepLink:
    """The parameters of one page (``page``: its file, as in vibedash.ui.frame)."""

    def __init__(self, page: str, *params: Param) -> None:
        self.page = page
        self.params = params

    def read(self) -> None:
        """Before the widgets: drop parameters this page does not know, and open the view the URL names when this
        page's last run did not write it (saying which values were ignored, where it is called). Every managed
        key then has a value (its default when nothing chose one), so widgets draw from session state alone."""
        names = {p.name for p in self.params}
        for name in list(st.query_params):
            if name not in names:
                del st.query_params[name]
        wanted = {p.name: st.query_params[p.name] for p in self.params if p.name in st.query_params}
        if wanted and st.session_state.get(WRITTEN_KEY) != (self.page, wanted):
            ignored = []
            for p in self.params:
                raw = wanted.get(p.name)
                value = p.default
                if raw is not None:
                    try:
                        value = p.parse(raw.strip())
                    except ValueError as exc:
                        ignored.append((p.name, raw, str(exc)))
                st.session_state[p.key] = value
            if ignored:
                say_ignored(ignored)
        for p in self.params:
            if p.key not in st.session_state:
                st.session_state[p.key] = p.default

    def shown(self) -> dict[str, str]:
        """The parameters the URL should have for what the widgets hold now (defaults left out)."""
        out = {}
        for p in self.params:
            text = p.text(st.session_state.get(p.key, p.default))
            if text and (p.always or text != p.text(p.default)):
                out[p.name] = text
        return out

    def write(self) -> None:
        """After the widgets: put what they show in the URL (a URL that changes nothing is not rewritten)."""
        shown = self.shown()
        for p in self.params:
            if p.name in shown:
                if st.query_params.get(p.name) != shown[p.name]:
                    st.query_params[p.name] = shown[p.name]
            elif p.name in st.query_params:
                del st.query_params[p.name]
        st.session_state[WRITTEN_KEY] = (self.page, shown)


def own_only(page: str) -> None:
    """A page with nothing to keep in its URL: drop whatever parameters the previous page left there."""
    link = DeepLink(page)
    link.read()
    link.write()


def say_ignored(ignored: list[tuple[str, str, str]]) -> None:
    """A quiet notice of the link's values that were ignored; the URL's text is shown as typed."""
    parts = [f"{name}={fmt.plain(raw[:60])} ({fmt.plain(reason)})" for name, raw, reason in ignored]
    st.caption(":material/link_off: Ignored from the link, showing the default instead: " + "; ".join(parts) + ".")
