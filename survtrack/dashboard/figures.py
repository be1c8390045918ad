"""Plotly figures from spending DataFrames: the project's palette (analysis/palette.py), readable money, safe text.

A figure is the plain dict Plotly.js draws ({"data": [traces], "layout": {...}}), which
dcc.Graph takes as it is: building it through plotly's graph objects validated every property
of every bar, which took most of a chart's time.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import plotly.io as pio

from survtrack.analysis import palette
from survtrack.analysis.spending import OTHERS

from . import formats, labels
from .i18n import t

Figure = dict[str, Any]

LEGEND_CHARS = 45
OUTLINE = {"color": palette.OUTLINE, "width": 1}  # the contrast light bars lack (palette.csv)
# plotly_white as far as these charts use it: its layout and its defaults for bars and
# markers (the whole template carries defaults for every kind of trace Plotly draws, most of
# a chart's bytes). Shared by every figure: never changed in place.
_WHITE = pio.templates["plotly_white"]
TEMPLATE = {"layout": _WHITE.layout.to_plotly_json(),
            "data": {kind: [trace.to_plotly_json() for trace in getattr(_WHITE.data, kind)]
                     for kind in ("bar", "scatter")}}


def _figure() -> Figure:
    return {"data": [], "layout": {"template": TEMPLATE}}


def _update(layout: dict, changes: dict) -> None:
    """Merge `changes` into `layout`, nested dicts key by key (as plotly's update_layout)."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            _update(layout[key], value)
        else:
            layout[key] = value


def _numbers(values) -> list:
    """A column as JSON numbers, a missing value as 0 (a bar of nothing)."""
    return [float(v) for v in pd.Series(values, dtype="float64").fillna(0)]


def plain(text, limit: int | None = None) -> str:
    """Text for Plotly, which reads a few HTML tags in labels: escape everything."""
    text = "" if text is None else str(text)
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=False)


def money_title(currency: str, lang: str) -> str:
    """The money axis's title with its unit: 'Amount, US dollars (converted)'."""
    if currency == "USD":
        return t("axis_amount_usd", lang)
    return t("axis_amount_in", lang).format(currency=currency)


def _money_axis(fig: Figure, top: float, currency: str, lang: str, axis: str = "y") -> None:
    ticks = formats.nice_ticks(top)
    _update(fig["layout"], {f"{axis}axis": {
        "tickvals": ticks, "ticktext": formats.money_ticks(ticks, currency, lang),
        "title": {"text": plain(money_title(currency, lang))},
        "range": [0, ticks[-1] * 1.02], "gridcolor": "#e5e5e5", "zeroline": False}})


def _layout(fig: Figure, height: int = 420) -> Figure:
    _update(fig["layout"], {"height": height, "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
                            "font": {"family": "system-ui, sans-serif", "size": 13},
                            "hoverlabel": {"align": "left"}})
    return fig


