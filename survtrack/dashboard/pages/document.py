"""One archived document: what it is, what it fed, and its content shown readably."""

from __future__ import annotations

import re

from dash import dcc, html

from survtrack.analysis import provenance

from .. import formats, labels
from ..common import not_found
from ..i18n import t
from ..urls import contract_href, first, href
from .contract import _dl, _external, _table

DOCUMENT_ID = re.compile(r"^[0-9a-f]{64}$")


def layout(con, document_id: str, query: dict, lang: str, archive=None):
    record = provenance.document_record(con, document_id) \
        if DOCUMENT_ID.match(document_id) else None
    if record is None:
        return not_found(lang, t("no_such_document", lang).format(id=document_id[:80]))
    d = record["document"]
    row = first(query, "row")
    archived = archive is not None and archive.has(document_id)
    sections = [
        html.Div(t("document_kicker", lang), className="kicker"),
        html.H1(f"{labels.source_name(d['source'], lang)}: {labels.kind_name(d['kind'], lang)}", id="document-title"),
        _dl([(t("document_id", lang), html.Code(document_id)),
             (t("f_source", lang), labels.source_name(d["source"], lang)), (t("kind", lang), labels.kind_name(d["kind"], lang)),
             (t("status", lang), d["status"]), (t("detail", lang), d["detail"]),
             (t("public_page", lang), _external(d["url"])), (t("origin", lang), d["origin"]),
             (t("fetched_at", lang), formats.day(d["fetched_at"], lang)
              if d["fetched_at"] else None),
             (t("media_type", lang), d["media_type"]),
             (t("size", lang), f"{formats.number(d['bytes'], lang)} B"),
             (t("raw_bytes", lang), html.A(t("raw_open", lang),
                                           href=f"/document/{document_id}/raw",
                                           target="_blank", id="document-raw"))],
            "document-facts"),
    ]
    if record["contracts"]:
        total = record["contracts_total"]
        shown = len(record["contracts"])
        sections += [html.H2(t("contracts_fed", lang).format(n=formats.number(total, lang))),
                     _table([t("contract_id", lang), t("registry_number", lang),
                             t("title", lang), t("signed_on", lang), t("amount", lang)],
                            [[dcc.Link(c["contract_id"], href=contract_href(c["contract_id"],
                                                                            lang)),
                              c["native_id"], c["title"],
                              formats.day(c["signed_on"], lang) if c["signed_on"] else None,
                              formats.money(c["amount"], c["currency"] or "", lang,
                                            compact=False)]
                             for c in record["contracts"]], "document-contracts", num=(4,)),
                     html.P(t("first_n", lang).format(n=shown), className="hint")
                     if shown < total else None]
    if record["notices"]:
        sections += [html.H2(t("notices", lang)), _table(
            [t("notice", lang), t("kind", lang), t("title", lang), t("amount", lang)],
            [[n["notice_id"], labels.kind_name(n["kind"], lang), n["title"],
              formats.money(n["amount"], n["currency"] or "", lang, compact=False)]
             for n in record["notices"]], "document-notices", num=(3,))]
    counted = [f"{t('rows_' + table, lang)}: {formats.number(n, lang)}"
               for table, n in record["counts"].items() if n]
    if counted:
        sections.append(html.P([t("rows_from_here", lang), ": ", "; ".join(counted)],
                               className="hint"))
    if record["rejects"]:
        sections += [html.H2(t("rejects", lang)), _table(
            [t("origin", lang), t("field", lang), t("reason", lang)],
            [[r["origin"], r["field"], r["reason"]] for r in record["rejects"]],
            "document-rejects")]
    sections.append(html.H2(t("content", lang) if row is None
                            else t("content_row", lang).format(row=row)))
    if row is not None:
        cited = provenance.csv_row(archive.read(document_id), row) if archived else None
        if cited and cited.get("url"):  # a lead's row: its citation first
            sections.append(html.P([t("citation", lang), ": ", ", ".join(
                x for x in (cited.get("outlet"), cited.get("published_on")) if x), " — ",
                _external(cited["url"])], className="callout", id="row-citation"))
        sections.append(dcc.Link(t("whole_document", lang),
                                 href=href(f"/document/{document_id}", None, lang)))
    view = href(f"/document/{document_id}/view", None, "en", row=row)
    sections.append(html.Iframe(src=view, id="document-content", className="doc-frame",
                                title=t("content", lang)) if archived
                    else html.P(t("not_archived", lang), className="empty"))
    return html.Div(sections, id="document-page")
