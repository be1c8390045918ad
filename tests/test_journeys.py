"""An analyst's journeys in headless Chromium, on the demo warehouse built exactly as
`make demo` builds it (the README's inbox recipe: the curated leads and every document of
../shared/data), served by `survtrack dashboard` from ./data/survtrack.duckdb, a relative path,
as a user serves it.

Every journey fails on any HTTP 5xx, any Dash callback error, any browser console error and
any error in the server's log. Expected values come from the warehouse itself, never typed in.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest

from survtrack.analysis import provenance, spending
from survtrack.analysis.spending import Filters
from survtrack.dashboard import urls

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
LEGEND = "#overview-chart .legendtext"
GRID_IDS = "#contracts-grid .ag-row [col-id=contract_id]"
SERVER_ERRORS = re.compile(r"Traceback|Exception on|\" 5\d\d ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, log: Path):
        self.url, self.log = url, log

    def log_size(self) -> int:
        return self.log.stat().st_size

    def errors_since(self, offset: int) -> list[str]:
        with open(self.log, encoding="utf-8", errors="replace") as fh:
            fh.seek(offset)
            return [line for line in fh.read().splitlines() if SERVER_ERRORS.search(line)]


@pytest.fixture(scope="session")
def demo_server(demo_site):
    """`survtrack dashboard` run in the demo's folder: the warehouse path is relative."""
    port = free_port()
    log = demo_site.root / "dashboard.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "survtrack.cli", "dashboard", "--port",
                                 str(port)], cwd=demo_site.root, stdout=out, stderr=out,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300  # a loaded 2-core machine took 75 s to start it
        while True:
            try:
                with urllib.request.urlopen(url + "/", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"dashboard did not start: {log.read_text()[-2000:]}")
                time.sleep(0.3)
        yield Server(url, log)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


class Journey:
    """A fresh browser context on the demo server, recording every error it meets."""

    def __init__(self, browser, server: Server):
        self.server, self.errors = server, []
        self.context = browser.new_context(viewport={"width": 1300, "height": 1100},
                                           accept_downloads=True)
        self.page = self.watch(self.context.new_page())

    def watch(self, page):
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("console", lambda m: self.errors.append(f"console: {m.text}")
                if m.type == "error" else None)
        page.on("response", lambda r: self.errors.append(f"HTTP {r.status} {r.url}")
                if r.status >= 500 else None)
        return page

    def goto(self, path: str):
        self.page.goto(self.server.url + path)
        self.page.wait_for_selector(".footer")  # the page callback answered
        return self.page


@pytest.fixture
def journey(browser, demo_server):
    start = demo_server.log_size()
    j = Journey(browser, demo_server)
    yield j
    j.context.close()
    errors = j.errors + [f"server: {line}" for line in demo_server.errors_since(start)]
    assert not errors, "\n".join(errors)


# -- helpers ----------------------------------------------------------------------------------

def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def wait_grid(page, count: int, of: str = "of") -> None:
    """Until the grid knows it holds `count` rows (its pager says "of <count>") and the rows
    on screen are loaded (not the infinite model's loading stubs)."""
    page.wait_for_function(
        """([sel, n]) => {
             const pager = document.querySelector(
               '#contracts-grid .ag-paging-row-summary-panel');
             const cells = [...document.querySelectorAll(sel)];
             return pager && pager.textContent.trim().endsWith(n)
                    && cells.length > 0 && cells.every(c => c.textContent.trim()); }""",
        arg=[GRID_IDS, f" {of} {count:,}"], polling=100)


def wait_grid_loaded(page) -> None:
    """Until the grid shows its first rows, or says it has none when the page counted none.
    Neither the "no rows" overlay nor a first cell with text is a sign alone: the grid shows
    the overlay, then a "Loading..." stub row, until its first answer arrives, and under load
    a crawl read the page before any contract link was on it."""
    total = int(re.sub(r"\D", "", page.text_content("#contract-count")) or 0)
    if not total:
        page.wait_for_selector("#contracts-grid .ag-overlay-no-rows-center")
        return
    page.wait_for_function(  # rows, none of them the infinite model's "Loading..." stub
        """(sel) => { const cells = [...document.querySelectorAll(sel)];
                      return cells.length > 0 && cells.every(c => c.textContent.trim())
                        && !document.querySelector('#contracts-grid .ag-row-loading'); }""",
        arg=GRID_IDS, polling=100)


def grid_ids(page) -> list[str]:
    return [e.text_content() for e in page.query_selector_all(GRID_IDS)]


def first_row_is(page, contract_id: str) -> None:
    page.wait_for_function(
        """(id) => { const c = document.querySelector(
                     "#contracts-grid .ag-row[row-index='0'] [col-id=contract_id]");
                   return c && c.textContent == id; }""", arg=contract_id, polling=100)


def choose(page, control: str, option: str, badge: str) -> None:
    """Pick an option of a filter control, then wait for the page to show it as `badge`."""
    page.click(f"#{control}")
    page.get_by_role("option", name=option, exact=True).click()
    wait_selection(page, badge)


def wait_selection(page, text: str) -> None:
    """Until the page re-rendered from the URL shows `text` among the selection badges."""
    page.wait_for_function("(t) => { const s = document.getElementById('selection');"
                           " return s && s.textContent.includes(t); }", arg=text, polling=100)


def wait_title(page, title: str) -> None:
    """Until the page's title is `title`: a callback sets it after the page renders, and a
    busy machine may show the selection first."""
    page.wait_for_function("(t) => document.title === t", arg=title, polling=100,
                           timeout=60_000)


def click_bar(page, chart: str, trace: str | None, x_label: str | None) -> None:
    """Click the middle of one bar of a Plotly chart: by trace name and x, or (both None) the
    last bar of the first trace, the top one of a ranked chart."""
    for attempt in range(3):  # a busy machine may still be laying the chart out
        box = page.evaluate(
            """([chart, name, x]) => {
                 const gd = document.querySelector('#' + chart + ' .js-plotly-plot');
                 const i = name === null ? 0 : gd.data.findIndex(t => t.name === name);
                 const bars = gd.querySelectorAll('.barlayer .trace')[i]
                                .querySelectorAll('.point path');
                 const bar = x === null ? bars[bars.length - 1] : bars[gd.data[i].x.indexOf(x)];
                 const r = bar.getBoundingClientRect();
                 return [r.x + r.width / 2, r.y + r.height / 2];
               }""", [chart, trace, x_label])
        url = page.url
        page.mouse.click(*box)
        try:
            page.wait_for_function("(u) => location.href != u", arg=url, timeout=5_000)
            return
        except Exception:
            if attempt == 2:
                raise


# -- the journeys -----------------------------------------------------------------------------

def test_j0_the_front_page_names_the_vendors_and_makes_the_readme_picture(journey, demo_site):
    con = demo_site.cursor()
    view = spending.by_vendor_year(con, Filters())
    expected = list(dict.fromkeys(view.sort_values(["rank", "year"])["vendor_name"]))
    page = journey.goto("/")
    page.wait_for_function("([sel, n]) => [...document.querySelectorAll(sel)]"
                           ".some(e => e.textContent == n)", arg=[LEGEND, expected[0]],
                           polling=100)
    shown = [e.text_content() for e in page.query_selector_all(LEGEND)]
    assert len(shown) == len(expected) == 8  # seven biggest and "others"
    for name, full in zip(shown, expected, strict=True):  # long names end in "…" on screen
        assert name == full or (name.endswith("…") and full.startswith(name[:-1])), name
    total = spending.totals(con, Filters())
    assert page.text_content("#kpi-contracts") == str(int(total["contracts"][0]))
    # curated leads summed beside registry records are marked as such, with a way to see them
    curated = spending.totals(con, Filters(source="curated"))["contracts"][0]
    assert page.text_content("#curated-note").startswith(f"{int(curated)} of these contracts")
    page.wait_for_timeout(300)  # let plotly finish its transition before the picture
    # the footer names the snapshot's timestamp: hide it so the committed picture is stable
    page.eval_on_selector(".footer", "e => e.style.visibility = 'hidden'")
    page.screenshot(path=str(ROOT / "docs" / "img" / "overview.png"), full_page=True)


