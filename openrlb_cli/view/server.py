"""`openrlb view`: a read-only local web server over the store, built on the standard library.

Why `http.server.ThreadingHTTPServer`: the server is for one person on their own machine; the
standard library needs no new dependency, and a thread per request keeps the page's cheap change
poll answering while a curve request computes. The numbers come from the same code as the
commands: `selection.resolve`/`load_curves` (the selection language), `render.figures.compute_panels`
(curves), `render.tables.score_table` (scores), `aggregate.compute` (IQM and friends); `render.chart_payload`
downsamples each line to the chart's pixel width, keeping every pixel's extremes.

Safety: only GET and HEAD (anything else is 405); nothing writes to the store (connections are
opened `mode=ro`); every response is JSON or a vendored static file (names reach the page as JSON
data and are set as text, never as HTML); a bad request is a 4xx with one JSON line (`{"error"}`),
never a crash; query strings are capped; the Host header must name this server (no DNS
rebinding); it binds 127.0.0.1 unless told otherwise.

Refresh: `/api/version` returns a counter that moves when another connection commits to the store
(`PRAGMA data_version`, asked on one connection kept for that), so the page can poll it every few
seconds while `ingest`, `sync` or `track` write, and reload only when something changed (WAL lets
it read while they write). Results are cached per request and store version.
"""

from __future__ import annotations

import builtins
import json
import queue
import sqlite3
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from openrlb_cli.errors import InputError, OpenrlbError, SelectionError
from openrlb_cli.store import Store

MAX_QUERY = 8192  # bytes of query string
MAX_SPECS = 50
STATIC = {  # file -> content type: the only files served
    "view.html": "text/html; charset=utf-8", "view.js": "text/javascript; charset=utf-8",
    "view.css": "text/css; charset=utf-8", "charts.js": "text/javascript; charset=utf-8",
    "charts.css": "text/css; charset=utf-8", "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8", "uPlot.LICENSE": "text/plain; charset=utf-8",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}
