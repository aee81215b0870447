"""Every page on a fresh, empty registry: no exception, and a sentence that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from pagetest import page_test, texts

from vibedash.ui import frame

PAGES = (frame.OVERVIEW, frame.HISTORY, frame.COMPARE, frame.SOLVE, frame.PROMOTE, frame.RETENTION,
         frame.SETTINGS)


@pytest.mark.parametrize("page", PAGES)
def test_each_page_renders_on_an_empty_registry(page: str, engine, registry_url: str, monkeypatch,
                                                tmp_path: Path) -> None:
    at = page_test(page, registry_url, monkeypatch, tmp_path)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert "Traceback" not in shown
    if page != frame.SETTINGS:
        # an empty state that points somewhere: the sample registry, an import, or Netlify
        assert any(word in shown for word in ("sample registry", "import", "record", "No ", "no ", "Netlify")), shown
