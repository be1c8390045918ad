"""One contract, everything the warehouse knows about it, each fact with where it came from."""

from __future__ import annotations

from dash import dcc, html

from survtrack.analysis import provenance
from survtrack.analysis.classify import classifier
from survtrack.analysis.spending import Filters

from .. import flags as flag_views
from .. import formats, labels
from ..common import not_found
from ..i18n import t
from ..urls import contract_href, document_href, href

ORG_FIELDS = ("name", "short_name", "org_id", "kpp", "country", "parent_id")


def _dl(pairs: list[tuple[str, object]], id_: str | None = None) -> html.Dl:
    items = []
    for label, value in pairs:
        if value is None or value == "" or value == []:
            continue
        items += [html.Dt(label), html.Dd(value)]
    return html.Dl(items, className="facts", id=id_ or "")


def _table(head: list[str], body: list[list], id_: str, num: tuple[int, ...] = ()) -> html.Table:
    return html.Table([
        html.Thead(html.Tr([html.Th(h, className="num" if i in num else None)
                            for i, h in enumerate(head)])),
        html.Tbody([html.Tr([html.Td("–" if c is None or c == "" else c,
                                     className="num" if i in num else None)
                             for i, c in enumerate(row)]) for row in body]),
    ], className="table table-sm", id=id_)


def _external(url: str | None, label: str | None = None):
    if not url or not str(url).startswith(("http://", "https://")):
        return url
    return html.A(label or url, href=url, target="_blank", rel="noopener noreferrer",
                  className="source-link")


def _doc_link(document_id: str | None, lang: str, row: str | None = None):
    if not document_id:
        return None
    return dcc.Link(document_id[:12] + "…", href=document_href(document_id, lang, row),
                    className="document-link", title=document_id)


def _money(record: dict, lang: str) -> html.Dl:
    c, m = record["contract"], record["money"]
    amount = formats.money(c["amount"], c["currency"] or "", lang, compact=False)
    if c["amount"] is None:
        amount = t("no_amount_published", lang)
    elif not c["currency"]:
        amount = f"{formats.number(c['amount'], lang, 2)} ({t('no_currency', lang)})"
    if c["amount_usd"] is not None:
        usd = formats.money(c["amount_usd"], "USD", lang, compact=False)
        how = _rate_text(c, m, lang)
        usd = [usd, html.Span(f" — {how}", className="hint")] if how else usd
    elif c["amount"] is not None:
        usd = f"{t('not_converted_short', lang)}: {m['why_not_converted'] or '–'}"
    else:
        usd = None
    constant = None
    if c.get("amount_usd_constant") is not None:
        constant = (formats.money(c["amount_usd_constant"], "USD", lang, compact=False)
                    + " " + t("constant_dollars", lang).format(year=m["base_year"]))
    return _dl([(t("amount_published", lang), html.Span(amount, id="contract-amount")),
                (t("amount_usd", lang), usd), (t("amount_constant", lang), constant),
                (t("paid_measure", lang), html.Span(_paid(record, lang), id="contract-paid"))],
               "contract-money")


def _paid(record: dict, lang: str) -> list | str:
    """What the 'paid' measure counts for this contract: the payments' sum per currency and,
    as the spending views sum it, in US dollars with each payment at its own date's rate."""
    if not record["payments"]:
        return t("paid_none", lang)
    native = "; ".join(formats.money(v, k, lang, compact=False)
                       for k, v in record["paid"].items())
    if record["paid_usd"] is None:
        return [native, html.Span(f" — {t('paid_not_converted', lang)}", className="hint")]
    usd = formats.money(record["paid_usd"], "USD", lang, compact=False)
    return [native, html.Span(f" — {usd}, {t('paid_usd_total', lang)}", className="hint")]


def _dated(c: dict, lang: str) -> str:
    """The date the year and the rate stand on, and what it is (date_basis)."""
    basis = t(f"date_basis_{c['date_basis']}", lang) if c.get("date_basis") else None
    if c.get("dated_on"):
        return f"{formats.day(c['dated_on'], lang)} ({basis})" if basis else \
            formats.day(c["dated_on"], lang)
    if c.get("year") is not None:
        return f"{c['year']} ({basis})" if basis else str(c["year"])
    return t("undated", lang)


def _rate_text(c: dict, m: dict, lang: str) -> str | None:
    source = c["fx_source"]
    if source == "usd" or not source:
        return t("published_in_usd", lang) if source == "usd" else None
    rate = f"1 USD = {formats.number(m['rate'], lang, 4)} {c['currency']}" if m["rate"] else ""
    if source.endswith("-annual-average"):
        when = t("annual_average", lang).format(year=c["year"])
        source = source[:-len("-annual-average")]
    else:
        when = formats.day(c["fx_date"], lang)
    return f"{rate} ({source.upper()}, {when})"


