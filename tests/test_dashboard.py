"""The dashboard's server side: pages rendered from URLs, archived documents, downloads,
formats and interface text (the browser tests drive the same app in Chromium)."""

from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import parse_qs, urlencode

import pandas as pd
import plotly
import pytest
from dashboard_fixture import built_dashboard_db
from openpyxl import load_workbook

from survtrack.analysis.spending import Filters
from survtrack.dashboard import formats, urls
from survtrack.dashboard.app import (
    create_app,
    drill_down,
    filters_to_search,
    filters_to_url,
    render,
)
from survtrack.dashboard.i18n import t
from survtrack.dashboard.pages.contracts import page_rows
from survtrack.warehouse.snapshot import SnapshotReader

BELGOROD_DOC = "e0bfbd501e57957cf3da31f6e5156c4c319dd7cdb339d5c0a97298955d16c4c2"


@pytest.fixture(scope="module")
def db(tmp_path_factory, shared):
    return built_dashboard_db(tmp_path_factory.mktemp("dash"), shared)


@pytest.fixture(scope="module")
def client(db):
    return create_app(db).server.test_client()


def as_json(component) -> str:
    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)


def test_document_route_serves_archived_bytes(client, shared):
    response = client.get(f"/document/{BELGOROD_DOC}/raw")
    assert response.status_code == 200
    real = (shared / "eis" / "fz44_contract_v6.0_belgorod_3312100001816000003.xml").read_bytes()
    assert response.data == real
    assert response.mimetype == "application/xml"
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("bad,status", [("E0BF" + "0" * 60, 400), ("g" * 64, 400),
                                         ("abc", 400), ("0" * 64, 404)])
def test_document_route_rejects_bad_ids(client, bad, status):
    assert client.get(f"/document/{bad}/raw").status_code == status
    assert client.get(f"/document/{bad}").status_code == 404  # the page: not found


def test_document_route_never_leaves_the_archive(client):
    for path in ("/document/..%2F..%2F..%2Fetc%2Fpasswd", "/document/../../../etc/passwd",
                 "/document/..%2F..%2F..%2Fetc%2Fpasswd/raw"):
        assert b"root:" not in client.get(path).data


@pytest.mark.parametrize("form", ["relative", "absolute", "symlinked", "archive-env-relative"])
def test_documents_served_whatever_form_the_warehouse_path_takes(db, tmp_path, monkeypatch,
                                                                 shared, form):
    """`send_file` resolves a relative path against the package folder, not the working
    directory: the app makes the warehouse and archive paths absolute before serving."""
    monkeypatch.chdir(db.parent.parent)
    path = {"relative": f"{db.parent.name}/{db.name}", "absolute": str(db),
            "symlinked": str(tmp_path / "link" / db.name),
            "archive-env-relative": str(db)}[form]
    if form == "symlinked":
        (tmp_path / "link").symlink_to(db.parent)
    if form == "archive-env-relative":
        monkeypatch.setenv("SURVTRACK_ARCHIVE", f"{db.parent.name}/archive")
    client = create_app(path).server.test_client()
    real = (shared / "eis" / "fz44_contract_v6.0_belgorod_3312100001816000003.xml").read_bytes()
    assert client.get(f"/document/{BELGOROD_DOC}/raw").data == real
    assert client.get(f"/document/{BELGOROD_DOC}").status_code == 200
    assert client.get("/contract/eis%3A3312100001816000003").status_code == 200
    assert client.get("/contract/eis%3Anone").status_code == 404


def read_export(text: str) -> tuple[dict, list[dict]]:
    """A downloaded CSV: its notes (the comment lines, counted in the first) and its rows."""
    lines = text.splitlines(keepends=True)
    count = int(re.search(r"after the (\d+) lines", lines[0]).group(1))
    assert all(line.startswith("#") for line in lines[:count])
    assert not lines[count].startswith("#")
    notes = dict(line[2:].rstrip("\r\n").split(": ", 1) for line in lines[1:count])
    return notes, list(csv.DictReader(io.StringIO("".join(lines[count:]))))


