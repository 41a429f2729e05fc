"""`openrlb view`: the API gives `plot`'s and `table`'s numbers, refuses writes, survives garbage, escapes
names, follows a store being written, and the page works in a real browser."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse

import numpy as np
import pytest
from browser_helper import browser, page  # noqa: F401

from openrlb_cli.model import RunRecord, Series
from openrlb_cli.render import figures as fg
from openrlb_cli.render import tables as tb
from openrlb_cli.selection import load_curves, resolve
from openrlb_cli.store import Store
from openrlb_cli.view.server import ViewApp, serve

EVIL = "<script>alert('x')</script>"


def _write(s: Store, exp: str, env: str, seed: int, lr: float, n: int = 80) -> None:
    steps = np.arange(n) * 100.0
    vals = lr * 1000 * np.log1p(steps) + seed
    s.write_run(RunRecord("t", f"{exp}/{env}/{seed}/{lr}", project="p", experiment=exp, env=env, seed=seed,
                          config={"lr": lr}, series={"r": Series(steps, vals, 1.7e9 + steps)}))


@pytest.fixture
def store_path(db_path):
    with Store(db_path) as s:
        for exp in ("ppo", EVIL):
            for env in ("CartPole-v1", EVIL):
                for seed in (0, 1, 2):
                    for lr in (0.001, 0.003):
                        _write(s, exp, env, seed, lr)
    return db_path


@pytest.fixture
def app(store_path):
    a = ViewApp(store_path, ["?project=p"])
    yield a
    a.close()


@pytest.fixture
def server(app):
    srv = serve(app, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _get(app, path, **params):
    query = urllib.parse.urlencode(params, doseq=True)
    status, ctype, body = app.handle(path + ("?" + query if query else ""))
    return status, json.loads(body) if ctype == "application/json" else body


def _request(srv, method, path, host=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    headers = {"Host": host} if host else {}
    conn.request(method, path, body=body, headers=headers)
    res = conn.getresponse()
    data = res.read()
    conn.close()
    return res.status, dict(res.getheaders()), data


def test_curves_are_plots_numbers(app, store_path):
    status, doc = _get(app, "/api/curves", spec=["ppo"], env=["CartPole-v1"], metric="r", band="std", width=0,
                       group_by="lr")
    assert status == 200, doc
    with Store(store_path) as s:
        from openrlb_cli.selection import group_by_config

        curves = load_curves(s, group_by_config(resolve(s, ["ppo"], ["CartPole-v1"], "r"), "lr"))
    ref = fg.compute_panels(curves, fg.PlotOptions())
    assert [ln["label"] for ln in doc["panels"][0]["lines"]] == ["ppo lr=0.001", "ppo lr=0.003"]
    for ln_ref, ln in zip(ref.panels[0].lines, doc["panels"][0]["lines"], strict=True):
        np.testing.assert_allclose(ln["solid"], ln_ref.stats.mean, rtol=1e-6)
        np.testing.assert_allclose(ln["bands"]["std"][1], ln_ref.stats.mean + ln_ref.stats.std, rtol=1e-6)


def test_table_is_tables_numbers(app, store_path):
    status, doc = _get(app, "/api/table", spec=["ppo"], env=["CartPole-v1"], metric="r", last_n=10)
    assert status == 200, doc
    with Store(store_path) as s:
        ref = json.loads(tb.to_json(tb.score_table(load_curves(s, resolve(s, ["ppo"], ["CartPole-v1"], "r")),
                                                   last_n=10)))
    assert doc["rows"] == ref["rows"]


def test_downsampling_keeps_extremes_and_shrinks(app, store_path):
    rng = np.random.default_rng(0)
    with Store(store_path) as s:
        for seed in (0, 1, 2):
            steps = np.arange(20_000) * 10.0
            s.write_run(RunRecord("t", f"long/{seed}", project="q", experiment="long", env="E", seed=seed,
                                  series={"r": Series(steps, np.cumsum(rng.normal(size=steps.size)))}))
    full = _get(app, "/api/curves", spec=["long"], metric="r", grid=5000, width=0)[1]
    small = _get(app, "/api/curves", spec=["long"], metric="r", grid=5000, width=100)[1]
    a, b = full["panels"][0]["lines"][0], small["panels"][0]["lines"][0]
    assert len(b["x"]) < len(a["x"]) / 4
    assert max(b["solid"]) == max(a["solid"]) and min(b["bands"]["std"][0]) == min(a["bands"]["std"][0])
    assert set(b["x"]) <= set(a["x"])


def test_overview_selection_runs_and_run(app):
    ov = _get(app, "/api/overview")[1]
    assert {e["experiment"] for e in ov["experiments"]} == {"ppo", EVIL}
    sel = _get(app, "/api/selection", spec=["?project=p"])[1]
    assert sel["config_keys"] == ["lr"] and {e["env"] for e in sel["envs"]} == {"CartPole-v1", EVIL}
    runs = _get(app, "/api/runs", spec=["ppo"], env=["CartPole-v1"])[1]
    assert runs["total"] == 6
    run = _get(app, "/api/run", uid=runs["runs"][0]["uid"])[1]
    assert run["config"] == {"lr": 0.001} or run["config"] == {"lr": 0.003}
    assert run["series"][0]["key"] == "r" and "provenance" in run
    status, agg = _get(app, "/api/aggregate", spec=["?project=p"], metric="r", reps=200)
    assert status == 200 and {r["metric"] for r in agg["records"]} >= {"iqm", "median"}


@pytest.mark.parametrize("target", [
    "/nope", "/static/../server.py", "/static/%2e%2e/server.py", "/api/curves", "/api/curves?spec=",
    "/api/curves?spec=ppo&band=%3Cx%3E", "/api/curves?spec=ppo&smooth=-1", "/api/curves?spec=ppo&smooth=abc",
    "/api/curves?spec=ppo&grid=1e9", "/api/curves?spec=ppo&width=99999999999999999999",
    "/api/curves?spec=ppo&max_steps=nan", "/api/curves?spec=nosuch", "/api/curves?spec=%ZZ%00",
    "/api/curves?spec=ppo&metric=nope", "/api/curves?spec=ppo&group_by=nope", "/api/run", "/api/run?uid=zzzz",
    "/api/table?spec=ppo&last_n=0", "/api/table?spec=ppo&last_frac=7", "/api/curves?spec=?seed=abc",
    "/api/curves?" + "spec=ppo&" * 300, "/api/curves?spec=" + "x" * 20000, "/api/curves?%%%&&&===",
    "/api/aggregate?spec=ppo&reps=1", "/api/curves?spec=ppo&x=<svg>",
])
def test_garbage_is_a_4xx(app, target):
    status, doc = app.handle(target)[:2], json.loads(app.handle(target)[2])
    assert 400 <= status[0] < 500, (target, status, doc)
    assert isinstance(doc["error"], str) and doc["error"]


def test_http_only_get_and_head_and_localhost(server):
    status, headers, body = _request(server, "GET", "/")
    assert status == 200 and b"<title>openrlb view</title>" in body
    assert headers["X-Content-Type-Options"] == "nosniff" and "default-src 'self'" in headers["Content-Security-Policy"]
    status, _, body = _request(server, "HEAD", "/api/version")
    assert status == 200 and body == b""
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        status, headers, _ = _request(server, method, "/api/version", body=b"x=1")
        assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert _request(server, "GET", "/api/version", host="evil.example:80")[0] == 403  # DNS rebinding
    assert server.server_address[0] == "127.0.0.1"
    status, _, _ = _request(server, "GET", "/api/curves?" + "a" * 70000)
    assert 400 <= status < 500
    assert _request(server, "GET", "/api/version")[0] == 200  # still serving


def test_names_reach_the_page_only_as_json(app):
    status, body = app.handle("/api/curves?spec=%3Fproject%3Dp&metric=r")[::2]
    assert status == 200 and b"<script>" not in body  # `<` is escaped in every JSON answer
    assert EVIL in [p["env"] for p in json.loads(body)["panels"]]


def test_version_moves_when_the_store_is_written(app, store_path):
    v0 = _get(app, "/api/version")[1]["version"]
    assert _get(app, "/api/version")[1]["version"] == v0
    before = _get(app, "/api/runs", spec=["ppo"])[1]["total"]
    with Store(store_path) as s:
        _write(s, "ppo", "CartPole-v1", 9, 0.001)
    assert _get(app, "/api/version")[1]["version"] == v0 + 1
    assert _get(app, "/api/runs", spec=["ppo"])[1]["total"] == before + 1  # not a stale cached answer


# ---------------------------------------------------------------------------- in a real browser
@pytest.mark.slow
def test_view_in_chromium(server, store_path, page, tmp_path):  # noqa: F811
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    page.page.goto(url)
    page.page.wait_for_function("() => document.body.dataset.drawn >= 1")
    page.page.wait_for_selector("#table table")
    assert page.errors == [] and page.dialogs == []
    # ?project=p has two envs: both drawn, one canvas per panel, hostile names shown as text
    assert page.page.locator("#charts .or-panel canvas").count() == 2
    assert EVIL in page.page.locator("#charts .or-panel-title").all_text_contents()
    assert EVIL in page.page.locator("#charts .or-legend").text_content()

    # switching env: only that panel
    drawn = int(page.page.evaluate("document.body.dataset.drawn"))
    page.page.locator("#envs li", has_text="CartPole-v1").click()
    page.page.wait_for_function(f"() => document.body.dataset.drawn > {drawn}")
    assert page.page.locator("#charts .or-panel-title").all_text_contents() == ["CartPole-v1"]
    before = page.canvas_pixels(0)

    # group by a config key: one line per value
    drawn += 1
    page.page.select_option("#groupby", "lr")
    page.page.wait_for_function(f"() => document.body.dataset.drawn > {drawn}")
    legend = page.page.eval_on_selector_all("#charts .or-legend-item", "els => els.map(e => e.lastChild.textContent)")
    assert sorted(legend) == sorted(["ppo lr=0.001", "ppo lr=0.003", f"{EVIL} lr=0.001", f"{EVIL} lr=0.003"])
    assert page.canvas_pixels(0) != before

    # legend toggle and zoom change the pixels
    grouped = page.canvas_pixels(0)
    page.page.locator("#charts .or-legend-item").first.click()
    assert page.canvas_pixels(0) != grouped
    page.drag("#charts .u-over", 80, 200, 60)
    zoomed = page.page.evaluate("document.getElementById('charts').openrlb.charts[0].scales.x.min")
    assert zoomed > 0

    # a run's config and provenance
    page.page.locator("#runs button.link").first.click()
    page.page.wait_for_selector("#detail:not([hidden])")
    assert '"lr":' in page.page.locator("#detailbody").text_content()

    # the store is written while the page is open: it reloads by itself
    drawn = int(page.page.evaluate("document.body.dataset.drawn"))
    with Store(store_path) as s:
        _write(s, "ppo", "CartPole-v1", 7, 0.01)
    page.page.wait_for_function(f"() => document.body.dataset.drawn > {drawn}", timeout=10_000)
    assert "ppo lr=0.01" in page.page.locator("#charts .or-legend").text_content()
    page.page.screenshot(path=str(tmp_path / "view.png"), full_page=True)
    assert page.errors == [] and page.dialogs == []


def test_keep_alive_responses_are_not_held_back_by_nagle(server):
    """Headers and body are two writes; with Nagle's algorithm the body waited for the client's
    delayed ACK (~40 ms per response on Linux). The accepted sockets must have TCP_NODELAY set."""
    import socket

    seen = []
    handler = server.RequestHandlerClass
    original = handler.setup

    def setup(self):
        original(self)
        seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    handler.setup = setup
    try:
        status, _, _ = _request(server, "GET", "/api/state")
    finally:
        handler.setup = original
    assert status == 200
    assert seen and all(seen)


def test_a_line_keeps_its_colour_when_the_env_changes(db_path):
    """Colours follow the whole selection's lines and the store's style book, not the envs on screen:
    `a` is absent from env Y, and `b`/`c` must not take other colours there."""
    from openrlb_cli.render import figures as fg
    from openrlb_cli.render.chart_payload import hex_color
    from openrlb_cli.render.styles import style_book_path, update_style_book

    with Store(db_path) as s:
        for exp, envs in (("a", ("X",)), ("b", ("X", "Y")), ("c", ("X", "Y"))):
            for env in envs:
                _write(s, exp, env, 0, 0.001)
    app = ViewApp(db_path)
    try:
        x = _get(app, "/api/curves", spec=["?project=p"], env=["X"], metric="r")[1]["colors"]
        y = _get(app, "/api/curves", spec=["?project=p"], env=["Y"], metric="r")[1]["colors"]
        assert set(x) == {"a", "b", "c"} and set(y) == {"b", "c"}
        assert y == {k: x[k] for k in ("b", "c")}
        assert len(set(x.values())) == 3
        update_style_book(style_book_path(db_path), ["c", "b"])  # `plot` drew c and b first: c slot 0, b slot 1
        app2 = ViewApp(db_path)
        try:
            y2 = _get(app2, "/api/curves", spec=["?project=p"], env=["Y"], metric="r")[1]["colors"]
        finally:
            app2.close()
        assert y2 == {"c": hex_color(fg.style_of(0).color), "b": hex_color(fg.style_of(1).color)}
    finally:
        app.close()
