"""Interactive views of the store: the data behind the charts, the local web server, vendored assets.

Why a package of its own: the interactive report (`openrlb report`'s `index.html`) and `openrlb
view` draw the same charts from the same numbers as `openrlb plot` (`render.figures.compute_panels`),
so the JSON those charts read (`payload`), the drawing script (`static/charts.js`) and the chart
library (uPlot, vendored from npm in `static/` with its license) live together. Nothing here is
imported by other commands: the CLI's start-up stays as it is.
"""