def _empty(fig: Figure, lang: str, height: int) -> Figure:
    """No bars: say so in words, with no axes (an empty Plotly chart draws -1..6 scales)."""
    _update(fig["layout"], {"xaxis": {"visible": False}, "yaxis": {"visible": False},
                            "annotations": [{
                                "text": plain(t("no_data", lang)), "showarrow": False,
                                "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                "font": {"size": 15, "color": "#59636e"}}]})
    return _layout(fig, height)


def year_label(year, lang: str) -> str:
    return t("no_date", lang) if year is None or pd.isna(year) else str(int(year))


# the trace of context events on the overview chart: clicks and legend toggles on it open no
# contracts (dashboard/app.py checks this mark)
CONTEXT_TRACE = "context"
EVENTS_SHOWN = 6  # titles per year in a marker's hover; the rest are counted


def vendor_year_bars(df: pd.DataFrame, currency: str, lang: str = "en",
                     events: pd.DataFrame | None = None, side_by_side: bool = False
                     ) -> Figure:
    """Stacked bars (`side_by_side`: grouped, for compare mode): one trace per vendor (top
    vendors, then others), years on x; with
    `events` (analysis.context frames), a marker per year with court cases, complaints or
    sanctions, on the same timeline.

    customdata carries the vendor key and year of each bar for the drill-down.
    """
    fig = _figure()
    dated = events[events["occurred_on"].notna()] if events is not None else None
    if df.empty and (dated is None or dated.empty):
        return _empty(fig, lang, 200)
    event_years = {int(d.year) for d in dated["occurred_on"]} if dated is not None else set()
    years = sorted({int(y) for y in df["year"] if not pd.isna(y)} | event_years)
    categories = [str(int(y)) for y in years] + ([t("no_date", lang)]
                                                 if df["year"].isna().any() else [])
    groups = list(df.groupby("vendor_key", sort=False))
    styles = dict(zip((k for k, _ in groups if k != OTHERS),
                      palette.vendor_styles([k for k, _ in groups if k != OTHERS])))
    for key, group in groups:
        name = t("others", lang) if key == OTHERS else \
            labels.party_label(key, group["vendor_name"].iloc[0], "vendor", lang)
        colour, shape = styles.get(key, (palette.OTHERS, ""))  # the vendor's own, by its key
        fig["data"].append({
            "type": "bar", "x": [year_label(y, lang) for y in group["year"]],
            "y": _numbers(group["amount"]), "name": plain(name, LEGEND_CHARS),
            "marker": {"color": colour, "line": OUTLINE, "pattern": palette.pattern(shape)},
            "customdata": [[key, "" if pd.isna(y) else int(y), formats.money(a, currency, lang),
                            formats.number(n, lang), plain(name)]
                           for y, a, n in zip(group["year"], group["amount"],
                                              group["contracts"])],
            "hovertemplate": "<b>%{customdata[4]}</b><br>%{x}: %{customdata[2]}"
                             "<br>%{customdata[3]} " + plain(t("contracts", lang).lower())
                             + "<extra></extra>"})
    if event_years:
        _event_markers(fig, dated, lang)
    top = (df["amount"].fillna(0).max() if side_by_side else
           df.groupby(df["year"].fillna(-1))["amount"].sum().max()) if not df.empty else 0
    _update(fig["layout"], {
        "barmode": "group" if side_by_side else "stack",
        "showlegend": True,  # even for one vendor: its name stays on the chart
        "legend": {"orientation": "h", "y": -0.15, "x": 0, "traceorder": "normal"},
        "xaxis": {"type": "category", "categoryorder": "array", "categoryarray": categories,
                  "title": {"text": plain(t("axis_year", lang))}}})
    _money_axis(fig, top, currency, lang)
    return _layout(fig, 480)


def _event_markers(fig: Figure, dated: pd.DataFrame, lang: str) -> None:
    """One diamond on the baseline per year with events, its hover listing them."""
    texts, xs = [], []
    for year, group in dated.groupby(dated["occurred_on"].dt.year):
        lines = [f"{formats.day(d, lang)}: {plain(labels.context_name('kind', k, lang))}"
                 f" — {plain(title, 90)}"
                 for d, k, title in zip(group["occurred_on"], group["kind"], group["title"])]
        more = len(lines) - EVENTS_SHOWN
        texts.append("<br>".join(lines[:EVENTS_SHOWN] + ([f"+{more}"] if more > 0 else [])))
        xs.append(str(int(year)))
    fig["data"].append({"type": "scatter", "x": xs, "y": [0] * len(xs), "mode": "markers",
                        "meta": CONTEXT_TRACE, "name": plain(t("context_markers", lang)),
                        "hovertext": texts, "hovertemplate": "%{hovertext}<extra></extra>",
                        "cliponaxis": False,
                        "marker": {"symbol": "diamond", "size": 13, "color": palette.MARKER,
                                   "line": {"color": "#FFFFFF", "width": 1.5}}})


def ranked_bars(df: pd.DataFrame, label: str, currency: str, lang: str = "en",
                key: str | None = None, height: int | None = None) -> Figure:
    """Horizontal bars, biggest on top; customdata[0] is the row's key (for clicks)."""
    fig = _figure()
    if df.empty:
        return _empty(fig, lang, 200)
    df = df.iloc[::-1]
    fig["data"].append({
        "type": "bar", "y": [plain(v, 50) for v in df[label].fillna(t("unknown_country", lang))],
        "x": _numbers(df["amount"]), "orientation": "h",
        "marker": {"color": palette.COLOURS["blue"], "line": OUTLINE},
        "customdata": [[None if formats.missing(k) else k, formats.money(a, currency, lang),
                        formats.number(n, lang)]
                       for k, a, n in zip(df[key or label], df["amount"], df["contracts"])],
        "hovertemplate": "%{y}: %{customdata[1]}<br>%{customdata[2]} "
                         + plain(t("contracts", lang).lower()) + "<extra></extra>"})
    _money_axis(fig, df["amount"].max(), currency, lang, axis="x")
    _update(fig["layout"], {"yaxis": {"automargin": True}})
    return _layout(fig, height or max(200, 40 + 28 * len(df)))


def year_bars(df: pd.DataFrame, currency: str, lang: str = "en",
              colour: str | None = None) -> Figure:
    """Bars by year; `colour` a vendor's own (palette.vendor_colour) on its profile."""
    fig = _figure()
    if df.empty:
        return _empty(fig, lang, 200)
    fig["data"].append({
        "type": "bar", "x": [year_label(y, lang) for y in df["year"]],
        "y": _numbers(df["amount"]),
        "marker": {"color": colour or palette.COLOURS["orange"], "line": OUTLINE},
        "customdata": [[formats.money(a, currency, lang), formats.number(n, lang)]
                       for a, n in zip(df["amount"], df["contracts"])],
        "hovertemplate": "%{x}: %{customdata[0]}<br>%{customdata[1]} "
                         + plain(t("contracts", lang).lower()) + "<extra></extra>"})
    _update(fig["layout"], {"xaxis": {"type": "category",
                                      "title": {"text": plain(t("axis_year", lang))}}})
    _money_axis(fig, df["amount"].max(), currency, lang)
    return _layout(fig, 300)