def _party(con, role: str, party: dict, f: Filters, lang: str) -> html.Div:
    org, entity = party["organization"], party["entity"]
    name = party["name"] or t(f"{role}_not_published", lang)
    heading = dcc.Link(name, href=href(f"/{role}", f.with_(**{role: None}), lang,
                                        id=party["key"])) if party["key"] else name
    pairs = []
    if org:
        pairs += [(t("name_published", lang), org["name"]),
                  (t("short_name", lang), org["short_name"]),
                  (t("identifier", lang), labels.identifier(org["org_id"])), ("KPP", org["kpp"]),
                  (t("f_country", lang), formats.country_name(org["country"], lang)
                   if org["country"] else None),
                  (t("parent", lang), org["parent_id"]),
                  (t("source_document", lang), _doc_link(org["document_id"], lang))]
    elif party["org_id"] is None:
        pairs.append(("", t(f"{role}_not_published", lang)))
    if entity:
        pairs += [(t("entity", lang), entity["name"]),
                  (t("profile_names", lang), "; ".join(entity["aliases"] or [])),
                  (t("profile_reason", lang), labels.entity_reason(
                      con, entity["entity_id"], entity["reason"]))]
    return html.Div([html.H2([t(f"f_{role}", lang), ": ", heading]), _dl(pairs)],
                    id=f"contract-{role}")


def _lead(record: dict, lang: str) -> html.Div | None:
    lead = record["lead"]
    if lead is None:
        return None
    c = record["contract"]
    cited = [lead["outlet"] or t("outlet_unknown", lang)]
    if lead["published_on"]:
        cited.append(formats.day(lead["published_on"], lang))
    registry = lead["registry_ref"] or t("registry_ref_unknown", lang)
    return html.Div([
        html.P(t("lead_statement", lang), className="lead-statement"),
        html.P([t("citation", lang), ": ", ", ".join(cited), " — ", _external(lead["url"])]),
        html.P([t("registry_ref", lang), ": ", registry]),
        html.P(lead["checked"], className="hint") if lead["checked"] else None,
        dcc.Link(t("lead_row", lang), href=document_href(c["document_id"], lang,
                                                         c["native_id"])),
    ], className="callout", id="lead-citation")


