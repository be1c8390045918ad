"""Red flags where an analyst looks: the rates of a selection (overview), of a vendor or buyer
against its selection (profiles), each over the contracts where the flag is knowable."""

from __future__ import annotations

from dash import dcc, html

from survtrack.analysis import spending
from survtrack.analysis.spending import Filters

from . import formats
from .common import href
from .i18n import t


def _rate(row, lang: str) -> str:
    """'3 of 40 (7.5 %)': raised of knowable contracts."""
    if not row.knowable:
        return "–"
    return t("flag_of_contracts", lang).format(
        raised=formats.number(row.raised, lang), knowable=formats.number(row.knowable, lang),
        rate=formats.percent(row.rate, lang))


def _money_rate(row, lang: str) -> str:
    """'8.5 %' of the money, saying over how many contracts where some have no sum."""
    if not row.valued:
        return "–"
    text = formats.percent(row.amount_rate, lang)
    if row.valued < row.knowable:
        text += " " + t("flag_valued", lang).format(valued=formats.number(row.valued, lang),
                                                  knowable=formats.number(row.knowable, lang))
    return text


def _name(row, lang: str) -> str:
    return row.name_ru if lang == "ru" else row.name_en


def selection_flags(con, f: Filters, lang: str) -> html.Div:
    """Per flag: raised of knowable contracts in the selection and the share of its money;
    each flag links to the selection narrowed to the contracts raising it."""
    rates = spending.flag_rates(con, f)
    head = [html.H3(t("flags_title", lang)), html.P(t("flags_hint", lang), className="hint")]
    if not rates.knowable.any():
        return html.Div(head + [html.P(t("flags_none", lang), className="empty")],
                        id="selection-flags")
    rows = [html.Tr([
        html.Td(dcc.Link(_name(r, lang), href=href("/", f.with_(flag=r.flag), lang))
                if r.raised else _name(r, lang)),
        html.Td(_rate(r, lang), className="num"),
        html.Td(_money_rate(r, lang), className="num"),
        html.Td(dcc.Link(t("see_contracts", lang),
                         href=href("/contracts", f.with_(flag=r.flag), lang))
                if r.raised else ""),
    ], className="flag-row", **{"data-flag": r.flag}) for r in rates.itertuples()]
    heads = [t("flag_col", lang), f"{t('flag_raised', lang)} / {t('flag_knowable', lang)}",
             t("flag_money_rate", lang), ""]
    return html.Div(head + [html.Table([html.Thead(html.Tr([html.Th(h) for h in heads])),
                                        html.Tbody(rows)], className="table table-sm")],
                    id="selection-flags")


def party_flags(con, role: str, key: str, f: Filters, lang: str) -> html.Div:
    """Per flag: the party's rate beside the rate of every contract in the selection."""
    mine = spending.flag_rates(con, f.with_(**{role: key}))
    everyone = spending.flag_rates(con, f.with_(**{role: None}))
    head = [html.H3(t("flags_party_title", lang)),
            html.P(t("flags_party_hint", lang), className="hint")]
    if not mine.knowable.any():
        return html.Div(head + [html.P(t("flags_none", lang), className="empty")],
                        id="profile-flags")
    rows = [html.Tr([
        html.Td(dcc.Link(_name(m, lang), href=href("/contracts", f.with_(
            **{role: key, "flag": m.flag}), lang)) if m.raised else _name(m, lang)),
        html.Td(_rate(m, lang), className="num"),
        html.Td(_money_rate(m, lang), className="num"),
        html.Td(_rate(a, lang), className="num"),
        html.Td(_money_rate(a, lang), className="num"),
    ], className="flag-row", **{"data-flag": m.flag})
        for m, a in zip(mine.itertuples(), everyone.itertuples()) if m.knowable]
    heads = [t("flag_col", lang), t("flag_this_party", lang), t("flag_money_rate", lang),
             t("flag_selection", lang), t("flag_money_rate", lang)]
    return html.Div(head + [html.Table([html.Thead(html.Tr([html.Th(h) for h in heads])),
                                        html.Tbody(rows)], className="table table-sm")],
                    id="profile-flags")


def options(lang: str) -> list[dict]:
    """The flag filter's choices, in flags.csv order."""
    from survtrack.analysis import flags

    return [{"label": flag.name(lang), "value": name}
            for name, flag in flags.definitions().items()]
