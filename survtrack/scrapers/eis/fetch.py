"""Fetching from Russia's EIS (zakupki.gov.ru): the public HTML search, then each record's
XML print form; or the document service (getDocsIP) that replaced the FTP on 2025-01-01.

Modes (`--mode`):

- `contracts` (default): `/epz/contract/search/results.html` (44-FZ contract registry),
  then `/epz/contract/printForm/viewXml.html?contractReestrNumber=N` for each contract: an
  EIS `export/contract` document that the EIS parser reads. The document's public URL is the
  contract card. Entries that link to a 223-FZ card (no reestrNumber) are not 44-FZ
  registry contracts and are passed over.
- `orders`: `/epz/order/extendedsearch/results.html` (notices), then
  `/epz/order/notice/printForm/viewXml.html?regNumber=N`.
- `documents`: the document service, one SOAP request per day of `--since`..`--until`
  for `--region`; each archive it points to is downloaded with the personal token and its
  XML members loaded. Needs `--token` or EIS_TOKEN (see docs/scraping.md).

The search is asked once per query: `--query TEXT`, or with `--preset surveillance` one
search per word and one per OKPD2 code of surveillance.csv. The checkpoint is the
search and the page to do next (paging.numbered_pages). A results page that no longer has the expected blocks
raises `LayoutChanged` naming the missing selector.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit
from xml.sax.saxutils import escape

from bs4 import BeautifulSoup

from survtrack.scrapers import xmlsafe
from survtrack.scrapers.files import Problem, read_zip
from survtrack.scrapers.http import FetchError
from survtrack.scrapers.paging import each_day, each_document, numbered_pages
from survtrack.scrapers.presets import require
from survtrack.scrapers.scrape import FetchContext, LayoutChanged

HERE = Path(__file__).parent
SERVICE_URL = "https://int44.zakupki.gov.ru/eis-integration/services/getDocsIP"
SERVICE_NS = "http://zakupki.gov.ru/fz44/get-docs-ip/ws"
RECORDS_PER_PAGE = 50
MAX_PAGES = 100  # the search shows at most 100 pages: narrow the dates for more

SEARCHES = {
    "contracts": {
        "path": "/epz/contract/search/results.html",
        "fixed": {"morphology": "on", "fz44": "on", "contractStageList_0": "on",
                  "contractStageList_1": "on", "contractStageList_2": "on",
                  "contractStageList_3": "on", "contractStageList": "0,1,2,3",
                  "contractCurrencyID": "-1", "sortBy": "UPDATE_DATE",
                  "sortDirection": "false"},
        "dates": ("contractDateFrom", "contractDateTo"),
        "number": "reestrNumber",
        "xml": "/epz/contract/printForm/viewXml.html?contractReestrNumber={}",
        "card": "/epz/contract/contractCard/common-info.html?reestrNumber={}",
    },
    "orders": {
        "path": "/epz/order/extendedsearch/results.html",
        "fixed": {"morphology": "on", "fz44": "on", "af": "true", "ca": "true", "pc": "true",
                  "pa": "true", "currencyIdGeneral": "-1", "sortBy": "UPDATE_DATE",
                  "sortDirection": "false", "showLotsInfoHidden": "false"},
        "dates": ("publishDateFrom", "publishDateTo"),
        "number": "regNumber",
        "xml": "/epz/order/notice/printForm/viewXml.html?regNumber={}",
        "card": None,  # the notice link in the result is its public page
    },
}
# the document service: registry subsystem and document kinds asked per mode
SERVICE_DOCUMENTS = {"subsystem": "RGK", "kinds": ("contract", "contractProcedure")}


def searches(params: dict) -> list[dict]:
    """One search per query: the words and OKPD2 codes of the preset, or --query."""
    preset = require(HERE, "eis", params.get("preset"))
    out = [{"searchString": w} for w in preset.get("word", ())]
    out += [{"okpd2IdsCodes": c, "okpd2IdsWithNested": "true"} for c in preset.get("okpd2", ())]
    if params.get("query"):
        out.insert(0, {"searchString": params["query"]})
    if not out:
        out = [{"searchString": ""}]
    return out


def _ru_date(value: str) -> str:
    return date.fromisoformat(value).strftime("%d.%m.%Y")


def fetch(ctx: FetchContext) -> Iterator:
    mode = ctx.params.get("mode") or "contracts"
    if mode == "documents":
        yield from fetch_documents(ctx)
        return
    if mode not in SEARCHES:
        raise ValueError(f"unknown eis mode {mode!r}: contracts, orders or documents")
    spec = SEARCHES[mode]
    per_page = int(ctx.params.get("page_size") or RECORDS_PER_PAGE)

    def page(search: dict, number: int, state: dict):
        query = {**spec["fixed"], **search, "pageNumber": number,
                 "recordsPerPage": f"_{per_page}"}
        for key, name in zip(("since", "until"), spec["dates"], strict=True):
            if ctx.params.get(key):
                query[name] = _ru_date(ctx.params[key])
        url = ctx.url(spec["path"])
        resp = ctx.client.get(url, params=query, kind="listing", expect="html")
        numbers = result_numbers(resp.text, resp.url, spec["number"])
        if numbers and numbers == state.get("_previous"):  # past the end the site repeats
            numbers = []
        state["_previous"] = numbers
        yield from each_document(ctx, (
            (ctx.url(spec["xml"].format(number)),
             ctx.url(spec["card"].format(number)) if spec["card"] else link)
            for number, link in numbers), "xml", "application/xml")
        return len(numbers) < per_page or number >= MAX_PAGES

    yield from numbered_pages(ctx, searches(ctx.params), page)


def result_numbers(html: str, url: str, number_param: str) -> list[tuple[str, str]]:
    """(registry number, public link) for each entry of a results page.

    The page must have either result blocks or the total banner (a search with no hits);
    a page with neither, or a block without its number link, has changed layout.
    """
    soup = BeautifulSoup(html, "lxml")
    blocks = soup.select("div.search-registry-entry-block")
    if not blocks:
        if soup.select_one("div.search-results__total") is None and \
                soup.select_one(".noRecords, .no-data") is None:
            raise LayoutChanged(url, "div.search-registry-entry-block (result entries) and"
                                " div.search-results__total (result count)")
        return []
    out = []
    for n, block in enumerate(blocks, 1):
        link = block.select_one("div.registry-entry__header-mid__number a[href]")
        if link is None:
            raise LayoutChanged(url, "div.registry-entry__header-mid__number a[href]",
                                f"in result entry {n}")
        href = urljoin(url, link["href"])
        values = parse_qs(urlsplit(href).query).get(number_param)
        if values:
            out.append((values[0], href))
        elif number_param == "regNumber":  # every notice link carries regNumber
            raise LayoutChanged(url, f"{number_param}= in the entry's number link",
                                f"entry {n} links to {href}")
    return out


# -- the document service ------------------------------------------------------------------
def soap_request(token: str, region: str, subsystem: str, kind: str, day: date) -> str:
    now = datetime.now(timezone(timedelta(hours=3))).replace(microsecond=0).isoformat()
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ws="{SERVICE_NS}">
  <soapenv:Header><individualPerson_token>{escape(token)}</individualPerson_token></soapenv:Header>
  <soapenv:Body>
    <ws:getDocsByOrgRegionRequest>
      <index><id>{uuid.uuid4()}</id><createDateTime>{now}</createDateTime><mode>PROD</mode></index>
      <selectionParams>
        <orgRegion>{escape(region)}</orgRegion>
        <subsystemType>{escape(subsystem)}</subsystemType>
        <documentType44>{escape(kind)}</documentType44>
        <periodInfo><exactDate>{day.isoformat()}</exactDate></periodInfo>
      </selectionParams>
    </ws:getDocsByOrgRegionRequest>
  </soapenv:Body>
</soapenv:Envelope>"""


