"""EIS ingest speed and memory on a generated 223-FZ daily file of N contracts.

Run: python bench/bench_eis_ingest.py [N]   (default 20000)
The file is built from the structure of a real 223-FZ contract item (written here, not copied),
each item with its own registration number; prints items per second and peak memory, which
stays flat as N grows because items are freed as soon as they are loaded.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from baseline import best, ratio
from lxml import etree

from survtrack import scrapers
from survtrack.scrapers.ingest import ingest
from survtrack.warehouse.store import Warehouse

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<ns2:contract xmlns="http://zakupki.gov.ru/223fz/types/1" xmlns:ns2="http://zakupki.gov.ru/223fz/contract/1">
<ns2:header><guid>0</guid><createDateTime>2019-12-17T17:01:03</createDateTime></ns2:header><ns2:body>
"""
ITEM = """<ns2:item><ns2:guid>{n}</ns2:guid><ns2:contractData><guid>{n}</guid>
<registrationNumber>5{n:022d}</registrationNumber><customer><mainInfo><fullName>АКЦИОНЕРНОЕ ОБЩЕСТВО "ЗАКАЗЧИК {m}"</fullName>
<inn>01050{m:05d}</inn><kpp>010501001</kpp></mainInfo></customer><publicationDate>2019-12-17T17:01:02</publicationDate>
<status>P</status><version>1</version><contractRegNumber>5{n:022d}</contractRegNumber><contractDate>2019-12-16</contractDate>
<subjectContract>Поставка систем видеонаблюдения, лот {n}</subjectContract>
<purchaseTypeInfo><code>30000</code><name>Закупка у единственного поставщика</name></purchaseTypeInfo>
<supplierInfo><name>ООО "ПОСТАВЩИК {m}"</name><inn>77{m:08d}</inn><kpp>770101001</kpp></supplierInfo>
<price>{price}</price><currency><code>RUB</code></currency>
<contractPositions><contractPosition><name>Камера видеонаблюдения</name><ordinalNumber>1</ordinalNumber>
<okpd2><code>26.70.13.000</code></okpd2><okei><code>796</code><name>Штука</name></okei><qty>10</qty></contractPosition>
</contractPositions></ns2:contractData></ns2:item>
"""
TAIL = "</ns2:body></ns2:contract>\n"
ITEM_TAG = "{http://zakupki.gov.ru/223fz/contract/1}item"


def bare_parse(path: Path) -> int:
    """The baseline: lxml alone streams the same file, item by item, and frees each."""
    n = 0
    for _, el in etree.iterparse(str(path), tag=ITEM_TAG):
        n += 1
        el.clear()
    return n


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contract_daily.xml"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(HEAD)
            fh.writelines(ITEM.format(n=i, m=i % 500, price=100000 + i) for i in range(n))
            fh.write(TAIL)
        size = path.stat().st_size
        wh = Warehouse(Path(tmp) / "bench.duckdb")
        tracemalloc.start()
        start = time.perf_counter()
        counts = ingest(wh, scrapers.get("eis"), [path])
        elapsed = time.perf_counter() - start
        python_peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.reset_peak()  # the baseline runs traced too, as the ingest did
        base = best(lambda: bare_parse(path))
        tracemalloc.stop()
        contracts = wh.count("contracts")
        wh.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"file: {size / 1e6:.1f} MB, {n} contracts; outcome {dict(counts)}")
    print(f"loaded {contracts} contracts in {elapsed:.1f} s = {contracts / elapsed:,.0f} contracts/s")
    print(f"peak Python heap during ingest: {python_peak:.0f} MB (the parser's own memory)")
    print(f"peak RSS: {peak:.0f} MB (includes DuckDB's buffer pool and indexes)")
    ratio("EIS ingest", elapsed, "lxml iterparse of the file", base)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
