"""The dashboard in headless Chromium, served on 127.0.0.1 by a real server thread, over a
warehouse built from the real EIS documents plus the hand-written tagged fixture contracts
(the demo warehouse's journeys are in test_journeys.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from dashboard_fixture import built_dashboard_db
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from werkzeug.serving import make_server

from survtrack.dashboard.app import create_app

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
BELGOROD = "fz44_contract_v6.0_belgorod_3312100001816000003.xml"
BELGOROD_DOC = "e0bfbd501e57957cf3da31f6e5156c4c319dd7cdb339d5c0a97298955d16c4c2"
LEGEND = "#overview-chart .legendtext"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, shared):
    db = built_dashboard_db(tmp_path_factory.mktemp("browser"), shared)
    server = make_server("127.0.0.1", 0, create_app(db).server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 1300})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors


def legend(page) -> list[str]:
    return [e.text_content() for e in page.query_selector_all(LEGEND)]


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def wait_legend(page, present: str, absent: str | None = None) -> None:
    page.wait_for_function(
        """([sel, present, absent]) => {
             const names = [...document.querySelectorAll(sel)].map(e => e.textContent);
             return names.includes(present) && (!absent || !names.includes(absent));
           }""", arg=[LEGEND, present, absent], polling=100)


def wait_kpi(page, kpi: str, text: str) -> None:
    page.wait_for_function("([id, text]) => document.getElementById(id).textContent == text",
                           arg=[kpi, text], polling=100)


def test_front_page_shows_vendor_names(page, base_url):
    page.goto(base_url + "/")
    wait_legend(page, "Vocord")
    assert legend(page) == ["Vocord", "NtechLab", "Hikvision USA Inc", "Axxon Soft",
                            'Филиал ПАО "МРСК Центра" - "Белгородэнерго"']
    assert page.text_content("#kpi-total") == "$23.5\u00a0m"
    assert page.text_content("#kpi-contracts") == "8"
    assert page.text_content("#kpi-vendors") == "5"
    assert page.text_content("#kpi-not-converted") == "2"
    assert page.is_checked("#f-surveillance")


def test_filter_changes_chart_and_url_and_the_url_restores_it(page, base_url, browser):
    page.goto(base_url + "/")
    wait_legend(page, "Hikvision USA Inc")
    page.click("#f-currency")
    page.get_by_role("option", name="RUB (in original currency)").click()
    wait_legend(page, "Vocord", absent="Hikvision USA Inc")  # a USD contract: not in roubles
    assert query(page) == {"currency": ["RUB"]}
    assert page.text_content("#kpi-total") == "₽1.5\u00a0bn"
    page.click("#f-surveillance")
    page.wait_for_function("() => location.search.includes('scope=all')", polling=100)
    wait_kpi(page, "kpi-contracts", "12")
    assert query(page) == {"currency": ["RUB"], "scope": ["all"]}
    shared_link = page.url

    other = browser.new_page()
    other.goto(shared_link)
    other.wait_for_selector(LEGEND)
    assert other.text_content("#kpi-contracts") == "12"
    assert not other.is_checked("#f-surveillance")
    assert "RUB" in other.text_content("#f-currency")
    assert legend(other) == legend(page)
    other.close()
    page.bring_to_front()

    page.go_back()  # back: roubles, surveillance only
    wait_kpi(page, "kpi-contracts", "7")
    assert query(page) == {"currency": ["RUB"]} and page.is_checked("#f-surveillance")
    page.go_back()  # back again: the default view
    wait_legend(page, "Hikvision USA Inc")
    assert urlparse(page.url).query == ""
    page.go_forward()
    wait_legend(page, "Vocord", absent="Hikvision USA Inc")


def _click_bar(page, trace_name: str, x_label: str) -> None:
    """Click the middle of one bar (Plotly finds the point under the mouse)."""
    box = page.evaluate(
        """([name, x]) => {
             const gd = document.querySelector('#overview-chart .js-plotly-plot');
             const i = gd.data.findIndex(t => t.name === name);
             const j = gd.data[i].x.indexOf(x);
             const bar = gd.querySelectorAll('.barlayer .trace')[i]
                           .querySelectorAll('.point path')[j];
             const r = bar.getBoundingClientRect();
             return [r.x + r.width / 2, r.y + r.height / 2];
           }""", [trace_name, x_label])
    page.mouse.click(*box)


def grid_ids(page) -> list[str]:
    return sorted(e.text_content() for e in
                  page.query_selector_all("#contracts-grid .ag-row [col-id=contract_id]"))


def wait_grid(page, count: int) -> None:
    """Until the grid shows `count` loaded rows (not the infinite model's loading stubs)."""
    page.wait_for_function(
        """(n) => { const cells = [...document.querySelectorAll(
                      '#contracts-grid .ag-row [col-id=contract_id]')];
                    return cells.length == n && cells.every(c => c.textContent.trim()); }""",
        arg=count, polling=100)


def test_bar_click_lists_its_contracts(page, base_url):
    page.goto(base_url + "/")
    wait_legend(page, "Vocord")
    for attempt in range(3):  # a busy machine may still be laying the chart out
        _click_bar(page, "Vocord", "2020")
        try:
            page.wait_for_url("**/contracts?**", timeout=5_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    assert query(page) == {"vendor": ["fixture-entity:vocord"], "from": ["2020"],
                           "to": ["2020"]}
    wait_grid(page, 1)
    assert grid_ids(page) == ["fixture:vocord-2020"]
    assert page.text_content("#contract-count") == "1 contract"


def test_legend_click_lists_the_vendors_contracts(page, base_url):
    page.goto(base_url + "/")
    wait_legend(page, "NtechLab")
    page.locator("#overview-chart .legend .traces", has_text="NtechLab") \
        .locator(".legendtoggle").click()
    page.wait_for_url("**/contracts?**")
    assert query(page) == {"vendor": ["RU-INN:7701000002"]}
    wait_grid(page, 2)
    assert grid_ids(page) == ["fixture:ntech-2020", "fixture:ntech-2021"]


def test_contract_links_to_source_page_and_archived_document(page, base_url, shared):
    page.goto(base_url + "/contracts?scope=all&vendor=RU-INN:6901067107")
    link = page.wait_for_selector("#contracts-grid .ag-row a.document-link")
    href = link.get_attribute("href")
    assert href == f"/document/{BELGOROD_DOC}"
    source = page.get_attribute("#contracts-grid .ag-row a.source-link", "href")
    assert source.startswith("https://zakupki.gov.ru/epz/contract/")
    assert "3312100001816000003" in source
    response = page.request.get(base_url + href + "/raw")
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.body() == (shared / "eis" / BELGOROD).read_bytes()


def _first_row_is(page, contract_id: str) -> None:
    page.wait_for_function(
        """(id) => { const c = document.querySelector(
                     "#contracts-grid .ag-row[row-index='0'] [col-id=contract_id]");
                   return c && c.textContent == id; }""", arg=contract_id, polling=100)


def test_grid_sorts_on_the_server(page, base_url):
    page.goto(base_url + "/contracts?scope=all")
    page.wait_for_selector("#contracts-grid .ag-row [col-id=contract_id]")
    header = "#contracts-grid .ag-header-cell[col-id=amount_usd] .ag-header-cell-label"
    page.click(header)  # ascending: the smallest converted amount first
    _first_row_is(page, "fixture:untagged-2021")
    page.click(header)  # descending
    _first_row_is(page, "fixture:vocord-2020")
    second = page.text_content("#contracts-grid .ag-row[row-index='1'] [col-id=amount_usd]")
    assert second == "$5,000,000.00"


def test_russian_interface(page, base_url):
    from babel import Locale

    page.goto(base_url + "/?lang=ru")
    wait_legend(page, "Vocord")
    assert page.text_content("#nav-nav_overview") == "Обзор"
    assert page.text_content("#kpi-total") == "23,5\u00a0млн\u00a0$"
    page.click("#nav-nav_contracts")
    page.wait_for_url("**/contracts?lang=ru")
    page.wait_for_selector("#contracts-grid .ag-row")
    shown = page.text_content("#contract-count")  # Russian plurals, by Babel's rule
    n = int(shown.split()[0])
    assert shown == f"{n} " + {"one": "контракт", "few": "контракта"}.get(
        Locale("ru").plural_form(n), "контрактов")


def test_vendor_search_filter(page, base_url):
    page.goto(base_url + "/?scope=all")
    wait_legend(page, "Vocord")
    page.click("#f-vendor")
    page.keyboard.type("вокорд")  # a spelling merged into the Vocord entity
    option = page.get_by_role("option", name="Vocord", exact=True)  # the name, never the key
    option.click()
    page.wait_for_function("() => location.search.includes('vendor=')", polling=100)
    assert query(page) == {"vendor": ["fixture-entity:vocord"], "scope": ["all"]}
    wait_legend(page, "Vocord", absent="NtechLab")
    assert page.text_content("#kpi-contracts") == "2"
