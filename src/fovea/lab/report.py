"""The lab's reports of a run's records (:mod:`fovea.lab.runner`): ``report.md``, which links
the figures by relative path, and ``report.html``, one self-contained file (figures embedded as
base64 data URIs, no external asset) with a table of contents. Both start with the summary
table (section, experiment, claim, verdict); then each experiment: its claim, method, numbers,
figures, verdict and time. A failed experiment shows its error where the verdict would be.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from urllib.parse import quote

from ..serialization import atomic_write_bytes

FIGURES = "figures"

TITLE = "fovea lab: the notes' claims, rerun"
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
        ".svg": "image/svg+xml", ".webp": "image/webp"}


def figure_dir(out_dir, name: str) -> Path:
    """Where experiment ``name``'s figures are under a run directory: FIGURES/NAME (one folder
    each, so two experiments never overwrite each other's files)."""
    return Path(out_dir) / FIGURES / name


def verdict_text(rec: dict) -> str:
    """The verdict, or "failed: ERROR" for an experiment that raised."""
    if rec.get("error") is not None:
        return f"failed: {rec['error']}"
    return str(rec.get("verdict") or "")


def format_number(value) -> str:
    """A measured value for a table: floats to 4 significant digits, None (a non-finite value
    after JSON) as "non-finite"."""
    if value is None:
        return "non-finite"
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def _mode(records, timings: bool = True) -> str:
    if not records:
        return "no experiments"
    first = records[0]
    total = sum(float(r.get("seconds") or 0.0) for r in records)
    failed = sum(r.get("error") is not None for r in records)
    return (f"{len(records)} experiment{'s' if len(records) != 1 else ''}, "
            f"{'quick' if first.get('quick') else 'full'} mode, seed {first.get('seed')}"
            + (f", {total:.1f} s of experiment time" if timings else "")
            + (f", {failed} failed" if failed else ""))


def summary_text(records) -> str:
    """The summary as a plain-text table for a terminal (``fovea lab show``)."""
    rows = [("section", "experiment", "verdict", "seconds")]
    rows += [(str(r.get("section", "")), str(r.get("name", "")), verdict_text(r),
              f"{float(r.get('seconds') or 0.0):.1f}") for r in records]
    widths = [max(len(row[i]) for row in rows) for i in (0, 1)]
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {d:>7}  {c}" for a, b, c, d in rows]
    return "\n".join(lines + [_mode(records)])