def test_csv_download_is_the_selection_and_says_so(client):
    response = client.get("/download/contracts.csv?vendor=fixture-entity:vocord")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r"attachment; filename=survtrack-contracts_vendor-fixture-entity-vocord"
                        r"_tagged_\d{8}T\d+Z\.csv", disposition), disposition
    text = response.data.decode("utf-8-sig")
    notes, rows = read_export(text)
    assert notes["selection"] == ("surveillance-tagged contracts only; vendor"
                                  " fixture-entity:vocord; summed in US dollars (converted)")
    assert notes["view"] == "/contracts?vendor=fixture-entity%3Avocord"
    assert notes["rows"] == "2" and notes["survtrack"] and notes["snapshot"]
    assert [r["contract_id"] for r in rows] == ["fixture:vocord-2021", "fixture:vocord-2020"]
    assert rows[1]["amount"] == "700000000.00" and rows[1]["currency"] == "RUB"
    assert rows[1]["amount_usd"] == "10000000.0"
    assert rows[0]["vendor"] == "Vocord"  # both spellings, one entity
    assert rows[1]["registry_number"] == "vocord-2020"
    assert (rows[1]["date_basis"], rows[1]["cancelled"]) == ("signed", "False")
    assert rows[1]["categories"] == "facial_recognition;video_surveillance"
    assert rows[1]["contract_page"] == "http://localhost/contract/fixture%3Avocord-2020"
    pandas_reads = pd.read_csv(io.StringIO(text), skiprows=len(notes) + 1)  # as the file says
    assert list(pandas_reads["contract_id"]) == [r["contract_id"] for r in rows]