def test_j1_from_the_overview_to_ntechlabs_contract_and_its_citation(journey, demo_site):
    """Overview -> Russia and RUB (and the lead's year) -> NtechLab's bar -> the grid lists it
    -> its contract page shows the citation and 200 m RUB. The README's contract picture is
    taken here."""
    con = demo_site.cursor()
    ((lead_id, year, vendor_name),) = con.execute(
        """SELECT contract_id, year, vendor_name FROM contract_facts
           WHERE source = 'curated' AND vendor_name ILIKE '%ntechlab%'
             AND amount = 200000000 AND currency = 'RUB'""").fetchall()
    page = journey.goto("/")
    choose(page, "f-country", "Russian Federation (RU)",
           "Country: Russian Federation (RU)")
    wait_selection(page, "RUB (in original currency) · the selection's only currency")
    # Russia alone already reads in roubles; the analyst fixes the choice in the link
    page.click("#f-currency")
    page.get_by_role("option", name="RUB (in original currency)", exact=True).click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('currency') == 'RUB'"
                           " && !document.getElementById('selection').textContent"
                           ".includes('only currency')", polling=100,
                           timeout=90_000)  # a loaded machine answered in more than 30 s
    # Moscow's leads crowd the roubles chart: the analyst narrows it to the lead's year
    choose(page, "f-from", str(year), f"Year: {year}–…")
    choose(page, "f-to", str(year), f"Year: {year}–{year}")
    named = spending.by_vendor_year(con, Filters(country="RU", currency="RUB",
                                                 year_from=year, year_to=year))
    assert vendor_name in set(named["vendor_name"]), "NtechLab is no longer a named bar"
    page.wait_for_function("([sel, n]) => [...document.querySelectorAll(sel)]"
                           ".some(e => e.textContent == n)", arg=[LEGEND, vendor_name],
                           polling=100)
    click_bar(page, "overview-chart", vendor_name, str(year))
    page.wait_for_url("**/contracts?**")
    selected = urls.from_query(query(page))
    assert (selected.country, selected.currency, selected.year_from) == ("RU", "RUB", year)
    expected = spending.count_contracts(con, selected)
    wait_grid(page, expected)
    assert lead_id in grid_ids(page)
    page.click(f"#contracts-grid a.app-link[href^='/contract/{quote(lead_id, safe='')}']")
    page.wait_for_selector("#contract-page")
    assert page.text_content("#contract-amount") == "₽200,000,000.00"
    record = provenance.contract_record(con, lead_id, _archive(demo_site))
    citation = page.text_content("#lead-citation")
    assert record["lead"]["outlet"] and record["lead"]["outlet"] in citation
    assert record["lead"]["url"] in citation
    assert "lead from public reporting" in citation
    # the snapshot's and the archive's timestamps change with every build: hidden, so the
    # committed picture changes only when the page does
    page.eval_on_selector_all(".footer, .volatile", "es => es.forEach(e =>"
                              " e.style.visibility = 'hidden')")
    page.screenshot(path=str(ROOT / "docs" / "img" / "contract.png"), full_page=True)


def test_j2_the_contracts_grid_lists_sorts_and_filters(journey, demo_site):
    con = demo_site.cursor()
    page = journey.goto("/contracts")
    total = spending.count_contracts(con, Filters())
    assert total > 0 and page.text_content("#contract-count").startswith(str(total))
    wait_grid(page, total)
    header = "#contracts-grid .ag-header-cell[col-id=amount_usd] .ag-header-cell-label"
    for direction in ("asc", "desc"):
        page.click(header)
        top = spending.contracts(con, Filters(), limit=1,
                                 sort=[("amount_usd", direction)])
        first_row_is(page, top["contract_id"][0])
    vendor = spending.contracts(con, Filters(), limit=1)["vendor_name"][0]
    word = max(re.findall(r"\w+", vendor), key=len)
    page.fill("#contracts-grid .ag-floating-filter[col-id=vendor_name] input", word)
    wanted = spending.count_contracts(con, Filters(), [("vendor_name", "contains", word)])
    wait_grid(page, wanted)
    assert all(word.lower() in e.text_content().lower() for e in page.query_selector_all(
        "#contracts-grid .ag-row [col-id=vendor_name]"))


def test_j3_a_registry_contract_its_document_and_the_raw_bytes(journey, demo_site):
    con = demo_site.cursor()
    page = journey.goto("/contracts?source=eis&scope=all")
    total = spending.count_contracts(con, Filters(source="eis", surveillance_only=False))
    wait_grid(page, total)
    contract_id = grid_ids(page)[0]
    page.click(f"#contracts-grid a.app-link[href^='/contract/{quote(contract_id, safe='')}']")
    page.wait_for_selector("#contract-page")
    native_id, document_id = con.execute("SELECT native_id, document_id FROM contracts"
                                         " WHERE contract_id = ?", [contract_id]).fetchone()
    assert page.text_content("#registry-number") == native_id
    page.click(f"#contract-documents a.document-link[href^='/document/{document_id}']")
    page.wait_for_selector("#document-page")
    assert native_id in page.text_content("#document-contracts")
    content = page.frame_locator("#document-content").locator("body")
    assert native_id in content.text_content()  # the XML, laid out readably
    assert content.locator("details").count() > 5  # as a collapsible tree
    raw = page.get_attribute("#document-raw", "href")
    assert raw == f"/document/{document_id}/raw"
    response = page.request.get(journey.server.url + raw)
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.body() == _archive(demo_site).read(document_id)


def test_j4_vendor_and_buyer_profiles_from_grid_links(journey, demo_site):
    page = journey.goto("/contracts?scope=all")
    page.wait_for_selector("#contracts-grid .ag-row [col-id=vendor_name] a.app-link")
    for role in ("vendor", "buyer"):
        link = page.query_selector(f"#contracts-grid .ag-row [col-id={role}_name] a.app-link")
        name = link.text_content()
        link.click()
        page.wait_for_url(f"**/{role}?**")
        page.wait_for_selector("#profile-name")
        assert page.text_content("#profile-name") == name
        page.go_back()
        page.wait_for_selector(f"#contracts-grid .ag-row [col-id={role}_name] a.app-link")


def test_j5_countries_to_a_country_to_its_contracts(journey, demo_site):
    con = demo_site.cursor()
    page = journey.goto("/countries")
    page.wait_for_selector("#country-chart .barlayer .point path", state="attached")
    click_bar(page, "country-chart", None, None)  # the top bar: the biggest spender
    top = spending.by_country(con, Filters())["key"][0]
    page.wait_for_function("(c) => location.search.includes('country=' + c)", arg=top,
                           polling=100)
    page.wait_for_selector("#kpi-contracts")
    page.click("#nav-nav_contracts")
    page.wait_for_url("**/contracts?**")
    assert query(page)["country"] == [top]
    wanted = spending.count_contracts(con, Filters(country=top))
    wait_grid(page, wanted)
    assert {e.text_content() for e in page.query_selector_all(
        "#contracts-grid .ag-row [col-id=country]")} == {top}