BANDS = ("std", "ci", "minmax", "none")


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Query:
    """Typed access to a parsed query string; a bad value is a 400 naming the parameter."""

    def __init__(self, raw: str):
        if len(raw) > MAX_QUERY:
            raise BadRequest(414, f"query string longer than {MAX_QUERY} bytes")
        try:
            self.params = parse_qs(raw, keep_blank_values=True, strict_parsing=False, errors="strict",
                                   max_num_fields=200)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(400, f"malformed query string: {exc}") from exc

    def all(self, name: str) -> list[str]:
        return [v for v in self.params.get(name, []) if v.strip()]

    def str(self, name: str, default: str | None = None) -> str | None:
        values = self.all(name)
        return values[-1].strip() if values else default

    def int(self, name: builtins.str, default: int, lo: int, hi: int) -> int:
        text = self.str(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise BadRequest(400, f"{name} must be an integer, got {text[:40]!r}") from None
        if not lo <= value <= hi:
            raise BadRequest(400, f"{name} must be in [{lo}, {hi}], got {value}")
        return value

    def float(self, name: builtins.str) -> float | None:
        text = self.str(name)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            raise BadRequest(400, f"{name} must be a number, got {text[:40]!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise BadRequest(400, f"{name} must be finite")
        return value

    def choice(self, name: builtins.str, default: builtins.str, options: tuple[builtins.str, ...]) -> builtins.str:
        value = self.str(name, default) or default
        if value not in options:
            raise BadRequest(400, f"{name} must be one of {', '.join(options)}, got {value[:40]!r}")
        return value


class _Recent:
    """The last `size` values by key (least recently used dropped first), safe across the server's
    request threads: what each of the app's caches needs, in one place."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: tuple, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def read_only(path: Path) -> Store:
    """A Store whose connection cannot write (URI mode=ro); the schema is checked as usual."""
    store = Store.__new__(Store)
    store.path = path
    if not path.exists():
        raise InputError(f"no store at {path}")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    store.conn = conn
    return store


class ViewApp:
    """Answers requests; independent of HTTP so tests can call `handle` directly."""

    def __init__(self, db_path: Path, specs: list[str] | None = None, cache_size: int = 128):
        self.db_path = Path(db_path)
        Store(self.db_path, create=False).close()  # migrations checked once, with the usual errors
        self.specs = list(specs or [])
        self._pool: queue.SimpleQueue[Store] = queue.SimpleQueue()
        self._version_conn = read_only(self.db_path).conn
        self._version_lock = threading.Lock()
        self._version = (0, None)  # (counter, last data_version)
        self._cache = _Recent(cache_size)  # answers, per request and store version
        self._fallback_metric: dict[tuple, str] = {}
        self._curves_cache = _Recent(8)  # loaded curves shared by curves/table/aggregate
        self._selection_cache = _Recent(16)  # resolved selections shared by curves/table/runs
        self._lines_cache = _Recent(16)  # every line of a spec list: stable colours
        # numpy, matplotlib (the figure code's colours) and the analysis code load now, not on the first page
        from openrlb_cli.render import chart_payload, figures, tables  # noqa: F401

        self.routes: dict[str, Callable[[Query], Any]] = {
            "/api/version": self.api_version, "/api/state": self.api_state, "/api/overview": self.api_overview,
            "/api/selection": self.api_selection, "/api/curves": self.api_curves, "/api/table": self.api_table,
            "/api/aggregate": self.api_aggregate, "/api/runs": self.api_runs, "/api/run": self.api_run,
        }

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def store(self) -> Iterator[Store]:
        try:
            s = self._pool.get_nowait()
        except queue.Empty:
            s = read_only(self.db_path)
        try:
            yield s
        finally:
            self._pool.put(s)

    def version(self) -> int:
        """A counter that moves whenever another connection has committed to the store."""
        with self._version_lock:
            dv = self._version_conn.execute("PRAGMA data_version").fetchone()[0]
            counter, last = self._version
            if dv != last:
                self._version = (counter + (last is not None), dv)
            return self._version[0]

    def close(self) -> None:
        self._version_conn.close()
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                break

    def handle(self, target: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of `target` (path and query)."""
        try:
            parts = urlsplit(target)
            path = parts.path
            if path in ("/", "/index.html"):
                return self.static("view.html")
            if path.startswith("/static/"):
                return self.static(path[len("/static/"):])
            route = self.routes.get(path)
            if route is None:
                raise BadRequest(404, f"no such page: {path[:80]}")
            q = Query(parts.query)
            cacheable = path not in ("/api/version", "/api/state")
            key = (path, tuple(sorted((k, tuple(v)) for k, v in q.params.items())), self.version()) if cacheable \
                else None
            if key is not None:
                hit = self._cache.get(key)
                if hit is not None:
                    return 200, "application/json", hit
            body = _json(route(q))
            if key is not None:
                self._cache.put(key, body)
            return 200, "application/json", body
        except BadRequest as exc:
            return exc.status, "application/json", _json({"error": str(exc)})
        except SelectionError as exc:
            return 404 if "no run matches" in str(exc) else 400, "application/json", _json({"error": str(exc)})
        except OpenrlbError as exc:
            return 400, "application/json", _json({"error": str(exc)})
        except ValueError as exc:  # e.g. a value the analysis code refuses
            return 400, "application/json", _json({"error": str(exc)})
        except Exception as exc:  # a bug: the server answers and keeps serving
            print(f"openrlb view: unexpected {type(exc).__name__} on {target[:200]!r}: {exc}", file=sys.stderr)
            return 500, "application/json", _json({"error": f"internal error: {type(exc).__name__}"})

    def static(self, name: str) -> tuple[int, str, bytes]:
        if name not in STATIC:
            raise BadRequest(404, f"no such file: {name[:80]}")
        package = "openrlb_cli.view" if name.startswith("view.") else "openrlb_cli.render"  # the charts: render's
        data = resources.files(package).joinpath("static").joinpath(name).read_bytes()
        return 200, STATIC[name], data

    # ------------------------------------------------------------------ selection helpers
    def _specs(self, q: Query) -> list[str]:
        specs = q.all("spec")
        if not specs:
            raise BadRequest(400, "give at least one spec (e.g. spec=ppo or spec=?project=x)")
        if len(specs) > MAX_SPECS:
            raise BadRequest(400, f"at most {MAX_SPECS} specs")
        return specs

    def _resolve(self, store: Store, specs: list[str], envs: list[str], metric: str | None):
        """`resolve`, except that a selection without any episodic-return key shows its most common
        metric instead of failing (the page has a metric menu; `plot` asks for --metric instead)."""
        from openrlb_cli.selection import resolve

        if metric:
            return resolve(store, specs, envs, metric, allow_missing=True)
        if (tuple(specs), self.version()) not in self._fallback_metric:
            try:
                return resolve(store, specs, envs, metric, allow_missing=True)
            except SelectionError as exc:
                if "no episodic-return key" not in str(exc):
                    raise
        memo = (tuple(specs), self.version())
        key = self._fallback_metric.get(memo)
        if key is None:
            counts = self._counts(store, specs, [])["metrics"]
            if not counts:
                raise SelectionError("the selected runs have no metric")
            key = self._fallback_metric[memo] = max(counts, key=lambda k: (counts[k], k))
        sel = resolve(store, specs, envs, key, allow_missing=True)
        sel.warnings.insert(0, f"no episodic-return key in the selection: showing {key!r}, its most common metric")
        return sel

    @staticmethod
    def _spec_where(store: Store, text: str, envs: list[str]) -> tuple[Any, str, list[Any]]:
        """(spec, SQL condition on `runs`, params) selecting what the spec selects, in SQL where it can
        (config filters compare as `RunFilter.matches_config` does, so those runs are listed in Python)."""
        import json as _json_mod

        from openrlb_cli.selection import _spec_filter, parse_spec

        spec = parse_spec(text)
        flt = _spec_filter(spec, envs or None)
        if flt.config:
            ids = [r.id for r in store.runs(flt)]
            return spec, "runs.id IN (SELECT value FROM json_each(?))", [_json_mod.dumps(ids)]
        where, params = flt.sql()
        return spec, where, params

    def _counts(self, store: Store, specs: list[str], envs: list[str]) -> dict[str, Any]:
        """Lines, envs, metric keys and varying config keys of the specs' runs, counted in SQL (a
        25,000-run selection in well under a second, where `resolve` loads every run)."""
        from openrlb_cli.selection import NO_ENV, NO_EXPERIMENT

        lines: dict[str, int] = {}
        env_counts: dict[str, int] = {}
        metrics: dict[str, int] = {}
        config: dict[str, int] = {}
        c = store.conn
        for text in specs:
            spec, where, params = self._spec_where(store, text, envs)
            if spec.experiment:
                n = c.execute(f"SELECT count(*) FROM runs WHERE {where}", params).fetchone()[0]
                if n:
                    lines[spec.label or spec.experiment] = n
            else:
                for exp, n in c.execute(f"SELECT experiment, count(*) FROM runs WHERE {where} GROUP BY 1 ORDER BY 1",
                                        params):
                    lines[exp or NO_EXPERIMENT] = lines.get(exp or NO_EXPERIMENT, 0) + n
            for env, n in c.execute(f"SELECT env, count(*) FROM runs WHERE {where} GROUP BY 1 ORDER BY 1", params):
                env_counts[env or NO_ENV] = env_counts.get(env or NO_ENV, 0) + n
            for key, n in c.execute(f"SELECT key, count(*) FROM series WHERE n_points > 0 AND run_id IN "
                                    f"(SELECT id FROM runs WHERE {where}) GROUP BY key", params):
                metrics[key] = metrics.get(key, 0) + n
            for key, n in c.execute(f"SELECT je.key, count(DISTINCT je.value) FROM runs, json_each(runs.config) je "
                                    f"WHERE {where} AND je.type NOT IN ('object', 'array') GROUP BY je.key", params):
                config[key] = max(config.get(key, 0), n)
        return {"lines": lines, "envs": env_counts, "metrics": metrics,
                "config_keys": sorted(k for k, n in config.items() if n > 1)}

    def _selection(self, store: Store, q: Query, envs: list[str] | None = None):
        """The resolved selection; the last few are kept (per store version) because switching env asks
        for curves, table and runs of one selection (nothing downstream mutates a Selection)."""
        from openrlb_cli.selection import group_by_config

        specs, envs = self._specs(q), envs if envs is not None else q.all("env")
        key = (tuple(specs), tuple(envs), q.str("metric"), q.str("group_by"), self.version())
        hit = self._selection_cache.get(key)
        if hit is not None:
            return hit
        sel = self._resolve(store, specs, envs, q.str("metric"))
        group_by = q.str("group_by")
        if group_by:
            sel = group_by_config(sel, group_by)
        self._selection_cache.put(key, sel)
        return sel

    def _curves(self, store: Store, q: Query, x: str = "step"):
        """The selection's loaded curves; the last few are kept (per store version) because the page
        asks for curves, table and aggregates of the same selection one after the other."""
        from openrlb_cli.selection import load_curves

        max_steps = q.float("max_steps")
        if max_steps is not None and max_steps <= 0:
            raise BadRequest(400, "max_steps must be > 0")
        key = (tuple(self._specs(q)), tuple(q.all("env")), q.str("metric"), q.str("group_by"), max_steps, x,
               self.version())
        hit = self._curves_cache.get(key)
        if hit is not None:
            return hit
        curves = load_curves(store, self._selection(store, q), max_steps=max_steps, x=x)
        if sum(len(v) for v in curves.by_cell.values()) <= 5000:
            self._curves_cache.put(key, curves)
        return curves

    def _slots(self, q: Query, labels: list[str]) -> dict[str, int]:
        """Style slots that do not move when the page switches env: the store's style book (as `plot`
        keeps it; read here, never written) and then the lines of the whole selection in order, so a
        line keeps its colour whichever envs are shown. Grouped by a config key, the lines are values
        of that key, and only the book and this figure's order apply."""
        from openrlb_cli.render.styles import assign_slots, load_style_book, style_book_path

        book = load_style_book(style_book_path(self.db_path))
        lines: list[str] = []
        if not q.str("group_by"):
            key = (tuple(self._specs(q)), self.version())
            lines = self._lines_cache.get(key) or []
            if not lines:
                with self.store() as s:
                    lines = list(self._counts(s, list(key[0]), [])["lines"])
                self._lines_cache.put(key, lines)
        ordered = lines + [label for label in labels if label not in lines]
        slots = assign_slots(ordered, book)
        return {label: slots[label] for label in labels}

    # ------------------------------------------------------------------ endpoints
    def api_version(self, q: Query) -> dict[str, Any]:
        return {"version": self.version()}

    def api_state(self, q: Query) -> dict[str, Any]:
        with self.store() as s:
            runs = s.conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        return {"store": self.db_path.name, "runs": runs, "specs": self.specs, "version": self.version()}

    def api_overview(self, q: Query) -> dict[str, Any]:
        """Projects, experiments, envs and metric keys of the whole store, with run counts (SQL only)."""
        with self.store() as s:
            c = s.conn
            projects = c.execute("SELECT project, count(*) FROM runs GROUP BY project ORDER BY project").fetchall()
            exps = c.execute("SELECT project, coalesce(experiment, ''), count(*), count(DISTINCT env) FROM runs "
                             "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
            envs = c.execute("SELECT coalesce(env, ''), count(*) FROM runs GROUP BY 1 ORDER BY 1").fetchall()
            keys = c.execute("SELECT key, count(*) FROM series GROUP BY key ORDER BY key").fetchall()
        return {
            "projects": [{"project": p, "runs": n} for p, n in projects],
            "experiments": [{"project": p, "experiment": e, "runs": n, "envs": ne} for p, e, n, ne in exps],
            "envs": [{"env": e, "runs": n} for e, n in envs],
            "metrics": [{"key": k, "runs": n} for k, n in keys],
        }

    def api_selection(self, q: Query) -> dict[str, Any]:
        """What a set of specs selects: lines, envs with run counts, metric keys and config keys."""
        from openrlb_cli.metric_keys import METRIC_FALLBACKS

        specs = self._specs(q)
        with self.store() as s:
            counts = self._counts(s, specs, [])
        self._lines_cache.put((tuple(specs), self.version()), list(counts["lines"]))
        if not counts["lines"]:
            from openrlb_cli.selection import resolve

            with self.store() as s:  # no run: the selection language's own message, with suggestions
                resolve(s, specs, [], None)
        metrics = counts["metrics"]
        metric = q.str("metric") or next((k for k in METRIC_FALLBACKS if k in metrics), None) or (
            max(metrics, key=lambda k: (metrics[k], k)) if metrics else "")
        return {
            "lines": [{"label": k, "runs": n} for k, n in counts["lines"].items()],
            "envs": [{"env": e, "runs": n} for e, n in sorted(counts["envs"].items())],
            "metrics": [{"key": k, "runs": n} for k, n in sorted(metrics.items())],
            "metric": metric, "config_keys": counts["config_keys"], "warnings": [],
        }

    def api_curves(self, q: Query) -> dict[str, Any]:
        from openrlb_cli.render import chart_payload as pl
        from openrlb_cli.render import figures as fg

        band = q.choice("band", "std", BANDS)
        x = q.choice("x", "step", ("step", "time"))
        opts = fg.PlotOptions(x=x, band=band, smooth=q.int("smooth", 0, 0, 10_000),
                              grid_points=q.int("grid", 500, 2, 100_000), partial="dashed")
        width = q.int("width", 600, 0, 10_000) or None
        t0 = time.perf_counter()
        with self.store() as s:
            curves = self._curves(s, q)
        data = fg.compute_panels(curves, opts)
        kinds = () if band == "none" else (band,)
        fig = pl.figure_payload(data, opts, kinds, width=width)
        slots = self._slots(q, curves.selection.labels)
        colors = fg.experiment_colors(curves.selection.labels, slots=slots)
        return {**fig, "colors": {k: pl.hex_color(c) for k, c in colors.items()}, "labels": list(colors),
                "markers": pl.marker_styles(curves.selection.labels, slots),
                "band": band, "warnings": data.warnings, "seconds": round(time.perf_counter() - t0, 4)}

    def api_table(self, q: Query) -> dict[str, Any]:
        from openrlb_cli.render import tables as tb

        last_frac = q.float("last_frac")
        last_n = q.int("last_n", 100, 1, 10_000_000)
        try:
            tb.check_score_options(last_n, last_frac)
        except InputError as exc:
            raise BadRequest(400, str(exc)) from None
        with self.store() as s:
            curves = self._curves(s, q)
        table = tb.score_table(curves, last_n=last_n, last_frac=last_frac, ci=q.str("ci") == "1")
        doc = json.loads(tb.to_json(table))
        doc["best"] = {env: sorted(table.best(env)) for env in table.envs}
        return doc

    def api_aggregate(self, q: Query) -> dict[str, Any]:
        from openrlb_cli.aggregate import outputs as ao
        from openrlb_cli.aggregate.compute import NORMALIZATIONS, AggregateOptions, compute

        opts = AggregateOptions(normalize=q.choice("normalize", "maxmin", NORMALIZATIONS),
                                reps=q.int("reps", 2000, 100, 50_000), allow_missing_tasks=True)
        with self.store() as s:
            curves = self._curves(s, q)
        result = compute(curves, opts)
        return {"records": ao.records(result), "warnings": result.warnings,
                "normalization": ao.normalization_text(result)}

    def api_runs(self, q: Query) -> dict[str, Any]:
        limit = q.int("limit", 200, 1, 5000)
        with self.store() as s:
            sel = self._selection(s, q)
        rows = []
        for e in sel.experiments:
            for env, rs in e.runs_by_env.items():
                for r in rs:
                    rows.append({"uid": r.uid, "line": e.label, "name": r.name, "experiment": r.experiment,
                                 "env": env, "seed": r.seed, "state": r.state, "source": r.source,
                                 "metric": sel.keys.get(r.id)})
        return {"total": len(rows), "runs": rows[:limit]}

    def api_run(self, q: Query) -> dict[str, Any]:
        from openrlb_cli.track.records import load_provenance

        uid = q.str("uid")
        if not uid:
            raise BadRequest(400, "give uid=RUN")
        with self.store() as s:
            r = s.get_run(uid)
            series = s.series_info([r.id])
            prov = load_provenance(s, r.id)
        return {**r.to_dict(), "series": [x.__dict__ for x in series],
                "provenance": prov.to_dict() if prov is not None else None}


def _json(data: Any) -> bytes:
    """JSON with `<`, `>` and `&` escaped: no answer can be read as markup, even if sniffed."""
    from openrlb_cli.render.chart_payload import dumps, for_script_tag

    return for_script_tag(dumps(data)).encode()


LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


def make_handler(app: ViewApp, allowed_hosts: set[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "openrlb-view"
        sys_version = ""
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes; with Nagle's algorithm on, the body waits for the
        # client's delayed ACK of the headers: ~40 ms added to every keep-alive response.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
            pass

        def _send(self, status: int, ctype: str, body: bytes, head: bool = False,
                  extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
                self.send_header(k, v)
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _get(self, head: bool) -> None:
            host = (self.headers.get("Host") or "").strip().lower()
            if host not in allowed_hosts:
                self._send(403, "application/json", _json({"error": "unexpected Host header"}), head)
                return
            status, ctype, body = app.handle(self.path)
            self._send(status, ctype, body, head)

        def do_GET(self) -> None:  # noqa: N802
            self._get(False)

        def do_HEAD(self) -> None:  # noqa: N802
            self._get(True)

        def _refuse(self) -> None:
            length = self.headers.get("Content-Length")
            if length and length.isdigit() and int(length) <= 1 << 20:
                self.rfile.read(int(length))  # drain a small body so the connection stays sane
            else:
                self.close_connection = True
            self._send(405, "application/json", _json({"error": "read-only server: only GET and HEAD"}),
                       extra={"Allow": "GET, HEAD"})

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse  # noqa: N815

    return Handler


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(app: ViewApp, host: str = "127.0.0.1", port: int = 8765) -> ViewServer:
    """Bind (port 0: any free port) and return the server; call `serve_forever()` on it."""
    server = ViewServer((host, port), make_handler(app, set()))
    bound = server.server_address[1]
    names = set(LOOPBACK) | {host}
    allowed = {f"{n}:{bound}" for n in names} | ({f"[{host}]:{bound}"} if ":" in host else set())
    if host in ("0.0.0.0", "::"):  # the user asked for every interface: any Host
        server.RequestHandlerClass = make_handler(app, _AnyHost())
    else:
        server.RequestHandlerClass = make_handler(app, allowed)
    return server


class _AnyHost(set):
    def __contains__(self, item: object) -> bool:
        return True


__all__ = ["BadRequest", "Query", "ViewApp", "ViewServer", "read_only", "serve"]