def test_xlsx_download(client):
    response = client.get("/download/contracts.xlsx?scope=all&currency=RUB&from=2016&to=2016")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    sheet = book["contracts"]
    rows = list(sheet.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    got = {r[header.index("contract_id")]: r for r in body}
    assert set(got) == {"eis:3312100001816000003", "eis:2366200608816001262"}
    belgorod = got["eis:3312100001816000003"]
    assert belgorod[header.index("amount")] == 6987268.99
    assert belgorod[header.index("document_id")] == BELGOROD_DOC
    assert belgorod[header.index("registry_number")] == "3312100001816000003"
    assert sheet.freeze_panes == "A2"
    signed = sheet.cell(row=2, column=header.index("signed_on") + 1)
    assert signed.is_date and signed.number_format == "yyyy-mm-dd"
    amount = sheet.cell(row=2, column=header.index("amount") + 1)
    assert amount.number_format == "#,##0.00"
    link = sheet.cell(row=2, column=header.index("source_url") + 1)
    assert link.hyperlink.target.startswith(("http://zakupki.gov.ru/", "https://zakupki.gov.ru/"))
    assert link.hyperlink.target == link.value
    notes = dict(book["about"].iter_rows(values_only=True))
    assert notes["selection"].startswith("all contracts; dated 2016–2016; in RUB only")
    assert notes["rows"] == "2"


def test_pages_render_from_url(db):
    reader = SnapshotReader(db)
    nav, (page, _footer) = render(reader, "/", "?scope=all&lang=ru")
    text = as_json(nav) + as_json(page)
    assert t("app_title", "ru") in text and "Vocord" in text
    assert "Белгородэнерго" in text
    _, (page, _) = render(reader, "/vendor", "?id=fixture-entity:vocord")
    text = as_json(page)
    assert "VOCORD LLC" in text and "ООО «Вокорд»" in text and "same company" in text
    _, (page, _) = render(reader, "/buyer", "?id=RU-INN:7702000001")
    assert "NtechLab" in as_json(page)
    _, (page, _) = render(reader, "/countries", "?lang=ru")
    text = as_json(page)
    assert "Российская Федерация (RU)" in text and '"US"' in text  # name shown, code clicked
    _, (page, _) = render(reader, "/nowhere", "")
    assert "Page not found" in as_json(page)


def test_hostile_names_are_escaped_in_charts():
    import pandas as pd

    from survtrack.dashboard.figures import vendor_year_bars

    evil = "<a href='javascript:alert(1)'>Evil</a> & Co"
    df = pd.DataFrame({"vendor_key": ["k"], "vendor_name": [evil], "year": [2020],
                       "amount": [5.0], "contracts": [1], "rank": [1]})
    trace = vendor_year_bars(df, "USD", "en")["data"][0]
    assert trace["name"] == "&lt;a href='javascript:alert(1)'&gt;Evil&lt;/a&gt; &amp; Co"
    assert "<a" not in json.dumps(trace["customdata"])


def test_charts_title_their_axes_and_outline_their_bars():
    import pandas as pd

    from survtrack.analysis import palette
    from survtrack.dashboard import figures

    bars = pd.DataFrame({"vendor_key": ["a", "b"], "vendor_name": ["A", "B"],
                         "year": [2019, None], "amount": [3.2e9, 1e8], "contracts": [1, 2],
                         "rank": [1, 2]})
    fig = figures.vendor_year_bars(bars, "RUB", "ru")
    assert fig["layout"]["yaxis"]["title"]["text"] == "Сумма, RUB (как опубликовано)"
    assert fig["layout"]["xaxis"]["title"]["text"] == "Год подписания"
    assert list(fig["layout"]["yaxis"]["ticktext"][:2]) == ["0\u00a0₽", "1\u00a0млрд\u00a0₽"]
    ranked = figures.ranked_bars(bars.assign(name=bars["vendor_name"]), "name", "USD")
    assert ranked["layout"]["xaxis"]["title"]["text"] == "Amount, US dollars (converted)"
    years = figures.year_bars(bars, "USD")
    for trace in [*fig["data"], *ranked["data"], *years["data"]]:  # WCAG 1.4.11: 3:1
        line = trace["marker"]["line"]
        assert palette.contrast(line["color"]) >= 3 and line["width"] >= 1


def test_grid_rows_answer_a_request(db):
    con = SnapshotReader(db).cursor()
    reply = page_rows(con, urls.from_query({"scope": "all"}),
                      {"startRow": 0, "endRow": 2,
                       "sortModel": [{"colId": "amount_usd", "sort": "desc"}],
                       "filterModel": {}}, "en")
    assert reply["rowCount"] == 13
    first = reply["rowData"][0]
    assert first["contract_id"] == "fixture:vocord-2020"
    assert first["amount_text"] == "₽700,000,000.00"
    assert first["amount_usd_text"] == "$10,000,000.00"
    assert first["signed_on"] == "2 Mar 2020"
    assert first["vendor_href"] == "/vendor?scope=all&id=fixture-entity%3Avocord"
    assert first["url"] == "https://example.org/fixture/vocord-2020"


def test_controls_write_the_url_and_bars_drill_down():
    values = ["RU", None, "video_surveillance", "RUB", None, None, 2020, None, False, "paid",
              "single_bid"]
    assert filters_to_search(values, "?lang=ru") == (
        "?country=RU&category=video_surveillance&from=2020&currency=RUB&measure=paid"
        "&flag=single_bid&scope=all&lang=ru")
    assert filters_to_search(values[:-1] + ["no_such_flag"], "") == (  # unknown: ignored
        "?country=RU&category=video_surveillance&from=2020&currency=RUB&measure=paid&scope=all")
    assert filters_to_search([None] * 8 + [True, "value", None], "") == ""  # automatic money
    # US dollars chosen stay chosen: a one-currency selection would otherwise read in its own
    assert filters_to_search([None] * 3 + ["USD"] + [None] * 4 + [True, "value", None],
                             "") == "?currency=USD"
    path, search = drill_down("?country=RU&lang=ru", "fixture-entity:vocord", 2021)
    assert path == "/contracts"
    assert search == "?country=RU&vendor=fixture-entity%3Avocord&from=2021&to=2021&lang=ru"
    assert drill_down("?to=2021", "v1", "")[1] == "?vendor=v1&undated=1"  # the n.d. bar
    assert drill_down("?to=2021", "v1", None)[1] == "?vendor=v1&to=2021"  # legend entry
    assert drill_down("", "__others__", 2020, ["v2", "v1"])[1] == (
        "?from=2020&to=2020&not_vendor=v1&not_vendor=v2")
    # the party controls choose several: vendors -> compare mode, buyers -> /compare
    parties = [None] * 4 + [["b1"], ["v1", "v2"], None, None, True, "value", None]
    assert filters_to_url(parties, "?level=agency") == (
        "/", "?buyer=b1&vendor=v1&vendor=v2&level=agency")
    parties[4:6] = [["b1", "b2"], ["v1"]]
    assert filters_to_url(["RU", *parties[1:]], "?level=agency&not_vendor=v3&lang=ru") == (
        "/compare", "?country=RU&buyer=b1&buyer=b2&level=agency&lang=ru")
    # a control change keeps the exclusion no control shows
    assert filters_to_search([None] * 8 + [True, "value", None],
                             "?not_vendor=v1&lang=ru") == "?not_vendor=v1&lang=ru"


@pytest.mark.parametrize("value,currency,lang,text", [
    (3_312_000_000, "USD", "en", "$3.3\u00a0bn"),
    (3_312_000_000, "USD", "ru", "3,3\u00a0млрд\u00a0$"),
    (1_750_000, "RUB", "en", "₽1.8\u00a0m"),
    (-250_000, "EUR", "en", "-€250\u00a0k"),
    (999, "CHF", "en", "999\u00a0CHF"),
    (None, "USD", "en", "–"),
])
def test_money_formats(value, currency, lang, text):
    assert formats.money(value, currency, lang) == text


def test_number_and_date_formats():
    assert formats.number(1234567, "en") == "1,234,567"
    assert formats.number(1234567.5, "ru", 2) == "1\u00a0234\u00a0567,50"
    assert formats.money(6987268.99, "RUB", "ru", compact=False) == "6\u00a0987\u00a0268,99\u00a0₽"
    assert formats.percent(0.638297, "en") == "63.8\u00a0%"
    assert formats.day("2016-01-22", "en") == "22 Jan 2016"
    assert formats.day("2016-01-22", "ru") == "22.01.2016"
    # a page of the grid mixing dated and undated contracts reads NaT for the gaps
    dates = pd.to_datetime(pd.Series(["2019-12-03", None]))
    assert [formats.day(d, "en") for d in dates] == ["3 Dec 2019", "–"]
    assert formats.nice_ticks(23.5e6) == [0, 5e6, 10e6, 15e6, 20e6, 25e6]
    assert formats.country_name("US", "en") == "United States (US)"
    assert formats.country_name("RU", "ru") == "Российская Федерация (RU)"
    assert formats.country_name("XX", "en") == "XX"
    assert formats.country_name(None, "ru") == "неизвестно"


def test_an_axis_reads_in_one_format_with_its_currency_symbol():
    nb = "\u00a0"
    ticks = formats.nice_ticks(160e6)
    assert formats.money_ticks(ticks, "USD") == ["$0"] + [f"${n}{nb}m" for n in (50, 100, 150, 200)]
    assert formats.money_ticks([0, 5e8, 1e9, 1.5e9], "RUB") == \
        ["₽0", f"₽0.5{nb}bn", f"₽1.0{nb}bn", f"₽1.5{nb}bn"]
    assert formats.money_ticks([0, 1e9, 2e9], "RUB", "ru") == \
        [f"0{nb}₽", f"1{nb}млрд{nb}₽", f"2{nb}млрд{nb}₽"]
    assert formats.money_ticks([0, 5000, 12500], "GBP") == ["£0", f"£5.0{nb}k", f"£12.5{nb}k"]
    assert formats.money_ticks([0, 500, 1000], "EUR") == ["€0", "€500", "€1,000"]
    assert formats.money_ticks([0, 5e6], "KGS")[1] == f"5{nb}m{nb}KGS"  # no symbol: the code


def test_names_of_categories_and_sources_in_both_languages():
    from survtrack.dashboard import labels
    from survtrack.warehouse.protocol import categories

    for key, row in categories().items():  # every category of the taxonomy has its two names
        assert labels.category_name(key, "en") == row["label"]
        assert labels.category_name(key, "ru") != row["label"]
    assert labels.source_name("eis", "ru") == "Россия — ЕИС"
    assert labels.source_name("new_source") == "new source"
    assert labels.identifier("name:curated:ntechlab") is None
    assert labels.identifier("RU-INN:7703380158") == "RU-INN:7703380158"


def test_counts_read_with_the_languages_plurals():
    assert [formats.count(n, "contracts", "ru") for n in (1, 3, 5, 21, 11)] == [
        "1 контракт", "3 контракта", "5 контрактов", "21 контракт", "11 контрактов"]
    assert [formats.count(n, "contracts") for n in (1, 2, 1000)] == [
        "1 contract", "2 contracts", "1,000 contracts"]


def test_every_message_has_both_languages():
    from survtrack.dashboard.i18n import _table

    for key, row in _table().items():
        assert row["en"] and row["ru"], key
    assert t("nav_contracts", "ru") == "Контракты"
    assert t("nav_contracts", "xx") == "Contracts"


@pytest.mark.parametrize("with_eis", [False, True])
def test_pages_render_without_tags_or_data(tmp_path, shared, with_eis):
    """A fresh warehouse (nothing classified yet, or nothing at all) still renders."""
    from survtrack import scrapers
    from survtrack.analysis.facts import publish_snapshot
    from survtrack.scrapers.ingest import ingest
    from survtrack.warehouse.store import Warehouse

    db = tmp_path / "w.duckdb"
    with Warehouse(db) as wh:
        if with_eis:
            ingest(wh, scrapers.get("eis"), [shared / "eis"])
        publish_snapshot(db, wh.con)
    reader = SnapshotReader(db)
    _, (page, _) = render(reader, "/", "")
    assert t("no_data") in as_json(page)  # nothing tagged: the default view is empty
    for path in ("/contracts", "/countries", "/vendor", "/buyer?id=RU-INN:3662006088"):
        render(reader, path, "?scope=all")
    _, (page, _) = render(reader, "/", "?scope=all&currency=RUB")
    assert ("Белгородэнерго" in as_json(page)) == with_eis


def test_filters_url_round_trip_and_bad_input():
    """The URL codec (dashboard/urls.py): a view is its link."""
    f = Filters(country="RU", vendor="fixture-entity:vocord", year_from=2020, year_to=2021,
                currency="RUB", surveillance_only=False)
    assert urls.to_query(f) == {"country": "RU", "vendor": "fixture-entity:vocord",
                                "from": "2020", "to": "2021", "currency": "RUB", "scope": "all"}
    assert urls.from_query(parse_qs(urlencode(urls.to_query(f)))) == f
    assert urls.to_query(Filters()) == {"currency": "USD"}  # dollars asked for
    assert urls.to_query(urls.from_query({})) == {}  # no currency asked for: none written
    others = Filters(exclude_vendors=("a", "b"), currency_auto=True)
    assert urls.to_query(others) == {"not_vendor": ["a", "b"]}
    assert urls.from_query(parse_qs(urlencode(urls.to_query(others), doseq=True))) == others
    bad = urls.from_query({"from": ["20x0"], "to": ["99999"], "currency": ["dollars"],
                              "country": ["  "]})
    assert bad == Filters(currency_auto=True)
    assert urls.from_query({"currency": ["eur"]}).currency == "EUR"
    # compare mode: two vendors or more, each once; one vendor chosen ends it
    compared = urls.from_query({"vendor": ["a", "b", "a"]})
    assert (compared.vendor, compared.vendors) == (None, ("a", "b"))
    assert urls.to_query(compared) == {"vendor": ["a", "b"]}
    assert urls.from_query({"vendor": ["a"]}).vendors == ()
    assert compared.with_(vendor="a").vendors == ()



def test_grid_models_become_neutral_conditions():
    from survtrack.dashboard.pages.contracts import grid_request

    model = {"vendor_name": {"filterType": "text", "type": "contains", "filter": "x"},
             "amount": {"filterType": "number", "type": "inRange", "filter": 1, "filterTo": 2},
             "year": {"filterType": "number", "type": "lessThan", "filter": 2020},
             "title": {"filterType": "set", "values": ["a"]}, "status": "x"}
    _, _, sort, where = grid_request({"sortModel": [{"colId": "year", "sort": "desc"}, 3],
                                      "filterModel": model})
    assert sort == [("year", "desc")]
    assert where == [("vendor_name", "contains", "x"), ("amount", "between", (1, 2)),
                     ("year", "<", 2020)]
