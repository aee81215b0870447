"""vibedash: the dashboard. Run with `streamlit run app.py`.

`streamlit run` finds ``app`` below (an ``st.App``) and serves it; its lifespan warms the server in the
background (:mod:`vibedash.ui.warm_up`: the first page's imports and reads) while the browser loads, so the
first page is drawn sooner. Every browser session then runs this file as its script (as ``__main__``, also
under AppTest): :func:`route` registers every page (st.navigation; the page files are named in
vibedash.ui.frame), shows which registry and Netlify site are in use, and opens the registry once before any
page runs.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent
# A local file: a Material icon as page icon is fetched from a font CDN, which fails offline.
FAVICON = ROOT / "static" / "favicon.png"


def route() -> None:
    from vibedash.ui import auth, frame

    st.set_page_config(page_title="vibedash", page_icon=str(FAVICON), layout="wide")
    settings_page = st.Page(frame.SETTINGS, title="Settings", icon=":material/settings:")
    navigation = st.navigation({
        "Registry": [
            st.Page(frame.OVERVIEW, title="Overview", icon=":material/dashboard:", default=True),
            st.Page(frame.HISTORY, title="History", icon=":material/history:"),
            st.Page(frame.VERSION, title="Version", icon=":material/commit:", url_path=frame.VERSION_URL_PATH,
                    visibility="hidden"),
            st.Page(frame.COMPARE, title="Compare", icon=":material/compare_arrows:"),
            st.Page(frame.SOLVE, title="Solve", icon=":material/calculate:"),
        ],
        "Deploys": [
            st.Page(frame.PROMOTE, title="Promote", icon=":material/rocket_launch:"),
            st.Page(frame.RETENTION, title="Retention", icon=":material/inventory_2:"),
        ],
        "Setup": [settings_page],
    })

    auth.require_sign_in()  # with login configured ([auth] in secrets.toml), nothing shows before signing in
    frame.sidebar_status()
    auth.sidebar()
    # Settings still opens when the registry cannot: it shows the database URL in use, usually what needs fixing.
    if navigation.url_path != settings_page.url_path:
        frame.require_registry()

    navigation.run()


if __name__ == "__main__":  # a browser session (or AppTest) runs this file as its script
    route()
else:  # imported by `streamlit run` (or an ASGI server such as uvicorn) to find the server's app
    from vibedash.ui.warm_up import lifespan_for

    app = st.App(__file__, lifespan=lifespan_for(ROOT))
