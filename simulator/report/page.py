"""The report as one self-contained HTML page: inline CSS, plots as PNG data URIs.

Nothing is fetched when the page opens (no scripts, fonts or stylesheets from elsewhere),
so the page can be mailed, archived next to the run, or opened offline.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Plot:
    """One figure of the page; ``id`` becomes its ``data-plot`` attribute."""

    id: str
    title: str
    png: bytes
    caption: str


_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; color: #222; margin: 2rem auto;
       max-width: 1040px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
.description { color: #555; margin-top: 0; }
table.summary { border-collapse: collapse; margin: 1rem 0 1.5rem; }
table.summary th, table.summary td { padding: .25rem .8rem; border-bottom: 1px solid #e4e4e4;
       text-align: left; vertical-align: top; }
table.summary th { font-weight: 600; color: #444; white-space: nowrap; }
.notes { background: #fff8e1; border-left: 4px solid #f0b400; padding: .5rem 1rem; }
figure { margin: 2rem 0; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #444; margin-top: .4rem; }
figcaption b { color: #222; }
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render(
    title: str,
    description: str,
    summary: Sequence[tuple[str, str]],
    plots: Sequence[Plot],
    notes: Sequence[str] = (),
) -> str:
    """The whole page as a string; every piece of text is HTML-escaped. The notes (arms
    unbalanced, data left out) come first, before anything they qualify."""
    rows = "\n".join(
        f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>" for name, value in summary
    )
    note_items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    notes_html = f'<div class="notes"><ul>{note_items}</ul></div>' if notes else ""
    figures = "\n".join(_figure(p) for p in plots)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p class="description">{escape(description)}</p>
{notes_html}
<table class="summary">
{rows}
</table>
{figures}
</body>
</html>
"""


def _figure(plot: Plot) -> str:
    return (
        f'<figure data-plot="{escape(plot.id)}">\n'
        f'<img src="{data_uri(plot.png)}" alt="{escape(plot.title)}">\n'
        f"<figcaption><b>{escape(plot.title)}.</b> {escape(plot.caption)}</figcaption>\n"
        "</figure>"
    )
