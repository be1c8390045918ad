"""Benchmark: ingest generated TED notices into a fresh warehouse; print notices per second
and peak memory.

Notices are generated here, in the structure of the real ones in ../shared/data/ted: eForms
result notices (settled contracts over lots, tenders with values, tendering parties and
organizations with Finnish business IDs) and legacy TED XML F03 award notices. Nothing is
copied from the shared files.

    .venv/bin/python bench/bench_ted_ingest.py --notices 500 --lots 4
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

from baseline import best, ratio
from lxml import etree

from survtrack import scrapers
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.store import Warehouse

try:
    from survtrack.warehouse.protocol import Document, RowBuffer
except ImportError:  # before issue 12 (bench/compare.sh runs older revisions)
    from survtrack.warehouse.store import Document
    from survtrack.warehouse.store import LoadContext as RowBuffer

NS = ('xmlns="urn:oasis:names:specification:ubl:schema:xsd:ContractAwardNotice-2"'
      ' xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"'
      ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"'
      ' xmlns:efac="http://data.europa.eu/p27/eforms-ubl-extension-aggregate-components/1"'
      ' xmlns:efbc="http://data.europa.eu/p27/eforms-ubl-extension-basic-components/1"'
      ' xmlns:efext="http://data.europa.eu/p27/eforms-ubl-extensions/1"'
      ' xmlns:ext="urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"')
CPV = ["35125300", "32323500", "48000000", "72212000", "79710000", "35120000"]


def business_id(rng: random.Random) -> str:
    """A Finnish business ID with a valid check digit, so organizations get FI-PRO ids."""
    while True:
        digits = f"{rng.randrange(10**6, 10**7):07d}"
        r = sum(int(d) * w for d, w in zip(digits, (7, 9, 10, 5, 8, 4, 2))) % 11
        if r != 1:
            return f"{digits}-{(11 - r) % 11}"


def organization(ref: str, name: str, company_id: str) -> str:
    return (f"<efac:Organization><efac:Company><cac:PartyIdentification><cbc:ID>{ref}</cbc:ID>"
            f"</cac:PartyIdentification><cac:PartyName><cbc:Name languageID=\"FIN\">{name}"
            "</cbc:Name></cac:PartyName><cac:PostalAddress><cac:Country>"
            "<cbc:IdentificationCode listName=\"country\">FIN</cbc:IdentificationCode>"
            "</cac:Country></cac:PostalAddress><cac:PartyLegalEntity>"
            f"<cbc:CompanyID>{company_id}</cbc:CompanyID></cac:PartyLegalEntity>"
            "</efac:Company></efac:Organization>")


def eforms_notice(n: int, lots: int, rng: random.Random) -> str:
    values = [rng.randrange(10_000, 5_000_000) * 100 + rng.randrange(100) for _ in range(lots)]
    results, tenders, contracts, parties, projects = [], [], [], [], []
    orgs = [organization("ORG-0001", f"Kaupunki {n}", business_id(rng))]
    for i in range(1, lots + 1):
        lot, ten, con, tpa, org = (f"LOT-{i:04d}", f"TEN-{i:04d}", f"CON-{i:04d}",
                                   f"TPA-{i:04d}", f"ORG-{i + 1:04d}")
        results.append(f"<efac:LotResult><cbc:ID>RES-{i:04d}</cbc:ID><cbc:TenderResultCode>"
                       f"selec-w</cbc:TenderResultCode><efac:LotTender><cbc:ID>{ten}</cbc:ID>"
                       f"</efac:LotTender><efac:SettledContract><cbc:ID>{con}</cbc:ID>"
                       f"</efac:SettledContract><efac:TenderLot><cbc:ID>{lot}</cbc:ID>"
                       "</efac:TenderLot></efac:LotResult>")
        tenders.append(f"<efac:LotTender><cbc:ID>{ten}</cbc:ID><cac:LegalMonetaryTotal>"
                       f"<cbc:PayableAmount currencyID=\"EUR\">{values[i - 1] / 100:.2f}"
                       "</cbc:PayableAmount></cac:LegalMonetaryTotal><efac:TenderingParty>"
                       f"<cbc:ID>{tpa}</cbc:ID></efac:TenderingParty><efac:TenderLot>"
                       f"<cbc:ID>{lot}</cbc:ID></efac:TenderLot></efac:LotTender>")
        contracts.append(f"<efac:SettledContract><cbc:ID>{con}</cbc:ID><cbc:IssueDate>"
                         f"2024-0{rng.randrange(1, 10)}-1{rng.randrange(10)}+02:00</cbc:IssueDate>"
                         f"<efac:LotTender><cbc:ID>{ten}</cbc:ID></efac:LotTender>"
                         "</efac:SettledContract>")
        parties.append(f"<efac:TenderingParty><cbc:ID>{tpa}</cbc:ID><efac:Tenderer><cbc:ID>"
                       f"{org}</cbc:ID></efac:Tenderer></efac:TenderingParty>")
        orgs.append(organization(org, f"Toimittaja {n}-{i} Oy", business_id(rng)))
        projects.append(f"<cac:ProcurementProjectLot><cbc:ID schemeName=\"Lot\">{lot}</cbc:ID>"
                        f"<cac:ProcurementProject><cbc:Name languageID=\"FIN\">Osa {i}</cbc:Name>"
                        "<cac:MainCommodityClassification><cbc:ItemClassificationCode"
                        f" listName=\"cpv\">{rng.choice(CPV)}</cbc:ItemClassificationCode>"
                        "</cac:MainCommodityClassification></cac:ProcurementProject>"
                        "</cac:ProcurementProjectLot>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><ContractAwardNotice {NS}>'
            "<ext:UBLExtensions><ext:UBLExtension><ext:ExtensionContent><efext:EformsExtension>"
            f"<efac:NoticeResult><cbc:TotalAmount currencyID=\"EUR\">{sum(values) / 100:.2f}"
            "</cbc:TotalAmount>" + "".join(results + tenders + contracts + parties)
            + "</efac:NoticeResult><efac:Organizations>" + "".join(orgs)
            + "</efac:Organizations><efac:Publication><efbc:NoticePublicationID"
            f" schemeName=\"ojs-notice-id\">{n:08d}-2024</efbc:NoticePublicationID>"
            "<efbc:PublicationDate>2024-10-10+02:00</efbc:PublicationDate></efac:Publication>"
            "</efext:EformsExtension></ext:ExtensionContent></ext:UBLExtension>"
            f"</ext:UBLExtensions><cbc:ID schemeName=\"notice-id\">bench-{n}</cbc:ID>"
            "<cbc:IssueDate>2024-10-08+02:00</cbc:IssueDate><cbc:NoticeTypeCode"
            " listName=\"result\">can-standard</cbc:NoticeTypeCode><cbc:NoticeLanguageCode>FIN"
            "</cbc:NoticeLanguageCode><cac:ContractingParty><cac:Party><cac:PartyIdentification>"
            "<cbc:ID>ORG-0001</cbc:ID></cac:PartyIdentification></cac:Party>"
            "</cac:ContractingParty><cac:TenderingProcess><cbc:ProcedureCode>open"
            "</cbc:ProcedureCode></cac:TenderingProcess><cac:ProcurementProject><cbc:Name"
            f" languageID=\"FIN\">Hankinta {n}</cbc:Name><cac:MainCommodityClassification>"
            "<cbc:ItemClassificationCode listName=\"cpv\">35120000</cbc:ItemClassificationCode>"
            "</cac:MainCommodityClassification></cac:ProcurementProject>" + "".join(projects)
            + "</ContractAwardNotice>")


def legacy_notice(n: int, lots: int, rng: random.Random) -> str:
    values = [rng.randrange(1_000, 900_000) for _ in range(lots)]
    awards = "".join(
        f"<AWARD_CONTRACT ITEM=\"{i}\"><CONTRACT_NO>{i}</CONTRACT_NO><LOT_NO>{i}</LOT_NO>"
        f"<AWARDED_CONTRACT><DATE_CONCLUSION_CONTRACT>2021-04-{10 + i % 18}"
        "</DATE_CONCLUSION_CONTRACT><CONTRACTORS><CONTRACTOR><ADDRESS_CONTRACTOR><OFFICIALNAME>"
        f"Dostawca {n}-{i} sp. z o.o.</OFFICIALNAME><NATIONALID>{rng.randrange(10**9, 10**10)}"
        "</NATIONALID><COUNTRY VALUE=\"PL\"/></ADDRESS_CONTRACTOR></CONTRACTOR></CONTRACTORS>"
        f"<VALUES><VAL_TOTAL CURRENCY=\"PLN\">{v}.00</VAL_TOTAL></VALUES></AWARDED_CONTRACT>"
        "</AWARD_CONTRACT>" for i, v in enumerate(values, 1))
    descr = "".join(f"<OBJECT_DESCR ITEM=\"{i}\"><TITLE><P>Pakiet nr {i}</P></TITLE><LOT_NO>{i}"
                    f"</LOT_NO><CPV_ADDITIONAL><CPV_CODE CODE=\"{rng.choice(CPV)}\"/>"
                    "</CPV_ADDITIONAL></OBJECT_DESCR>" for i in range(1, lots + 1))
    return ('<?xml version="1.0" encoding="UTF-8"?><TED_EXPORT xmlns="http://publications.europa'
            f'.eu/resource/schema/ted/R2.0.9/publication" DOC_ID="{n:06d}-2022">'
            "<CODED_DATA_SECTION><REF_OJS><DATE_PUB>20220218</DATE_PUB></REF_OJS>"
            "</CODED_DATA_SECTION><FORM_SECTION><F03_2014 CATEGORY=\"ORIGINAL\" FORM=\"F03\">"
            "<CONTRACTING_BODY><ADDRESS_CONTRACTING_BODY><OFFICIALNAME>Szpital "
            f"{n}</OFFICIALNAME><NATIONALID>7292345599</NATIONALID><COUNTRY VALUE=\"PL\"/>"
            "</ADDRESS_CONTRACTING_BODY></CONTRACTING_BODY><OBJECT_CONTRACT><TITLE><P>Dostawa "
            f"{n}</P></TITLE><CPV_MAIN><CPV_CODE CODE=\"33151400\"/></CPV_MAIN>"
            f"<VAL_TOTAL CURRENCY=\"PLN\">{sum(values)}.00</VAL_TOTAL>{descr}</OBJECT_CONTRACT>"
            f"<PROCEDURE><PT_OPEN/></PROCEDURE>{awards}</F03_2014></FORM_SECTION></TED_EXPORT>")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=500, help="notices per format")
    parser.add_argument("--lots", type=int, default=4, help="lots (and contracts) per notice")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-ted-"))
    try:
        folder = work / "notices"
        folder.mkdir()
        size = 0
        for n in range(1, args.notices + 1):
            for prefix, make in (("eforms", eforms_notice), ("legacy", legacy_notice)):
                data = make(n, args.lots, rng).encode("utf-8")
                (folder / f"{prefix}-{n:06d}.xml").write_bytes(data)
                size += len(data)
        total = 2 * args.notices
        print(f"generated {total} notices ({args.notices} eForms + {args.notices} legacy,"
              f" {args.lots} lots each), {size / 1e6:.1f} MB")
        # the parser alone (what the TED module costs), then the whole ingest (archive, parse,
        # DuckDB); timed without tracemalloc, whose bookkeeping slows Python several times
        source = scrapers.get("ted")

        def parse_all() -> int:
            produced = 0
            for path in sorted(folder.iterdir()):
                ctx = RowBuffer(Document(path.name, "ted", str(path), path, path.stat().st_size))
                source.parse(ctx)
                produced += sum(len(r) for r in ctx.rows.values())
            return produced

        started = time.perf_counter()
        parsed_rows = parse_all()
        parse_elapsed = time.perf_counter() - started
        tracemalloc.start()
        parse_all()
        _, parse_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"parse only: {parse_elapsed:.2f} s, {total / parse_elapsed:.0f} notices/s,"
              f" {parsed_rows} rows; peak Python heap {parse_peak / 2**20:.1f} MiB")
        started = time.perf_counter()
        with Warehouse(work / "bench.duckdb") as wh:
            counts = ingest(wh, source, [folder])
            contracts = wh.count("contracts")
            items = wh.count("items")
        elapsed = time.perf_counter() - started
        print(f"outcomes: {dict(counts)}; contracts {contracts}, items {items}")
        print(f"ingest (archive + parse + DuckDB, small notices many to a transaction): {elapsed:.2f} s,"
              f" {total / elapsed:.1f} notices/s, {contracts / elapsed:.0f} contracts/s")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        print(f"peak RSS of the process (Python + DuckDB): {rss:.0f} MiB")
        paths = sorted(folder.iterdir())
        base = best(lambda: sum(len(etree.parse(str(p)).getroot()) for p in paths))
        ratio("TED parse only", parse_elapsed, "lxml parse of every notice", base)
        ratio("TED ingest", elapsed, "lxml parse of every notice", base)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
