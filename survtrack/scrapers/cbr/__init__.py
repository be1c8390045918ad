"""Bank of Russia official exchange rates (cbr.ru `XML_daily.asp` and `XML_dynamic.asp`).

Two documents, both Windows-1251 XML:

- `XML_daily.asp?date_req=31/12/2015`: every currency's rouble rate in force on one day,
  `<ValCurs Date="31.12.2015"><Valute ID="R01235"><CharCode>USD</CharCode><Nominal>1</Nominal>
  <Value>72,8827</Value></Valute>…`. `Date` is the day the rates are in force (the Bank sets
  them the working day before).
- `XML_dynamic.asp?date_req1=…&date_req2=…&VAL_NM_RQ=R01235`: one currency over a range,
  `<ValCurs ID="R01235"><Record Date="30.12.2015" Id="R01235"><Nominal>1</Nominal>
  <Value>72,5066</Value></Record>…`.

`fx_rates` holds units per US dollar: a daily file yields RUB per USD and, crossed through
the dollar, every other currency per USD; a dynamic file yields RUB per USD from the USD
series only (another currency's series cannot be expressed per dollar on its own).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from survtrack.datafiles import rows
from survtrack.scrapers import values as v
from survtrack.scrapers.xmlsafe import children, local, parse_tree, text
from survtrack.warehouse.protocol import LoadContext, Rejected

DAILY_URL = "https://www.cbr.ru/scripts/XML_daily.asp?date_req={:%d/%m/%Y}"
DYNAMIC_URL = ("https://www.cbr.ru/scripts/XML_dynamic.asp?date_req1={:%d/%m/%Y}"
               "&date_req2={:%d/%m/%Y}&VAL_NM_RQ={}")
USD_ID = "R01235"


@cache
def currency_ids() -> dict[str, str]:
    """Bank of Russia currency id (R01235) -> ISO 4217 code, from currencies.csv."""
    return {r["cbr_id"]: r["currency"]
            for r in rows(Path(__file__).with_name("currencies.csv"), ("cbr_id", "currency"))}


def cbr_date(value: str | None, field: str) -> date:
    try:
        return datetime.strptime((value or "").strip(), "%d.%m.%Y").date()
    except ValueError:
        raise Rejected(f"not a DD.MM.YYYY date: {value!r}", field) from None


def _rate(el, field: str) -> Decimal:
    """Roubles per one unit of the currency: Value / Nominal (JPY is quoted per 100)."""
    value = v.money(text(el, "Value"), f"{field}/Value")
    nominal = v.integer(text(el, "Nominal"), f"{field}/Nominal", default=1)
    if value is None or value <= 0 or not nominal or nominal <= 0:
        raise Rejected(f"no positive rate (Value {text(el, 'Value')!r}, Nominal"
                       f" {text(el, 'Nominal')!r})", f"{field}/Value")
    return value / nominal


def parse(ctx: LoadContext) -> None:
    with ctx.document.open() as fh:
        root = parse_tree(fh)
    if local(root.tag) != "ValCurs":
        raise Rejected(f"not a Bank of Russia rates document: root <{local(root.tag)}>",
                       "ValCurs")
    if children(root, "Valute") or root.get("Date"):
        _daily(ctx, root)
    else:
        _dynamic(ctx, root)


def _emit(ctx: LoadContext, day: date, currency: str, units_per_usd: Decimal) -> None:
    ctx.emit("fx_rates", date=day, currency=currency, units_per_usd=float(units_per_usd),
             source="cbr", document_id=ctx.document.document_id)


def _daily(ctx: LoadContext, root) -> None:
    day = cbr_date(root.get("Date"), "ValCurs/@Date")
    rub_per = {}
    for valute in children(root, "Valute"):
        code = text(valute, "CharCode") or currency_ids().get(valute.get("ID", ""))
        field = f"Valute[{code or valute.get('ID')}]"
        try:
            code = v.currency(code, f"{field}/CharCode")
            if code is None:
                raise Rejected("no CharCode", f"{field}/CharCode")
            rub_per[code] = _rate(valute, field)
        except Rejected as exc:  # one bad currency costs only itself
            ctx.reject_part(exc.reason, exc.field)
    if "USD" not in rub_per:
        raise Rejected("no usable USD rate: rates are stored per US dollar", "Valute[USD]")
    usd = rub_per.pop("USD")
    _emit(ctx, day, "RUB", usd)
    for code, rub in sorted(rub_per.items()):
        _emit(ctx, day, code, usd / rub)
    ctx.describe("fx_rates", f"Bank of Russia rates in force on {day}: {len(rub_per) + 1}"
                 " currencies per USD", contract_bearing=False, url=DAILY_URL.format(day))


def _dynamic(ctx: LoadContext, root) -> None:
    series = root.get("ID")
    records = children(root, "Record")
    if series is None and not records:
        raise Rejected("neither a daily (Valute) nor a dynamic (Record) rates document",
                       "ValCurs")
    if series != USD_ID:
        code = currency_ids().get(series or "", series)
        raise Rejected(f"dynamic series of {code} ({series}): fx_rates holds units per US"
                       f" dollar, so only the USD series ({USD_ID}) loads on its own; load"
                       " XML_daily files for other currencies", "ValCurs/@ID")
    days = []
    for record in records:
        try:
            day = cbr_date(record.get("Date"), "Record/@Date")
            _emit(ctx, day, "RUB", _rate(record, f"Record[{record.get('Date')}]"))
            days.append(day)
        except Rejected as exc:
            ctx.reject_part(exc.reason, exc.field)
    if not days:
        raise Rejected("no usable Record in the series", "Record")
    first, last = root.get("DateRange1"), root.get("DateRange2")
    start = cbr_date(first, "ValCurs/@DateRange1") if first else min(days)
    end = cbr_date(last, "ValCurs/@DateRange2") if last else max(days)
    ctx.describe("fx_rates", f"Bank of Russia USD rates, {len(days)} days from {min(days)} to"
                 f" {max(days)}", contract_bearing=False,
                 url=DYNAMIC_URL.format(start, end, series))
