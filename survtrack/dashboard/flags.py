"""Red flags where an analyst looks: the rates of a selection (overview), of a vendor or buyer
against its selection (profiles), each over the contracts where the flag is knowable."""

from __future__ import annotations

from dash import dcc, html

from survtrack.analysis import spending
from survtrack.analysis.spending import Filters

from . import evidence, formats
from .i18n import t
from .urls import href


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
    head = [html.H2(t("flags_title", lang)), html.P(t("flags_hint", lang), className="hint")]
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
             t("flag_money_rate", lang), t("contracts", lang)]
    return html.Div(head + [html.Table([html.Thead(html.Tr([html.Th(h) for h in heads])),
                                        html.Tbody(rows)], className="table table-sm")],
                    id="selection-flags")


def party_flags(con, role: str, key: str, f: Filters, lang: str) -> html.Div:
    """Per flag: the party's rate beside the rate of every contract in the selection."""
    mine = spending.flag_rates(con, f.with_(**{role: key}))
    everyone = spending.flag_rates(con, f.with_(**{role: None}))
    head = [html.H2(t("flags_party_title", lang)),
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


STATUS_TEXT = {"raised": "flag_raised_status", "clear": "flag_clear",
               "not_applicable": "flag_not_applicable", "unknown": "flag_unknown"}
STATUS_CLASS = {"raised": "bg-danger", "clear": "bg-success", "not_applicable": "bg-secondary",
                "unknown": "bg-light text-dark"}


def contract_flags(con, contract_id: str, lang: str, doc_link) -> html.Div:
    """Every flag of one contract: raised, clear, not applicable or unknown, with the value that
    decided it, the threshold, the evidence in words and the document it came from
    (`doc_link(document_id)`: the page's link to a document)."""
    from survtrack.analysis import flags

    rows = [html.Tr([
        html.Td(r["name_ru"] if lang == "ru" else r["name_en"]),
        html.Td(html.Span(t(STATUS_TEXT[r["status"]], lang),
                          className=f"badge {STATUS_CLASS[r['status']]}")),
        html.Td(formats.number(r["value"], lang, 2 if r["value"] and r["value"] < 1 else 0)
                if r["value"] is not None else "–", className="num"),
        html.Td(formats.number(r["threshold"], lang, 2 if r["threshold"] and r["threshold"] < 1
                               else 0) if r["threshold"] is not None else "–", className="num"),
        html.Td(evidence.said(r["evidence"], lang) or "–"),
        html.Td(doc_link(r["document_id"]) or "–"),
    ], className=f"flag-row flag-{r['status']}", **{"data-flag": r["flag"]})
        for r in flags.for_contract(con, contract_id)]
    heads = [t("flag_col", lang), t("flag_status", lang), t("flag_value", lang),
             t("flag_threshold", lang), t("flag_evidence", lang), t("document", lang)]
    return html.Div([html.H2(t("flags_contract_title", lang)),
                     html.P(t("flags_contract_hint", lang), className="hint"),
                     html.Table([html.Thead(html.Tr([html.Th(h) for h in heads])),
                                 html.Tbody(rows)], className="table table-sm")],
                    id="contract-flags")


def contract_thread(con, contract_id: str, lang: str, doc_link) -> html.Div | None:
    """The procurement's story in time order: notice, protocols, contract, versions,
    payments, termination, each step with its document."""
    from survtrack.analysis import threads

    steps = threads.for_contract(con, contract_id)
    if not steps:
        return None
    items = [html.Li([
        html.Span(formats.day(s["occurred_on"], lang) if s["occurred_on"] else "–",
                  className="thread-date me-2"),
        html.B(t(f"stage_{s['stage']}", lang), className="thread-stage me-2"),
        html.Span(s["detail"] or "", className="me-2"),
        html.Span(formats.money(s["amount"], s["currency"] or "", lang, compact=False),
                  className="me-2") if s["amount"] is not None else None,
        doc_link(s["document_id"]),
    ], className="thread-step", **{"data-stage": s["stage"]}) for s in steps]
    return html.Div([html.H2(t("thread_title", lang)),
                     html.P(t("thread_hint", lang), className="hint"),
                     html.Ol(items, className="thread")], id="contract-thread")