# ---- Markdown -------------------------------------------------------------------------------
def _cell(text) -> str:
    """Text safe in a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown(records, timings: bool = True, preamble: str = "", figure_limit=None) -> str:
    """``report.md``: figures as links relative to the run directory (figures/NAME/FILE).

    ``timings=False`` leaves out every time (the summary's seconds column, the total and each
    experiment's), so the same seed writes the same text; ``preamble`` is a paragraph under the
    title; ``figure_limit`` links at most that many figures of each experiment (its first,
    the key ones) and says how many more its own report has. For docs/lab/README.md
    (scripts/build_lab_docs.py)."""
    seconds = (lambda r: f"{float(r.get('seconds') or 0.0):.1f}") if timings else None
    out = [f"# {TITLE}", ""] + ([" ".join(preamble.split()), ""] if preamble else [])
    out += [_mode(records, timings), "",
            "| § | experiment | claim | verdict |" + (" s |" if timings else ""),
            "|---|---|---|---|" + ("---|" if timings else "")]
    for r in records:
        out.append(f"| {_cell(r.get('section', ''))} | [{_cell(r['name'])}](#{r['name']}) | "
                   f"{_cell(r.get('claim', ''))} | {_cell(verdict_text(r))} |"
                   + (f" {seconds(r)} |" if timings else ""))
    for r in records:
        out += ["", f"<a id=\"{r['name']}\"></a>", "",
                f"## §{r.get('section', '')} {r['name']}", "",
                "> " + " ".join(str(r.get("claim", "")).split()), ""]
        if r.get("method"):
            out += [f"**Method.** {' '.join(str(r['method']).split())}", ""]
        numbers = r.get("numbers") or {}
        if numbers:
            out += ["| quantity | value |", "|---|---|"]
            out += [f"| {_cell(k)} | {_cell(format_number(v))} |" for k, v in numbers.items()]
            out.append("")
        figures = list(r.get("figures") or [])
        shown = figures if figure_limit is None else figures[:figure_limit]
        for fig in shown:
            link = quote(f"{FIGURES}/{r['name']}/{fig}")
            out += [f"![{fig}]({link})", ""]
        if len(shown) < len(figures):
            more = len(figures) - len(shown)
            out += [f"*{more} more figure{'s' if more > 1 else ''} in the report of "
                    f"`fovea lab run {r['name']}`.*", ""]
        label = "**Failed.**" if r.get("error") is not None else "**Verdict:**"
        text = r["error"] if r.get("error") is not None else r.get("verdict", "")
        out.append(f"{label} {' '.join(str(text).split())}")
        if timings:
            out += ["", f"*{seconds(r)} s*"]
    return "\n".join(out) + "\n"


# ---- HTML -----------------------------------------------------------------------------------
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.45; color: #222; }
table { border-collapse: collapse; margin: 0.8rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
blockquote { border-left: 4px solid #bbb; margin: 0.5rem 0; padding: 0.2rem 0.8rem;
             color: #444; }
img { max-width: 100%; display: block; margin: 0.6rem 0; }
section { border-top: 1px solid #ddd; margin-top: 2rem; }
.holds { color: #17692b; } .partly { color: #8a5a00; } .not { color: #a11; }
.slip { color: #1c4fa0; } .failed { color: #a11; font-weight: bold; }
.seconds { color: #777; font-size: 0.9em; }
"""


def _verdict_class(rec: dict) -> str:
    if rec.get("error") is not None:
        return "failed"
    verdict = str(rec.get("verdict") or "")
    for prefix, css in (("holds partly", "partly"), ("holds", "holds"),
                        ("does not hold", "not"), ("the notes slip", "slip")):
        if verdict.startswith(prefix):
            return css
    return ""


def _figure_html(path: Path, name: str) -> str:
    mime = MIME.get(path.suffix.lower(), "application/octet-stream")
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        return f'<p class="failed">figure {html.escape(name)} missing ({html.escape(str(exc))})</p>'
    return (f'<figure><img alt="{html.escape(name)}" src="data:{mime};base64,{data}">'
            f"<figcaption>{html.escape(name)}</figcaption></figure>")


def html_report(records, out_dir) -> str:
    """``report.html``: self-contained (the figures under ``out_dir`` embedded)."""
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{e(TITLE)}</title><style>{STYLE}</style></head><body>",
           f"<h1>{e(TITLE)}</h1>", f"<p>{e(_mode(records))}</p>",
           "<h2>Summary</h2>",
           "<table><tr><th>§</th><th>experiment</th><th>claim</th><th>verdict</th>"
           "<th>s</th></tr>"]
    for r in records:
        out.append(f"<tr><td>{e(str(r.get('section', '')))}</td>"
                   f'<td><a href="#exp-{e(r["name"])}">{e(r["name"])}</a></td>'
                   f"<td>{e(str(r.get('claim', '')))}</td>"
                   f'<td class="{_verdict_class(r)}">{e(verdict_text(r))}</td>'
                   f"<td>{float(r.get('seconds') or 0.0):.1f}</td></tr>")
    out += ["</table>", '<nav><h2>Contents</h2><ol>']
    out += [f'<li><a href="#exp-{e(r["name"])}">§{e(str(r.get("section", "")))} '
            f"{e(r['name'])}</a></li>" for r in records]
    out.append("</ol></nav>")
    for r in records:
        out += [f'<section id="exp-{e(r["name"])}">',
                f"<h2>§{e(str(r.get('section', '')))} {e(r['name'])}</h2>",
                f"<blockquote>{e(str(r.get('claim', '')))}</blockquote>"]
        if r.get("method"):
            out.append(f"<p><b>Method.</b> {e(str(r['method']))}</p>")
        numbers = r.get("numbers") or {}
        if numbers:
            out.append("<table><tr><th>quantity</th><th>value</th></tr>")
            out += [f"<tr><td>{e(str(k))}</td><td>{e(format_number(v))}</td></tr>"
                    for k, v in numbers.items()]
            out.append("</table>")
        out += [_figure_html(figure_dir(out_dir, r["name"]) / fig, fig)
                for fig in r.get("figures") or []]
        if r.get("error") is not None:
            out.append(f'<p class="failed">Failed: {e(r["error"])}</p>')
        else:
            out.append(f'<p><b>Verdict:</b> <span class="{_verdict_class(r)}">'
                       f"{e(str(r.get('verdict', '')))}</span></p>")
        out += [f'<p class="seconds">{float(r.get("seconds") or 0.0):.1f} s</p>', "</section>"]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_reports(records, out_dir) -> tuple:
    """Write ``report.md`` and ``report.html`` into ``out_dir`` (atomically); their paths."""
    out_dir = Path(out_dir)
    md = atomic_write_bytes(out_dir / "report.md", markdown(records).encode())
    page = atomic_write_bytes(out_dir / "report.html", html_report(records, out_dir).encode())
    return md, page