def archive_urls(body: bytes, url: str) -> list[str]:
    """The archive links of a getDocs response; a fault or errorInfo is an error."""
    import io

    urls, errors = [], []
    for event, el in xmlsafe.iterparse(io.BytesIO(body)):
        if event != "end":
            continue
        name = xmlsafe.local(el.tag)
        if name == "archiveUrl" and (el.text or "").strip():
            urls.append(el.text.strip())
        elif name in ("faultstring", "errorInfo", "message") and (el.text or "").strip():
            errors.append(el.text.strip())
    if errors and not urls:
        raise FetchError(url, "document service refused: " + "; ".join(errors)[:500])
    return urls


def fetch_documents(ctx: FetchContext) -> Iterator:
    token, region = ctx.params.get("token"), ctx.params.get("region")
    if not token:
        raise ValueError("the EIS document service needs a personal token: --token or"
                         " EIS_TOKEN (see docs/scraping.md)")
    if not region or not ctx.params.get("since"):
        raise ValueError("eis --mode documents needs --region (e.g. 77) and --since")
    service = ctx.params.get("base_url", "").rstrip("/") + "/eis-integration/services/getDocsIP" \
        if ctx.params.get("base_url") else SERVICE_URL
    first = date.fromisoformat(ctx.params["since"])
    last = date.fromisoformat(ctx.params.get("until") or ctx.params["since"])

    def day_page(day: date):
        for kind in SERVICE_DOCUMENTS["kinds"]:
            body = soap_request(token, region, SERVICE_DOCUMENTS["subsystem"], kind, day)
            resp = ctx.client.post(service, data=body.encode(), kind="listing", expect="xml",
                                   cache=False,  # the body holds the token
                                   headers={"Content-Type": "text/xml; charset=utf-8",
                                            "individualPerson_token": token})
            for archive_url in archive_urls(resp.content, service):
                yield from _archive_members(ctx, archive_url, token)

    yield from each_day(ctx, first, last, day_page, key="day")


def _archive_members(ctx: FetchContext, url: str, token: str) -> Iterator:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "archive.zip"

        def sink(raw, expect, headers):
            with open(path, "wb") as out:
                while chunk := raw.read(1 << 20):
                    out.write(chunk)
            return path, path.stat().st_size

        ctx.client.stream(url, sink, headers={"individualPerson_token": token})
        for item in read_zip(path, url, ctx.archive, "eis", (".xml",)):
            if isinstance(item, Problem):
                yield item
            else:
                item.url = item.origin
                yield item