def test_j6_downloads_of_a_filtered_selection_read_back(journey, demo_site):
    """CSV and XLSX of Russia in roubles, every contract: the rows are the selection's, the
    file says which selection it is, and no cell is a live formula."""
    import zipfile

    from openpyxl import load_workbook

    con = demo_site.cursor()
    f = Filters(country="RU", currency="RUB", surveillance_only=False)
    names, batches = spending.iter_contracts(con, f)
    expected = {row[0]: dict(zip(names, row)) for batch in batches for row in batch}
    page = journey.goto("/contracts?country=RU&currency=RUB&scope=all")
    wait_grid(page, len(expected))
    with page.expect_download() as csv_download:
        page.click("#download-csv")
    path = csv_download.value.path()
    assert csv_download.value.suggested_filename.startswith(
        "survtrack-contracts_country-RU_currency-RUB_all_")
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines(keepends=True)
    skip = int(re.search(r"after the (\d+) lines", lines[0]).group(1))
    notes = dict(line[2:].rstrip().split(": ", 1) for line in lines[1:skip])
    assert notes["selection"] == ("all contracts; country RU; in RUB only (original currency;"
                                  " no other currency mixed in)")
    assert notes["rows"] == str(len(expected))
    rows = {r["contract_id"]: r for r in csv.DictReader(io.StringIO("".join(lines[skip:])))}
    assert set(rows) == set(expected)
    for cid, row in rows.items():
        want = expected[cid]
        assert row["amount"] == ("" if want["amount"] is None else str(want["amount"]))
        assert row["currency"] == "RUB" and row["registry_number"] == want["registry_number"]
        if want["source"] == "curated":
            assert row["citation"] and row["citation"] == want["citation"]
    with page.expect_download() as xlsx_download:
        page.click("#download-xlsx")
    book_path = io.BytesIO(Path(xlsx_download.value.path()).read_bytes())
    with zipfile.ZipFile(book_path) as z:
        assert not any(b"<f>" in z.read(n) or b"<f " in z.read(n)
                       for n in z.namelist() if n.startswith("xl/worksheets/"))
    book = load_workbook(book_path)
    sheet = book["contracts"]
    header = [c.value for c in sheet[1]]
    got = {r[0]: dict(zip(header, r)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert set(got) == set(expected)
    for cid, row in got.items():
        want = expected[cid]["amount"]
        assert row["amount"] == (None if want is None else float(want))
    assert dict(book["about"].iter_rows(values_only=True))["selection"] == notes["selection"]


def test_j7_a_copied_url_restores_the_view_in_a_fresh_browser(journey, browser, demo_site):
    page = journey.goto("/")
    choose(page, "f-country", "Russian Federation (RU)",
           "Country: Russian Federation (RU)")
    choose(page, "f-currency", "RUB (in original currency)", "RUB (in original currency)")
    page.click("#f-surveillance")
    wait_selection(page, "all contracts")
    page.wait_for_selector(LEGEND)
    copied = page.url
    shown = {k: page.text_content(f"#{k}") for k in ("kpi-total", "kpi-contracts", "selection")}
    legend = [e.text_content() for e in page.query_selector_all(LEGEND)]

    fresh = browser.new_context(viewport={"width": 1300, "height": 1100})
    try:
        other = journey.watch(fresh.new_page())
        other.goto(copied)
        other.wait_for_selector(LEGEND)
        assert {k: other.text_content(f"#{k}") for k in shown} == shown
        assert [e.text_content() for e in other.query_selector_all(LEGEND)] == legend
        assert not other.is_checked("#f-surveillance")
        assert "RUB" in other.text_content("#f-currency")
    finally:
        fresh.close()
    con = demo_site.cursor()
    f = Filters(country="RU", currency="RUB", surveillance_only=False)
    assert shown["kpi-contracts"] == str(spending.count_contracts(con, f))


def test_j9_a_buyers_court_cases_on_its_profile_and_the_timeline(journey):
    """The analyst's journey: the Moscow DIT's profile lists the cases against it, each
    linking to its cited page; on the front page, choosing the DIT puts them on the timeline,
    and clicking their legend entry or marker opens no contracts."""
    dit = "ent:name:curated:moscow-department-of-information-technology-dit"
    page = journey.goto(f"/buyer?id={dit}")
    page.wait_for_selector("#profile-events .context-event")
    rows = page.query_selector_all("#profile-events .context-event")
    assert len(rows) == 8
    first = rows[0].query_selector_all("td")
    assert first[0].text_content() == "2 Oct 2019" and first[5].text_content() == "respondent"
    assert rows[0].query_selector("a").get_attribute("href") == "https://tass.com/society/1081751"
    page = journey.goto(f"/buyer?id={dit}&lang=ru")  # kinds and roles in words, in Russian
    page.wait_for_selector("#profile-events .context-event")
    for row in page.query_selector_all("#profile-events .context-event"):
        cells = [c.text_content() for c in row.query_selector_all("td")]
        assert re.search("[а-я]", cells[1]) and re.search("[а-я]", cells[5]), cells
    journey.goto(f"/?country=RU&currency=RUB&buyer={dit}")
    page.wait_for_function("([sel, n]) => [...document.querySelectorAll(sel)]"
                           ".some(e => e.textContent == n)",
                           arg=[LEGEND, "Court cases, complaints, sanctions"], polling=100)
    assert page.locator("#overview-chart .scatterlayer .point").count() >= 3  # 2019, 2020, 2023
    page.locator("#overview-chart .scatterlayer .point").first.click(force=True)
    page.wait_for_timeout(1500)
    assert urlparse(page.url).path == "/"
    page.locator("#overview-chart .legend .traces", has_text="Court cases") \
        .locator(".legendtoggle").click()
    page.wait_for_timeout(1500)
    assert urlparse(page.url).path == "/"


def test_j10_a_contract_states_its_date_basis_and_what_was_paid(journey, demo_site):
    """The overview's 'paid' measure -> a contract with published payments -> its page gives
    the date its year and rate stand on, the payments and their sum as the measure sums it."""
    from survtrack.dashboard import formats
    from survtrack.dashboard.i18n import t

    con = demo_site.cursor()
    contract_id, paid, currency, paid_usd, dated_on, basis = con.execute(
        """SELECT contract_id, paid, currency, paid_usd, dated_on, date_basis
           FROM contract_facts WHERE paid_usd IS NOT NULL AND dated_on IS NOT NULL
           ORDER BY paid_usd DESC, contract_id LIMIT 1""").fetchone()
    page = journey.goto("/?measure=paid&scope=all")
    page.wait_for_selector("#paid-note")
    page = journey.goto(f"/contract/{quote(contract_id, safe='')}")
    page.wait_for_selector("#contract-page")
    assert page.text_content("#contract-dated") == \
        f"{formats.day(dated_on)} ({t('date_basis_' + basis)})"
    shown = page.text_content("#contract-paid")
    assert shown.startswith(formats.money(paid, currency, compact=False))
    assert formats.money(paid_usd, "USD", compact=False) in shown
    assert page.locator("#contract-payments tbody tr").count() == con.execute(
        "SELECT count(*) FROM payments WHERE contract_id = ?", [contract_id]).fetchone()[0]
    assert not page.query_selector("#contract-cancelled")


def test_j11_a_red_flag_narrows_the_overview_the_grid_and_the_download(journey, demo_site):
    """Issue 14: the analyst picks a red flag on the overview -> the totals and the grid hold
    exactly the contracts raising it -> a flagged contract's page says why (value, threshold,
    evidence, document) -> the filtered CSV holds those contracts with their flags columns ->
    the contract's vendor's profile sets its rate beside the selection's."""
    from survtrack.analysis import flags, threads
    from survtrack.dashboard import formats
    from survtrack.dashboard.common import records

    con = demo_site.cursor()
    everything = Filters(surveillance_only=False)
    rates = spending.flag_rates(con, everything).set_index("flag")
    flag = rates.raised.idxmax()  # the flag raised most often on the demo
    raised, knowable = int(rates.raised[flag]), int(rates.knowable[flag])
    assert 0 < raised < knowable, (flag, raised, knowable)
    narrowed = everything.with_(flag=flag)
    flagged = {r[0] for r in con.execute(
        "SELECT contract_id FROM flags WHERE flag = ? AND raised", [flag]).fetchall()}
    assert spending.count_contracts(con, narrowed) == raised == len(flagged)
    name = flags.definitions()[flag].name_en

    page = journey.goto("/?scope=all")
    row = page.wait_for_selector(f"#selection-flags tr[data-flag={flag}]")
    assert f"{raised} of {knowable}" in row.text_content()  # over the knowable, never all
    before = page.text_content("#kpi-contracts")
    choose(page, "f-flag", name, f"Red flag: {name}")
    assert query(page) == {"flag": [flag], "scope": ["all"]}
    page.wait_for_function("([n, was]) => { const k = document.getElementById('kpi-contracts');"
                           " return k && k.textContent == n && n != was; }",
                           arg=[formats.number(raised, "en"), before], polling=100)
    total = records(spending.totals(con, narrowed))[0].total
    assert page.text_content("#kpi-total") == formats.money(total, narrowed.currency, "en")
    # the rates table is over the selection without its own flag filter: unchanged
    assert f"{raised} of {knowable}" in page.text_content(
        f"#selection-flags tr[data-flag={flag}]")

    page.click("#nav-nav_contracts")
    page.wait_for_url("**/contracts?**")
    assert query(page)["flag"] == [flag]
    wait_grid(page, raised)
    shown = grid_ids(page)  # the rows on screen (the pager says "of <raised>")
    assert shown and set(shown) <= flagged

    contract_id = shown[0]
    page.click(f"#contracts-grid a.app-link[href^='/contract/{quote(contract_id, safe='')}']")
    page.wait_for_selector("#contract-page")
    why = {f["flag"]: f for f in flags.for_contract(con, contract_id)}[flag]
    assert why["status"] == "raised"
    cells = page.wait_for_selector(f"#contract-flags tr[data-flag={flag}]") \
        .query_selector_all("td")
    assert cells[0].text_content() == name and cells[1].text_content() == "raised"
    assert cells[4].text_content() == why["evidence"]
    if why["document_id"]:  # the document the evidence came from, one click away
        assert cells[5].query_selector(f"a[href^='/document/{why['document_id']}']")
    if threads.for_contract(con, contract_id):  # and the procurement's story
        page.wait_for_selector("#contract-thread")

    page.go_back()
    page.wait_for_url("**/contracts?**")
    wait_grid(page, raised)
    with page.expect_download() as csv_download:
        page.click("#download-csv")
    assert f"flag-{flag.replace('_', '-')}" in csv_download.value.suggested_filename
    lines = Path(csv_download.value.path()).read_text(encoding="utf-8-sig") \
        .splitlines(keepends=True)
    skip = int(re.search(r"after the (\d+) lines", lines[0]).group(1))
    notes = dict(line[2:].rstrip().split(": ", 1) for line in lines[1:skip])
    assert f"red flag {flag} raised" in notes["selection"] and notes["rows"] == str(raised)
    rows = list(csv.DictReader(io.StringIO("".join(lines[skip:]))))
    assert {r["contract_id"] for r in rows} == flagged
    for r in rows:
        known = set(r["flags_known"].split(";"))
        assert flag in r["flags"].split(";") and set(r["flags"].split(";")) <= known
    assert {r["contract_id"]: r["flags"] for r in rows}[contract_id].split(";") == sorted(
        f for f, v in why_all(con, contract_id).items() if v == "raised")

    # the flagged contract's vendor: its rate beside the rate of the whole selection
    vendor = con.execute("SELECT vendor_key FROM contract_facts WHERE contract_id = ?",
                         [contract_id]).fetchone()[0]
    mine = spending.flag_rates(con, everything.with_(vendor=vendor)).set_index("flag")
    page = journey.goto(f"/vendor?scope=all&id={quote(vendor, safe='')}")
    cells = page.wait_for_selector(f"#profile-flags tr[data-flag={flag}]") \
        .query_selector_all("td")
    assert f"{int(mine.raised[flag])} of {int(mine.knowable[flag])}" in cells[1].text_content()
    assert f"{raised} of {knowable}" in cells[3].text_content()


def why_all(con, contract_id: str) -> dict[str, str]:
    from survtrack.analysis import flags

    return {f["flag"]: f["status"] for f in flags.for_contract(con, contract_id)}


CRAWL_PAGES = 14  # pages opened in the browser; every link found is also fetched over HTTP
PER_KIND = 2  # pages of one kind (path without its query) opened, so the crawl is varied


def test_j8_a_bounded_crawl_of_every_internal_link_finds_no_error(journey):
    page = journey.page
    fetched, queued, queue, opened, kinds = set(), {"/"}, [("/", 0)], 0, {}
    def kind_of(path: str) -> str:
        return re.sub(r"^/(contract|document)/.*", r"/\1/", urlparse(path).path)

    while queue and opened < CRAWL_PAGES:
        # a kind not opened yet first (else the queue's order): which kinds fill the
        # CRAWL_PAGES first depended on the links' order on pages, and a document page was
        # sometimes never reached
        fresh = next((i for i, (p, _) in enumerate(queue) if kind_of(p) not in kinds), 0)
        path, depth = queue.pop(fresh)
        kind = kind_of(path)
        if kinds.get(kind, 0) >= PER_KIND:
            continue
        kinds[kind] = kinds.get(kind, 0) + 1
        journey.goto(path)
        opened += 1
        # the count, not the grid: AG Grid's script loads after the page, so "#contracts-grid"
        # may not be in the page yet when the footer is
        if page.query_selector("#contract-count"):
            wait_grid_loaded(page)
        links = page.eval_on_selector_all("a[href^='/']", "as => as.map(a => a.getAttribute('href'))")
        for link in links:
            if link.startswith("//"):
                continue
            if link not in fetched:
                fetched.add(link)
                response = page.request.get(journey.server.url + link)
                assert response.status < 500, (link, response.status)
            # queued when first met on a page shallow enough, even if a deeper page showed it
            # first (a document's link met first on a contract page was never queued)
            if depth < 2 and link not in queued and not link.startswith(("/download/", "/_")) \
                    and not link.endswith("/raw"):
                queued.add(link)
                queue.append((link, depth + 1))
    assert opened >= 12 and len(fetched) >= 30, (opened, len(fetched))
    assert {"/", "/contracts", "/countries", "/vendor", "/buyer", "/contract/",
            "/document/"} <= set(kinds), kinds


def _archive(demo_site):
    from survtrack import config
    from survtrack.warehouse.archive import Archive

    return Archive(config.archive_path(demo_site.db))


KEY_ON_SCREEN = re.compile(r"\b(?:ent|name):[\w:.-]+|\b[a-z]+_[a-z_]+\b")


def visible_keys(page) -> list[str]:
    """Internal keys in the page's visible text, title and open dropdown options. Quoted as
    stored, not labels: a contract's "every stored field" table."""
    page.eval_on_selector_all("#contract-fields",
                              "es => es.forEach(e => e.style.display = 'none')")
    text = page.evaluate("document.title + '\\n' + document.body.innerText")
    return sorted({m.group(0) for m in KEY_ON_SCREEN.finditer(text)} - {"entity_links"})


def test_j12_names_never_keys_in_both_languages(journey, demo_site):
    """ICE's key in the URL: the badge, the dropdown, the title and the profile say its name;
    categories and sources read as words in English and Russian."""
    from survtrack.dashboard import labels

    con = demo_site.cursor()
    ice, ice_name = con.execute(
        """SELECT buyer_key, any_value(buyer_name) FROM contract_facts
           WHERE buyer_name LIKE '%Immigration and Customs Enforcement%'
           GROUP BY 1 ORDER BY count(*) DESC LIMIT 1""").fetchone()
    assert ice.startswith("ent:name:")  # a made-up key: exactly what must stay off screen
    source, category = con.execute(  # a snake_case category of a registry's contract
        """SELECT source, category FROM tags JOIN contracts USING (contract_id)
           WHERE source <> 'curated' AND category LIKE '%\\_%' ESCAPE '\\'
           ORDER BY ALL LIMIT 1""").fetchone()
    source_ru = labels.source_name(source, "ru")
    assert source_ru != source
    page = journey.goto(f"/?scope=all&buyer={quote(ice)}&category={category}")
    wait_selection(page, f"Buyer: {ice_name}")
    wait_title(page, "Spending by vendor and year — survtrack")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert ice_name in page.text_content("#f-buyer")
    page.click("#f-source")  # the options, open: sources by name
    page.get_by_role("option", name="Russia — EIS", exact=True).wait_for()
    assert visible_keys(page) == []
    page = journey.goto(f"/buyer?id={quote(ice)}&lang=ru")
    wait_title(page, f"{ice_name} — заказчик — survtrack")
    assert page.evaluate("document.documentElement.lang") == "ru"
    assert ice not in page.text_content("#merge-reason")
    assert visible_keys(page) == []
    page = journey.goto(f"/contracts?scope=all&lang=ru&source={source}&category={category}")
    wait_selection(page, f"Источник: {source_ru}")
    wait_grid(page, spending.count_contracts(con, Filters(
        source=source, category=category, surveillance_only=False)), "из")
    assert {e.text_content() for e in page.query_selector_all(
        "#contracts-grid .ag-row [col-id=source]")} == {source_ru}
    assert visible_keys(page) == []


SEARCH_WIDTH = "document.getElementById('search-q').getBoundingClientRect().width"


def test_j14_a_phone_and_a_keyboard(journey, browser, demo_site):
    """At 390×844 no main page is wider than the screen and the search box fills its row (on a
    desktop too it has its width: Dash 4 wraps inputs, the hidden `lang` one included, in
    containers that once squeezed it to 18 px); with the keyboard alone the analyst
    reaches the search box, the chart's data (its table, each number a link to the contracts)
    and the contracts grid."""
    con = demo_site.cursor()
    vendor = spending.by_vendor(con, Filters(), limit=1)["key"][0]
    contract_id = spending.contracts(con, Filters(), limit=1)["contract_id"][0]
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = journey.watch(phone.new_page())
        for path in ("/", "/?lang=ru", "/contracts", "/countries", f"/vendor?id={quote(vendor)}",
                     f"/contract/{quote(contract_id, safe='')}", "/search?q=a"):
            page.goto(journey.server.url + path)
            page.wait_for_selector(".footer")
            page.wait_for_timeout(300)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
            assert page.evaluate(SEARCH_WIDTH) >= 250, path  # the search box fills its row
    finally:
        phone.close()
    for lang in ("ru", "en"):  # on a desktop the box has its width too, in both languages
        page = journey.goto(f"/?lang={lang}")
        assert page.evaluate(SEARCH_WIDTH) >= 200, lang

    def tab_to(selector: str, presses: int = 60) -> None:
        for _ in range(presses):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => !!document.activeElement.closest(s)", selector):
                return
        raise AssertionError(f"{selector} not reached with {presses} Tab presses")

    tab_to("#search-q")
    tab_to("#overview-table summary")
    page.keyboard.press("Enter")  # opens the chart's table
    tab_to("#overview-table a")
    link = page.evaluate("document.activeElement.getAttribute('href')")
    page.keyboard.press("Enter")
    page.wait_for_url("**/contracts?**")
    assert page.url.endswith(link)
    wait_grid(page, spending.count_contracts(con, urls.from_query(query(page))))
    tab_to("#contracts-grid")


def test_j13_search_in_both_scripts_from_the_box_on_every_page(journey, demo_site):
    """«НтехЛаб», «ntechlab» and «Н-Тех» find NtechLab and lead to its profile; «Москв» finds
    the Moscow bodies in Russian; a vendor's INN finds it. Expected hits from the warehouse."""
    from survtrack.analysis import search

    con = demo_site.cursor()
    ntechlab = con.execute("SELECT vendor_key FROM contract_facts WHERE vendor_name = 'NtechLab'"
                           " LIMIT 1").fetchone()[0]
    page = journey.goto("/contracts")
    for text in ("НтехЛаб", "ntechlab", "Н-Тех"):
        page.fill("#search-q", text)
        page.press("#search-q", "Enter")
        page.wait_for_function("(q) => new URLSearchParams(location.search).get('q') == q",
                               arg=text, polling=100)
        page.wait_for_selector("#search-vendors")
        hrefs = page.eval_on_selector_all("#search-vendors a.search-hit",
                                          "as => as.map(a => a.getAttribute('href'))")
        assert f"/vendor?id={quote(ntechlab, safe='')}" in [h.replace(":", "%3A")
                                                            for h in hrefs], (text, hrefs)
    page.click("#search-vendors a.search-hit >> text=NtechLab")
    page.wait_for_url("**/vendor?**")
    assert page.text_content("#profile-name") == "NtechLab"

    page = journey.goto("/search?q=Москв&lang=ru")
    expected = search.search(con, "Москв")
    assert expected["buyer"]["count"] + expected["contract"]["count"] > 0
    for kind in search.KINDS:
        heading = page.text_content(f"#search-{kind}s h2")
        assert heading.endswith(f"({expected[kind]['count']})"), heading
        assert [e.text_content() for e in page.query_selector_all(
            f"#search-{kind}s a.search-hit")] == list(expected[kind]["rows"]["label"])
    assert page.get_attribute("#search-q", "value") == "Москв"
    inn, vendor_name = con.execute(
        """SELECT o.identifier, f.vendor_name FROM contract_facts f JOIN organizations o
           ON o.entity_id = f.vendor_key WHERE o.scheme = 'RU-INN' LIMIT 1""").fetchone()
    page = journey.goto(f"/search?q={inn}")
    assert vendor_name in [e.text_content() for e in page.query_selector_all(
        "#search-vendors a.search-hit")]


UNTRANSLATED = """() => [document.title, ...[...document.querySelectorAll('body *')]
  .filter(e => e.children.length == 0 && e.offsetParent !== null
               && !e.closest('#contract-fields'))  // the stored values, as stored
  .map(e => e.textContent.trim()),
  ...[...document.querySelectorAll('[placeholder], [aria-label]')]
  .flatMap(e => [e.getAttribute('placeholder'), e.getAttribute('aria-label')])]
  .filter(t => t)"""


def test_j15_russian_is_complete_on_every_kind_of_page(journey, demo_site):
    """Every kind of page in Russian: no label, heading, button, grid text, placeholder or
    title reads as an interface message's English (i18n.csv rows whose two languages differ),
    and no internal key shows; in English, no message key shows either. (A contract's "every
    stored field" table shows the stored values as stored.)"""
    from survtrack.dashboard.i18n import _table

    con = demo_site.cursor()
    english = {row["en"] for row in _table().values() if row["en"] != row["ru"]}
    vendor = spending.by_vendor(con, Filters(), limit=1)["key"][0]
    buyer = spending.by_buyer(con, Filters(), limit=1)["key"][0]
    contract_id, document_id = con.execute(
        "SELECT contract_id, document_id FROM contracts WHERE source = 'eis' LIMIT 1").fetchone()
    paths = ["/", "/contracts", "/countries", f"/vendor?id={quote(vendor)}",
             f"/buyer?id={quote(buyer)}", f"/contract/{quote(contract_id, safe='')}",
             f"/document/{document_id}", "/search?q=a", "/nowhere"]
    for lang in ("ru", "en"):
        for path in paths:
            page = journey.goto(path + ("&" if "?" in path else "?") + f"lang={lang}")
            if path == "/contracts":
                page.wait_for_selector(GRID_IDS)
            page.wait_for_timeout(300)
            if lang == "ru":
                shown = {text.strip("()") for text in page.evaluate(UNTRANSLATED)}
                assert not shown & english, (path, sorted(shown & english))
            assert visible_keys(page) == [], (path, lang)


def test_j16_money_left_out_of_a_dollar_total_is_shown_in_its_own_currency(journey, demo_site):
    """Russia in US dollars: beside the total, the roubles with no rate (never a silent 0),
    with why and what to run; the amount opens Russia in roubles, whose total includes it."""
    from survtrack.dashboard import formats

    con = demo_site.cursor()
    left = spending.not_converted(con, Filters(country="RU"))
    assert len(left) and left["amount"].sum() > 0  # the demo's Moscow leads without a rate
    page = journey.goto("/?country=RU&currency=USD")  # asked for: Russia alone reads in RUB
    note = page.text_content("#not-converted")
    for currency, amount in zip(left["currency"], left["amount"]):
        assert formats.money(amount, currency) in note
    assert "survtrack scrape cbr" in note
    page.click("#not-converted a >> nth=0")
    wait_selection(page, f"{left['currency'][0]} (in original currency)")
    in_roubles = spending.totals(con, Filters(country="RU", currency=left["currency"][0]))
    assert page.text_content("#kpi-total") == formats.money(in_roubles["total"][0],
                                                            left["currency"][0])
    assert not page.query_selector("#not-converted")  # nothing is converted in roubles


def test_j17_compare_the_top_vendors_side_by_side(journey, demo_site):
    """The overview's top vendors -> /compare?vendor=a&vendor=b…: a column per vendor with its
    total in the same money, contracts and years, and a row per year."""
    from survtrack.dashboard import formats, labels

    con = demo_site.cursor()
    page = journey.goto("/")
    page.click("#compare-vendors")
    page.wait_for_selector("#compare-page")
    keys = query(page)["vendor"]
    assert len(keys) > 1
    heads = [e.text_content() for e in page.query_selector_all("#compare-table thead th")][1:]
    assert heads == [labels.party_name(con, "vendor", k) for k in keys]
    cells = page.query_selector_all("#compare-table tbody tr")
    totals = [e.text_content() for e in cells[0].query_selector_all("td")]
    counts = [e.text_content() for e in cells[1].query_selector_all("td")]
    for key, total, count in zip(keys, totals, counts, strict=True):
        mine = spending.totals(con, Filters(vendor=key))
        assert total.startswith(formats.money(mine["total"][0], "USD"))
        assert count == str(int(mine["contracts"][0]))
    years = {e.text_content() for e in page.query_selector_all("#compare-years tbody th")}
    wanted = {str(int(y)) for k in keys
              for y in spending.by_year(con, Filters(vendor=k))["year"].dropna()}
    assert wanted <= years


def test_j19_one_currency_is_shown_in_that_currency_by_default(journey, demo_site):
    """Russia alone holds one currency: with no currency asked for it reads in roubles, the
    control saying so; US dollars chosen stay chosen (and show what they leave out); a
    selection of several currencies reads in dollars with the amounts not converted beside."""
    from survtrack.dashboard import formats

    con = demo_site.cursor()
    assert spending.sole_currency(con, Filters(country="RU")) == "RUB"
    assert spending.sole_currency(con, Filters()) is None
    page = journey.goto("/?country=RU")
    wait_selection(page, "RUB (in original currency)")
    roubles = spending.totals(con, Filters(country="RU", currency="RUB"))
    assert page.text_content("#kpi-total") == formats.money(roubles["total"][0], "RUB")
    assert not page.query_selector("#not-converted")  # nothing hidden: no conversion at all
    assert "Automatic: RUB" in page.text_content("#f-currency")
    assert "currency" not in query(page)  # the URL stays the analyst's
    # links from here choose again: a vendor of Russia's reads in roubles on its profile too
    page.click("table a[href^='/vendor?'] >> nth=0")
    page.wait_for_selector("#profile-name")
    assert "currency" not in query(page)
    wait_selection(page, "RUB (in original currency)")
    mine = spending.totals(con, Filters(country="RU", currency="RUB",
                                        vendor=query(page)["id"][0]))
    assert page.text_content("#kpi-total") == formats.money(mine["total"][0], "RUB")
    page = journey.goto("/?country=RU")
    choose(page, "f-currency", "US dollars (converted)", "US dollars (converted)")
    assert query(page)["currency"] == ["USD"]
    left = spending.not_converted(con, Filters(country="RU"))
    note = page.text_content("#not-converted")
    for currency, amount in zip(left["currency"], left["amount"]):
        assert formats.money(amount, currency) in note
    page.reload()  # a chosen currency survives the link
    wait_selection(page, "US dollars (converted)")
    page = journey.goto("/")  # several currencies: dollars, the rest beside the total
    wait_selection(page, "US dollars (converted)")
    left = spending.not_converted(con, Filters())
    assert len(left) > 1
    note = page.text_content("#not-converted")
    for currency, amount in zip(left["currency"], left["amount"]):
        assert formats.money(amount, currency) in note


TRACE_COLOURS = """(chart) => Object.fromEntries(document.querySelector('#' + chart + ' .js-plotly-plot')
  .data.filter(t => t.customdata).map(t => [t.customdata[0][0], t.marker.color]))"""


def test_j20_a_vendor_keeps_its_colour_in_every_view_and_in_the_notebooks(journey, demo_site):
    """A vendor's bars are its key's colour (palette.vendor_colour), whatever its rank: on the
    overview, on a country's overview where its rank differs, on its profile, and in the
    notebook API's figure."""
    from survtrack.analysis import palette
    from survtrack.analysis.notebook import open_warehouse

    con = demo_site.cursor()
    everywhere = spending.by_vendor_year(con, Filters(), top=7)
    russia = spending.by_vendor_year(con, Filters(country="RU", currency="RUB"), top=7)
    ranks = lambda df: list(dict.fromkeys(df["vendor_key"]))  # noqa: E731
    both = [k for k in ranks(everywhere) if k in ranks(russia) and k != spending.OTHERS]
    assert both, "no vendor is named both on the front page and on Russia's"
    key = both[0]
    page = journey.goto("/")
    page.wait_for_selector("#overview-chart .js-plotly-plot")
    front = page.evaluate(TRACE_COLOURS, "overview-chart")
    assert front[key] == palette.vendor_colour(key)
    assert len(set(front.values())) > 1  # not one colour for all
    page = journey.goto("/?country=RU")
    page.wait_for_selector("#overview-chart .js-plotly-plot")
    assert page.evaluate(TRACE_COLOURS, "overview-chart")[key] == front[key]
    page = journey.goto(f"/vendor?id={quote(key)}")
    page.wait_for_selector("#profile-years .js-plotly-plot")
    assert page.evaluate("document.querySelector('#profile-years .js-plotly-plot')"
                         ".data[0].marker.color") == front[key]
    name = everywhere.loc[everywhere["vendor_key"] == key, "vendor_name"].iloc[0]
    with open_warehouse(demo_site.db) as st:
        traces = {tr.name: tr.marker.color for tr in st.chart("vendor_year").data}
    assert traces[name] == front[key]


def axe_violations(page) -> list[str]:
    """axe-core's findings of any impact (critical, serious, moderate or minor) on the page as
    it stands (axe-playwright-python runs the axe.min.js it ships, in the page)."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['impact']} {v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in found]


def test_j21_every_page_passes_axe_core_on_a_desktop_and_a_phone(journey, browser, demo_site):
    """axe-core on every kind of page, in both languages at 1300 px and on a 390×844 phone
    (the menu and the filter drawer open): no violation at all, moderate and minor included
    (one <h1> a page, no empty table header)."""
    from survtrack.dashboard.i18n import t

    con = demo_site.cursor()
    vendors = list(spending.by_vendor(con, Filters(), limit=2)["key"])
    buyers = list(spending.by_buyer(con, Filters(), limit=2)["key"])
    buyer = buyers[0]
    contract_id, document_id = con.execute(
        "SELECT contract_id, document_id FROM contracts WHERE source = 'eis' LIMIT 1").fetchone()
    paths = ["/", "/?country=RU", "/contracts", "/countries", f"/vendor?id={quote(vendors[0])}",
             f"/buyer?id={quote(buyer)}", f"/compare?vendor={quote(vendors[0])}"
             f"&vendor={quote(vendors[1])}", f"/compare?buyer={quote(buyers[0])}"
             f"&buyer={quote(buyers[1])}&level=department",
             f"/contract/{quote(contract_id, safe='')}",
             f"/document/{document_id}", "/search?q=ntechlab", "/nowhere"]
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        for page, lang in ((journey.page, "en"), (journey.watch(phone.new_page()), "ru")):
            for path in paths:
                page.goto(journey.server.url + path + ("&" if "?" in path else "?")
                          + f"lang={lang}")
                page.wait_for_selector(".footer")
                if path == "/contracts":
                    page.wait_for_selector(GRID_IDS)
                page.wait_for_timeout(300)
                assert axe_violations(page) == [], (path, lang)
        page.goto(journey.server.url + "/?lang=ru")  # the phone's menu and filters, open
        page.wait_for_selector(".footer")
        for button, opened in (("#nav-toggle", "#nav-nav_countries"),
                               ("#filters-toggle", "#f-country")):
            page.click(button)
            page.wait_for_selector(opened, state="visible")
            assert page.get_attribute(button, "aria-expanded") == "true"
            assert axe_violations(page) == [], button
        # every control is named by its label, not only by its value ("Любой")
        for control in ("f_country", "f_currency", "f_vendor"):
            page.get_by_role("button", name=re.compile("^" + t(control, "ru"))).wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        phone.close()


def test_j22_the_overview_in_compare_mode_and_a_table_under_every_chart(journey, demo_site):
    """/compare's chart → the overview in compare mode (vendor=a&vendor=b): only those vendors,
    their bars side by side, the totals theirs; back to every vendor. The profile's and the
    countries' charts each have their table, every number a link to its contracts."""
    from survtrack.analysis import palette
    from survtrack.dashboard import formats, labels

    con = demo_site.cursor()
    keys = list(spending.by_vendor(con, Filters(), limit=2)["key"])
    page = journey.goto("/compare?" + "&".join(f"vendor={quote(k)}" for k in keys))
    page.wait_for_selector("#compare-chart .js-plotly-plot")
    assert page.evaluate(TRACE_COLOURS, "compare-chart") == {
        k: palette.vendor_colour(k) for k in keys}
    page.click("#compare-overview")
    page.wait_for_selector("#compare-badge")
    assert query(page)["vendor"] == keys
    names = [labels.party_name(con, "vendor", k) for k in keys]
    assert page.text_content("#compare-badge") == "Compared: " + ", ".join(names)
    page.wait_for_selector("#overview-chart .js-plotly-plot")
    assert page.evaluate("document.querySelector('#overview-chart .js-plotly-plot')"
                         ".layout.barmode") == "group"
    assert sorted(page.evaluate(TRACE_COLOURS, "overview-chart")) == sorted(keys)
    shown = urls.settle_currency(con, urls.from_query(query(page)))
    assert shown.vendors == tuple(keys)
    total = spending.totals(con, shown)
    assert page.text_content("#kpi-total") == formats.money(total["total"][0], shown.currency)
    assert page.text_content("#kpi-contracts") == str(int(total["contracts"][0]))
    page.click("#compare-end")
    page.wait_for_function("() => !document.getElementById('compare-badge')", polling=100)
    assert "vendor" not in query(page)
    mine = urls.settle_currency(con, urls.from_query({"vendor": [keys[0]]}))  # as shown
    everywhere = urls.settle_currency(con, urls.from_query({}))
    for path, table, expected in (
            (f"/vendor?id={quote(keys[0])}", "#profile-years-table", spending.by_year(con, mine)),
            (f"/vendor?id={quote(keys[0])}", "#profile-categories-table",
             spending.by_category(con, mine)),
            ("/countries", "#country-table", spending.by_country(con, everywhere))):
        page = journey.goto(path)
        page.click(f"{table} summary")
        rows = page.query_selector_all(f"{table} tbody tr")
        assert len(rows) == len(expected), (path, table)
        counts = [r.query_selector("td:last-child").text_content() for r in rows]
        assert counts == [str(int(n)) for n in expected["contracts"]], (path, table)
        link = rows[0].query_selector("a").get_attribute("href")
        page.click(f"{table} tbody tr >> nth=0 >> a")
        page.wait_for_url("**/contracts?**")
        assert page.url.endswith(link)
        wait_grid(page, int(expected["contracts"].iloc[0]))


def test_j23_a_contracts_flag_evidence_reads_in_russian(journey, demo_site):
    """Every evidence sentence the flag rules wrote on the demo has its Russian
    (evidence_ru.csv); a flagged contract's page in Russian shows it so, in English as written
    but for survtrack's own codes (code lists' names, procedure types, the facts a flag needs)."""
    from survtrack.analysis import flags
    from survtrack.dashboard.evidence import said

    con = demo_site.cursor()
    written = [e for (e,) in con.execute("SELECT DISTINCT evidence FROM flags"
                                         " WHERE evidence IS NOT NULL").fetchall()]
    assert written and [e for e in written if said(e, "ru") == e] == []
    contract_id = con.execute(
        """SELECT contract_id FROM flags WHERE raised GROUP BY 1
           ORDER BY count(DISTINCT evidence) DESC, 1 LIMIT 1""").fetchone()[0]
    mine = [r["evidence"] or "–" for r in flags.for_contract(con, contract_id)]
    for lang in ("ru", "en"):
        page = journey.goto(f"/contract/{quote(contract_id, safe='')}?lang={lang}")
        shown = [e.text_content() for e in page.query_selector_all(
            "#contract-flags tbody td:nth-child(5)")]
        assert shown == [said(e, lang) for e in mine], lang
        assert not [e for e in shown if KEY_ON_SCREEN.search(e)], lang  # words, not codes
    for flag in flags.definitions().values():  # what an unknown flag needs, in words
        for lang in ("en", "ru"):
            assert not KEY_ON_SCREEN.search(said("needs " + flag.requires, lang)), flag


def test_j18_buyers_roll_up_to_their_parent_body_and_say_how_many_names_they_merge(
        journey, browser, demo_site):
    """ICE is one buyer that says it merges six names; the CEIEC–Huawei joint award lists its
    member; the switch counts buyers at the department level (kept in the URL), totals
    unchanged, and a department's profile lists the bodies it counts."""
    from survtrack.dashboard import formats

    con = demo_site.cursor()
    page = journey.goto("/")
    buyers = page.text_content("#top-buyers")
    offices = spending.by_buyer(con, Filters(), limit=10)
    merged = offices[offices["names"] > 1]
    assert len(merged)  # ICE's six names, at least
    for r in merged.itertuples():
        assert f"{r.name} · {formats.count(r.names, 'names')}" in buyers
    vendors = spending.by_vendor(con, Filters(), limit=10)
    joint = vendors[vendors["members"].notna()].iloc[0]
    assert ", ".join(joint["members"]) in page.text_content("#top-vendors")
    total = page.text_content("#kpi-total")

    page.get_by_label("Department (top body)").check()
    page.wait_for_selector("#level-badge")
    assert query(page)["level"] == ["department"]
    assert page.text_content("#kpi-total") == total  # grouped otherwise, never summed twice
    top = spending.by_buyer(con, Filters(buyer_level="department"), limit=10)
    rolled = top[top["bodies"] > 1].iloc[0]
    page.wait_for_function("(t) => document.querySelector('#top-buyers').textContent"
                           ".includes(t)", arg=formats.count(rolled["bodies"], "bodies"),
                           polling=100)
    row = page.locator("#top-buyers tr", has_text=rolled["name"])
    assert row.locator("td").nth(3).text_content() == str(int(rolled["contracts"]))

    row.get_by_role("link", name=rolled["name"], exact=True).click()
    page.wait_for_selector("#profile-bodies")
    assert query(page)["level"] == ["department"] and query(page)["id"] == [rolled["key"]]
    bodies = spending.bodies_of(con, rolled["key"], "department")
    assert [e.text_content() for e in page.query_selector_all("#profile-bodies li")] == \
        list(bodies["name"])
    mine = spending.totals(con, Filters(buyer=rolled["key"], buyer_level="department"))
    assert page.text_content("#kpi-contracts") == str(int(mine["contracts"][0])) \
        == str(int(rolled["contracts"]))

    fresh = browser.new_context()  # the link alone restores the level
    try:
        other = journey.watch(fresh.new_page())
        other.goto(journey.server.url + "/?level=department")
        other.wait_for_selector("#level-badge")
        assert other.get_by_label("Department (top body)").is_checked()
    finally:
        fresh.close()


def test_j24_the_vendor_and_buyer_controls_choose_several_to_compare(journey, demo_site):
    """The vendor control takes a second vendor: the overview in compare mode, the control's
    chips and the legend by name; two buyers in the buyer control open /compare, whose level
    switch counts each at its top body (contracts as the warehouse counts them)."""
    from survtrack.analysis import levels
    from survtrack.dashboard import labels

    con = demo_site.cursor()
    keys = list(spending.by_vendor(con, Filters(), limit=2)["key"])
    names = [labels.party_name(con, "vendor", k) for k in keys]
    page = journey.goto("/")
    for name, badge in zip(names, [f"Vendor: {names[0]}", "Compared: " + ", ".join(names)]):
        page.click("#f-vendor")
        page.keyboard.insert_text(name)  # one input event: one search, not one a letter
        page.get_by_role("option", name=name, exact=True).click()
        wait_selection(page, badge)  # the page rendered again, its controls new
        # ...and the focus is back on the control just used, for the keyboard's next step
        page.wait_for_function("() => document.activeElement.id == 'f-vendor'", polling=100)
    assert query(page)["vendor"] == keys
    chips = page.text_content("#f-vendor")
    assert all(n in chips for n in names) and "ent:" not in chips
    page.wait_for_selector(LEGEND)
    assert sorted(e.text_content() for e in page.query_selector_all(LEGEND)) == sorted(names)

    offices = spending.by_buyer(con, Filters(), limit=None)
    rolled = next(k for k in offices["key"] if levels.rolled_up(con, k, "department") != k)
    other = next(k for k in offices["key"] if k != rolled and k != labels.UNPUBLISHED)
    chosen = [other, rolled]
    page = journey.goto("/")
    for key in chosen:
        name = labels.party_name(con, "buyer", key)
        page.click("#f-buyer")
        page.keyboard.insert_text(name)  # one input event: one search, not one a letter
        page.get_by_role("option", name=name, exact=True).click()
        if key == other:
            wait_selection(page, f"Buyer: {name}")
    page.wait_for_selector("#compare-page")
    assert urlparse(page.url).path == "/compare" and query(page)["buyer"] == chosen

    def columns() -> tuple[list[str], list[str]]:
        heads = [e.text_content() for e in page.query_selector_all("#compare-table thead th")]
        counts = page.query_selector_all("#compare-table tbody tr")[1].query_selector_all("td")
        return heads[1:], [e.text_content() for e in counts]

    assert columns()[0] == [labels.party_name(con, "buyer", k) for k in chosen]
    page.get_by_label("Department (top body)").check()
    page.wait_for_function("() => location.search.includes('level=department')", polling=100)
    page.wait_for_selector("#level-badge")
    tops = list(dict.fromkeys(levels.rolled_up(con, k, "department") for k in chosen))
    assert tops[-1] != rolled
    page.wait_for_function("(n) => document.querySelector('#compare-table thead th:last-child')"
                           ".textContent == n", arg=labels.party_name(con, "buyer", tops[-1]),
                           polling=100)
    assert columns() == ([labels.party_name(con, "buyer", k) for k in tops], [
        str(int(spending.totals(con, Filters(buyer=k, buyer_level="department"))["contracts"][0]))
        for k in tops])


def test_j25_the_phones_filter_drawer_stays_open_until_it_is_closed(journey, browser,
                                                                     demo_site):
    """On a phone the analyst changes two filters in the drawer: it stays open across the
    re-renders, the focus back on the control just used, and closes on Close alone."""
    from survtrack.dashboard import formats

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = journey.watch(phone.new_page())
        page.goto(journey.server.url + "/?lang=ru")
        page.wait_for_selector(".footer")
        page.click("#filters-toggle")
        page.wait_for_selector("#f-country", state="visible")
        russia = formats.country_name("RU", "ru")
        page.click("#f-country")
        page.keyboard.type(russia[:4])
        page.get_by_role("option", name=russia, exact=True).click()
        wait_selection(page, f"Страна: {russia}")
        page.wait_for_function("() => document.activeElement.id == 'f-country'", polling=100)
        assert page.is_visible("#f-country")
        assert page.get_attribute("#filters-toggle", "aria-expanded") == "true"
        page.click("#f-surveillance")  # a second change, the drawer still open
        wait_selection(page, "все контракты")
        assert query(page)["scope"] == ["all"] and query(page)["country"] == ["RU"]
        page.wait_for_function("() => document.activeElement.id == 'f-surveillance'",
                               polling=100)
        assert page.is_visible("#f-country")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.click("#filters-close")
        page.wait_for_selector("#f-country", state="hidden")
        assert page.get_attribute("#filters-toggle", "aria-expanded") == "false"
        page.wait_for_function("() => document.activeElement.id == 'filters-toggle'",
                               polling=100)
    finally:
        phone.close()


def test_j26_russian_counts_take_their_plural_form(journey, demo_site):
    """In Russian, a count's noun takes the form Babel's plural rule gives its number: the
    contracts of selections whose counts fall in each form ("1 контракт", "3 контракта",
    "5 контрактов"), and ICE's merged names on the front page."""
    from babel import Locale

    con = demo_site.cursor()
    nouns = {"one": "контракт", "few": "контракта", "many": "контрактов"}
    candidates = [(None, None, spending.count_contracts(con, Filters()))] + [
        (role, key, int(n)) for role, view in (("vendor", spending.by_vendor),
                                               ("buyer", spending.by_buyer))
        for key, n in zip(*view(con, Filters(), limit=None)[["key", "contracts"]].T.values)]
    picked = {}
    for role, key, n in candidates:
        picked.setdefault(Locale("ru").plural_form(n), (role, key, n))
    assert {"one", "few", "many"} <= picked.keys(), picked
    for form in ("one", "few", "many"):
        role, key, n = picked[form]
        page = journey.goto("/contracts?lang=ru" + (f"&{role}={quote(key)}" if key else ""))
        assert page.text_content("#contract-count") == f"{n} {nouns[form]}", form
    merged = spending.by_buyer(con, Filters(), limit=10)
    ice = merged[merged["names"] > 1].iloc[0]
    page = journey.goto("/?lang=ru")
    names = {"one": "название объединено", "few": "названия объединены",
             "many": "названий объединено"}[Locale("ru").plural_form(int(ice["names"]))]
    assert f"{ice['name']} · {int(ice['names'])} {names}" in page.text_content("#top-buyers")
