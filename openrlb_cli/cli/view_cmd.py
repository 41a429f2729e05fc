"""`openrlb view`: browse the store in a web browser (a read-only local server, `openrlb_cli.view`)."""

from __future__ import annotations

import typer

from openrlb_cli.cli.context import app, info, state
from openrlb_cli.errors import InputError


@app.command()
def view(
    specs: list[str] = typer.Argument(None, show_default=False,
                                      help="Experiment specs to open with (the selection language of plot; "
                                           "default: the first project)."),
    port: int = typer.Option(8765, "--port", help="Port (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to bind. The default serves this machine only; another address "
                                  "lets anyone who can reach it read the store."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser tab."),
) -> None:
    """Browse projects, experiments, envs and metrics; curves as mean and band over seeds (the numbers
    of `plot`), the score table and aggregates, lines grouped by any config key, a run's config and
    provenance. Read-only (GET/HEAD only); refreshes while ingest, sync or track write. Ctrl-C stops it."""
    from openrlb_cli.store.database import default_db_path
    from openrlb_cli.view.server import ViewApp, serve

    if not 0 <= port <= 65535:
        raise InputError(f"--port must be in 0..65535, got {port}")
    db = state.db or default_db_path()
    view_app = ViewApp(db, list(specs or []))
    try:
        server = serve(view_app, host, port)
    except OSError as exc:
        view_app.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (try --port 0)") from exc
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{server.server_address[1]}/"
    if host not in ("127.0.0.1", "localhost", "::1"):
        info(f"warning: serving on {host}: anyone who can reach this address can read the store")
    print(url, flush=True)
    info("read-only; Ctrl-C stops the server")
    if not no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        view_app.close()