def layout(con, contract_id: str, f: Filters, query: dict, lang: str, archive=None):
    record = provenance.contract_record(con, contract_id, archive)
    if record is None:
        return not_found(lang, t("no_such_contract", lang).format(id=contract_id))
    c = record["contract"]
    kicker = t("lead_kicker" if record["lead"] else "contract_kicker", lang)
    names = classifier()
    sections = [
        html.Div(kicker, className="kicker"),
        html.H1(c["title"] or c["contract_id"], id="contract-title"),
        html.Div([html.Span(labels.source_name(c["source"], lang), className="badge me-1"),
                  html.Span(labels.status_name(c["status"], lang), className="badge me-1",
                            id="contract-status"),
                  *[html.Span(labels.category_name(cat, lang), className="badge me-1")
                    for cat in record["categories"]]]),
        _lead(record, lang),
        html.P(t("cancelled_statement", lang).format(status=c["status"]),
               className="callout", id="contract-cancelled") if record["cancelled"] else None,
        html.Div([
            html.Div([html.H2(t("identity", lang)), _dl([
                (t("contract_id", lang), html.Code(c["contract_id"])),
                (t("lead_id" if c["source"] == "curated" else "registry_number", lang),
                 html.Span(c["native_id"], id="registry-number")),
                (t("version", lang), c["version"]),
                (t("public_page", lang), _external(c["url"])),
                (t("notice", lang), c["notice_id"]),
                (t("procedure", lang), c["procedure"]),
            ], "contract-identity")], className="col"),
            html.Div([html.H2(t("money", lang)), _money(record, lang)], className="col"),
            html.Div([html.H2(t("dates", lang)), _dl([
                (t("signed_on", lang), formats.day(c["signed_on"], lang)
                 if c["signed_on"] else t("not_published", lang)),
                (t("dated_on", lang), html.Span(_dated(c, lang), id="contract-dated")),
                (t("year", lang), c["year"]),
                (t("published_on", lang), formats.day(c["published_on"], lang)
                 if c["published_on"] else None),
            ], "contract-dates")], className="col"),
        ], className="row"),
        html.Div([html.Div(_party(con, "buyer", record["buyer"], f, lang), className="col"),
                  html.Div(_party(con, "vendor", record["vendor"], f, lang), className="col")],
                 className="row"),
    ]
    def link(document_id):
        return _doc_link(document_id, lang)

    sections += [flag_views.contract_flags(con, c["contract_id"], lang, link),
                 flag_views.contract_thread(con, c["contract_id"], lang, link)]
    if record["warnings"]:
        sections += [html.H2(t("suspicious_values", lang)), _table(
            [t("column", lang), t("value", lang), t("rule", lang), t("reason", lang)],
            [[html.Code(w["column"]), w["value"], html.Code(w["rule"]), w["reason"]]
             for w in record["warnings"]], "contract-warnings")]
    if record["versions"]:
        sections += [html.H2(t("versions", lang)), _table(
            [t("version", lang), t("published_on", lang), t("amount", lang),
             t("what_changed", lang), t("document", lang)],
            [[v["version"], formats.day(v["published_on"], lang) if v["published_on"] else None,
              formats.money(v["amount"], v["currency"] or "", lang, compact=False),
              "; ".join(v["changes"]), _doc_link(v["document_id"], lang)]
             for v in record["versions"]], "contract-versions", num=(2,))]
    if record["items"]:
        sections += [html.H2(t("items", lang)), _table(
            ["#", t("description", lang), t("code", lang), t("code_name", lang),
             t("quantity", lang), t("unit_price", lang), t("amount", lang)],
            [[i["line_no"], i["description"],
              f"{i['scheme'] or ''} {i['code'] or ''}".strip(),
              names.code_name(i["scheme"], i["code"]),
              " ".join(x for x in (formats.exact(i["quantity"], lang)
                                   if i["quantity"] is not None else None, i["unit"]) if x),
              formats.exact(i["unit_price"], lang) if i["unit_price"] is not None else None,
              formats.exact(i["amount"], lang) if i["amount"] is not None else None]
             for i in record["items"]], "contract-items", num=(4, 5, 6))]
    if record["payments"]:
        total = "; ".join(formats.money(v, k, lang, compact=False)
                          for k, v in record["paid"].items())
        sections += [html.H2(t("payments", lang)), _table(
            [t("paid_on", lang), t("amount", lang), t("amount_usd", lang), t("reference", lang),
             t("document", lang)],
            [[formats.day(p["paid_on"], lang) if p["paid_on"] else None,
              formats.money(p["amount"], p["currency"] or "", lang, compact=False),
              formats.money(p["amount_usd"], "USD", lang, compact=False)
              if p.get("amount_usd") is not None else None,
              p["reference"], _doc_link(p["document_id"], lang)] for p in record["payments"]],
            "contract-payments", num=(1, 2)),
            html.P([t("paid_total", lang), ": ", html.B(total or "–", id="paid-total"),
                    f" ({formats.money(record['paid_usd'], 'USD', lang, compact=False)})"
                    if record["paid_usd"] is not None else None])]
    if record["events"]:
        sections += [html.H2(t("events", lang)), _table(
            [t("event", lang), t("occurred_on", lang), t("reason", lang),
             t("reported_paid", lang), t("document", lang)],
            [[labels.status_name(e["event"], lang),
              formats.day(e["occurred_on"], lang) if e["occurred_on"] else None,
              e["reason"], formats.money(e["reported_paid"], c["currency"] or "", lang,
                                         compact=False)
              if e["reported_paid"] is not None else None, _doc_link(e["document_id"], lang)]
             for e in record["events"]], "contract-events", num=(3,))]
    if record["tags"]:
        sections += [html.H2(t("tags", lang)), _table(
            [t("f_category", lang), t("rule", lang), t("evidence", lang), t("score", lang)],
            [[labels.category_name(g["category"], lang), html.Code(g["rule"]), g["evidence"],
              formats.number(g["score"], lang, 2) if g["score"] is not None else None]
             for g in record["tags"]], "contract-tags", num=(3,))]
    if record["notices"]:
        sections += [html.H2(t("notices", lang)), _table(
            [t("kind", lang), t("published_on", lang), t("title", lang), t("document", lang)],
            [[labels.kind_name(n["kind"], lang), formats.day(n["published_on"], lang) if n["published_on"] else None,
              n["title"], _doc_link(n["document_id"], lang)] for n in record["notices"]],
            "contract-notices")]
    sections += [html.H2(t("documents_behind", lang)), _table(
        [t("document", lang), t("kind", lang), t("what_it_told", lang), t("public_page", lang),
         t("fetched_at", lang), t("raw_bytes_head", lang)],
        [[_doc_link(d["document_id"], lang,
                    c["native_id"] if c["source"] == "curated" else None),
          labels.kind_name(d.get("kind"), lang),
          ", ".join(labels.document_role(r, lang) for r in d["roles"]), _external(d.get("url")),
          html.Span(formats.day(d["fetched_at"], lang), className="volatile")
          if d.get("fetched_at") else None,
          html.A(t("raw_bytes", lang), href=f"/document/{d['document_id']}/raw",
                 target="_blank") if d["known"] else None]
         for d in record["documents"]], "contract-documents")]
    sections += [html.Details([html.Summary(t("every_field", lang)), _table(
        [t("column", lang), t("value", lang)],
        [[html.Code(k), str(v)] for k, v in c.items() if v is not None], "contract-fields")]),
        html.P(dcc.Link(t("back_overview", lang), href=href("/", f, lang)), className="mt-3"),
        html.Span(contract_href(c["contract_id"], lang), id="contract-link", hidden=True)]
    return html.Div(sections, id="contract-page")
