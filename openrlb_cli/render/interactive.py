"""The interactive learning-curve section of the report's `index.html`: script-drawn, self-contained.

Why precomputed levels: the chart may switch smoothing and band kind without a server, and the
numbers must stay `openrlb plot`'s (`compute_panels`: smoothing is applied to each run's logged
points before interpolation, so it cannot be redone on the mean in the browser). The section
therefore carries the panels for a few smoothing windows (the report's own `--smooth` and
`SMOOTH_LEVELS`), each with the std, 95% bootstrap CI and min-max bands; the browser only picks one.
Everything (uPlot, its CSS, the drawing script and the data) is inlined: the file opens from
`file://` with no network access.
"""

from __future__ import annotations

import html
from importlib import resources

from openrlb_cli.render import figures as fg
from openrlb_cli.selection import Curves

SMOOTH_LEVELS = (0, 5, 20, 50)
ASSETS = ("uPlot.min.css", "charts.css", "uPlot.iife.min.js", "charts.js")
HINT = ("Hover for values; drag across a panel to zoom, double-click to reset; click a legend entry to hide "
        "or show that line in every panel.")


def asset(name: str) -> str:
    """A vendored static file of `openrlb_cli.render` (shipped in the wheel; `openrlb view` serves them too)."""
    return resources.files("openrlb_cli.render").joinpath("static").joinpath(name).read_text(encoding="utf-8")


def _script_text(js: str) -> str:
    """Inline script text cannot contain `</script` (the vendored files do not; keep it so)."""
    return js.replace("</script", "<\\/script")


def levels_for(smooth: float) -> list[float]:
    base = 0 if smooth <= 1 else smooth
    return sorted({base, *SMOOTH_LEVELS})


def interactive_html(curves: Curves, opts: fg.PlotOptions, colors: dict[str, fg.Color],
                     element_id: str = "openrlb-curves") -> str:
    """The section's HTML: controls, chart container, data and inlined scripts."""
    from openrlb_cli.render import chart_payload as pl

    levels = levels_for(opts.smooth)
    figs = {}
    for level in levels:
        popts = fg.PlotOptions(**{**opts.__dict__, "x": "step", "smooth": level, "band": "ci"})
        figs[str(level)] = pl.figure_payload(fg.compute_panels(curves, popts), popts)
    data = {
        "colors": {label: pl.hex_color(c) for label, c in colors.items()},
        "labels": list(colors),
        "markers": pl.marker_styles(list(colors), opts.slots),
        "band": opts.band, "smooth": str(0 if opts.smooth <= 1 else opts.smooth),
        "levels": figs,
    }
    band_names = {"std": "mean ± std", "ci": "95% bootstrap CI", "minmax": "min–max", "none": "none"}
    band_opts = "".join(f"<option value='{k}'{' selected' if k == opts.band else ''}>{v}</option>"
                        for k, v in band_names.items())
    smooth_opts = "".join(f"<option value='{lv}'{' selected' if str(lv) == data['smooth'] else ''}>"
                          f"{'off' if lv == 0 else f'{lv} points'}</option>" for lv in levels)
    eid = html.escape(element_id, quote=True)
    css = asset("uPlot.min.css") + "\n" + asset("charts.css")
    js = "\n".join(_script_text(asset(n)) for n in ("uPlot.iife.min.js", "charts.js"))
    init = _script_text(f"""
(function () {{
  var data = JSON.parse(document.getElementById("{eid}-data").textContent);
  var root = document.getElementById("{eid}");
  var band = document.getElementById("{eid}-band"), smooth = document.getElementById("{eid}-smooth");
  var hidden = new Set();
  function draw() {{
    if (root.openrlb) root.openrlb.destroy();
    OpenrlbCharts.render(root, data.levels[smooth.value],
                         {{band: band.value, colors: data.colors, markers: data.markers, labels: data.labels.slice(),
                          hidden: hidden}});
  }}
  band.addEventListener("change", draw);
  smooth.addEventListener("change", draw);
  document.getElementById("{eid}-reset").addEventListener("click", function () {{ root.openrlb.resetZoom(); }});
  draw();
}})();""")
    return (f"<style>{css}</style>\n"
            f"<div class='or-controls'><label>Band <select id='{eid}-band'>{band_opts}</select></label>"
            f"<label>Smoothing <select id='{eid}-smooth'>{smooth_opts}</select></label>"
            f"<button type='button' id='{eid}-reset'>Reset zoom</button>"
            f"<span class='caption'>{html.escape(HINT)}</span></div>\n"
            f"<div id='{eid}' class='or-root'></div>\n"
            f"<script type='application/json' id='{eid}-data'>{pl.for_script_tag(pl.dumps(data))}</script>\n"
            f"<script>{js}</script>\n<script>{init}</script>\n"
            f"<noscript><p>The interactive chart needs JavaScript; the static figure follows.</p></noscript>\n")


__all__ = ["SMOOTH_LEVELS", "asset", "interactive_html", "levels_for"]
