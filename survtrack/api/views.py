"""The `/api/` routes: parse and check the query, read the snapshot, shape the answer."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import format_datetime
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException, NotFound

from survtrack.analysis import flags, watch
from survtrack.analysis.spending import MAX_TEXT, MEASURE_COLUMNS, Filters
from survtrack.dashboard.urls import CURRENCY_RE, from_query, to_query
from survtrack.warehouse.snapshot import SnapshotReader

from . import feeds, openapi, queries
from .queries import BadRequest

log = logging.getLogger(__name__)

# the dashboard's URL filters, and the API's own parameters (which start with "_")
FILTER_PARAMS = ("country", "source", "category", "buyer", "vendor", "from", "to", "currency",
                 "measure", "scope", "undated", "not_vendor", "flag", "level", "lang")
API_PARAMS = ("_size", "_next", "_shape", "q", "top")
DEFAULT_SIZE = 100
# floats that are money: written as decimal strings with cents, like the DECIMAL columns
MONEY = {"amount", "amount_usd", "paid", "paid_usd", "total", "usd", "amt", "pusd", "pamt",
         "estimated_amount", "award_amount", "final_amount", "units_per_usd"}


def mount(server: Flask, reader: SnapshotReader) -> None:
    """Serve the API on the dashboard's Flask server (one call in dashboard/app.py), and the
    watchlists' Atom feeds."""
    server.register_blueprint(blueprint(reader))
    feeds.mount(server, reader)


def blueprint(reader: SnapshotReader) -> Blueprint:
    api = Blueprint("api", __name__, url_prefix="/api")

    @api.route("/")
    @api.route("")
    def index():
        return answer(reader, {"api": "survtrack", "snapshot": _snapshot(reader),
                               "documentation": "/api/openapi.json",
                               "endpoints": openapi.summary()})

    @api.route("/openapi.json")
    def spec():
        return answer(reader, openapi.spec())

    @api.route("/contracts", defaults={"fmt": "json"})
    @api.route("/contracts.<fmt>")
    def contracts(fmt: str):
        f, extra = parse_query()
        size = _size(extra.get("_size"))
        con = reader.cursor()
        rows, cursor = queries.contracts_page(con, f, text=extra.get("q"),
                                              after=extra.get("_next"), size=size)
        for r in rows:
            r["links"] = queries.links(r)
        next_url = _with(request.full_path, _next=cursor) if cursor else None
        body = {"snapshot": _snapshot(reader), "filters": to_query(f),
                "count": queries.count(con, f, extra.get("q")), "next": cursor,
                "next_url": next_url}
        return table(reader, fmt, rows, body, extra.get("_shape"), next_url)

    @api.route("/contracts/<path:contract_id>")
    def contract(contract_id: str):
        parse_query(allowed=())
        found = queries.contract(reader.cursor(), contract_id)
        if found is None:
            raise NotFound(f"no contract {contract_id!r}")
        return answer(reader, found)

    for role, plural in (("vendor", "vendors"), ("buyer", "buyers")):
        def search(fmt: str = "json", role=role):
            f, extra = parse_query()
            rows = queries.parties(reader.cursor(), role, extra.get("q"),
                                   _size(extra.get("_size")))
            return table(reader, fmt, rows, {"snapshot": _snapshot(reader)},
                         extra.get("_shape"), None)

        def one(key: str, role=role):
            f, _ = parse_query()
            found = queries.party(reader.cursor(), role, key, f)
            if found is None:
                raise NotFound(f"no {role} {key!r}")
            return answer(reader, found)

        api.add_url_rule(f"/{plural}", f"{plural}", search, defaults={"fmt": "json"})
        api.add_url_rule(f"/{plural}.<fmt>", f"{plural}_fmt", search)
        api.add_url_rule(f"/{plural}/<path:key>", f"{role}", one)

    @api.route("/spending/<view>", defaults={"fmt": "json"})
    @api.route("/spending/<view>.<fmt>")
    def spending_view(view: str, fmt: str):
        f, extra = parse_query()
        if view not in queries.SPENDING_VIEWS:
            raise NotFound(f"no spending view {view!r}: "
                           + ", ".join(queries.SPENDING_VIEWS))
        top = _int(extra.get("top"), "top", 7, 1, 100)
        rows = queries.spending_view(reader.cursor(), view, f, top=top)
        return table(reader, fmt, rows, {"snapshot": _snapshot(reader), "view": view,
                                         "filters": to_query(f),
                                         "money": "USD (converted)" if f.usd else f.currency,
                                         "measure": f.measure}, extra.get("_shape"), None)

    @api.route("/search")
    def search_all():
        f, extra = parse_query()
        text = extra.get("q")
        if not text:
            raise BadRequest("search needs q")
        size = _size(extra.get("_size"), 20)
        con = reader.cursor()
        rows, cursor = queries.contracts_page(con, f, text=text, size=size)
        for r in rows:
            r["links"] = queries.links(r)
        more = "/api/contracts?" + urlencode({**to_query(f), "q": text}, doseq=True)
        return answer(reader, {"q": text, "snapshot": _snapshot(reader),
                               "vendors": queries.parties(con, "vendor", text, size),
                               "buyers": queries.parties(con, "buyer", text, size),
                               "contracts": rows, "more_contracts": more if cursor else None})

    @api.route("/watchlists")
    def watchlists():
        parse_query(allowed=())
        return answer(reader, {"snapshot": _snapshot(reader),
                               "rows": feeds.listing(reader.cursor())})

    @api.route("/watchlists/<name>")
    def watchlist(name: str):
        _, extra = parse_query(allowed=("_size",))
        con = reader.cursor()
        found = [w for w in feeds.listing(con) if w["name"] == name]
        if not found:
            raise NotFound(f"no watchlist {name!r}")
        rows = watch.matches(con, name, new_only=False, limit=_size(extra.get("_size")),
                             facts="contract_facts")
        for r in rows:
            r["links"] = queries.links(r)
        return answer(reader, {**found[0], "snapshot": _snapshot(reader), "matches": rows})

    @api.route("/<path:rest>", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
    def unknown(rest: str):
        if request.method not in ("GET", "HEAD"):
            return error(405, "the API is read-only: GET only")
        return error(404, f"no API endpoint /api/{rest}: see /api/openapi.json")

    @api.errorhandler(BadRequest)
    def _bad(exc):
        return error(400, str(exc))

    @api.errorhandler(HTTPException)
    def _http(exc):
        return error(exc.code or 500, exc.description or exc.name)

    @api.errorhandler(Exception)
    def _crash(exc):  # a bug: logged with its traceback, answered in JSON all the same
        log.exception("API error on %s", request.full_path)
        return error(500, f"internal error: {type(exc).__name__}")

    @api.after_request
    def _cors(response: Response) -> Response:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response.headers["Access-Control-Expose-Headers"] = "ETag, Last-Modified, Link"
        return response

    return api


# -- the query ---------------------------------------------------------------------------------

def parse_query(allowed: tuple[str, ...] = FILTER_PARAMS + API_PARAMS) -> tuple[Filters, dict]:
    """The dashboard's Filters and the API's own parameters; anything unknown or malformed is
    refused with the reason (the dashboard ignores it; an API client wants to know)."""
    args = request.args
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown parameter {', '.join(unknown)}; known: "
                         + ", ".join(allowed or ("none",)))
    for name in args:
        if name != "not_vendor" and len(args.getlist(name)) > 1:
            raise BadRequest(f"{name} given more than once")
        if any(len(v) > MAX_TEXT for v in args.getlist(name)):
            raise BadRequest(f"{name} is longer than {MAX_TEXT} characters")
    for name in ("from", "to"):
        value = args.get(name)
        if value is not None and not (value.isdigit() and 1900 <= int(value) <= 2100):
            raise BadRequest(f"{name} is a year between 1900 and 2100, not {value!r}")
    if "currency" in args and not CURRENCY_RE.match(args["currency"].upper()):
        raise BadRequest(f"currency is USD or an ISO 4217 code, not {args['currency']!r}")
    if "measure" in args and args["measure"] not in MEASURE_COLUMNS:
        raise BadRequest(f"measure is {' or '.join(MEASURE_COLUMNS)}, not {args['measure']!r}")
    if args.get("scope", "surveillance") not in ("all", "surveillance"):
        raise BadRequest("scope is all or surveillance")
    if "flag" in args and args["flag"] not in flags.definitions():
        raise BadRequest(f"flag is one of {', '.join(flags.definitions())}, not"
                         f" {args['flag']!r}")
    if args.get("undated", "1") not in ("0", "1"):
        raise BadRequest("undated is 1 or 0")
    if args.get("_shape", "objects") not in ("objects", "arrays"):
        raise BadRequest("_shape is objects or arrays")
    f = from_query(args.to_dict(flat=False))
    return f, {k: args[k] for k in API_PARAMS if k in args}


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise BadRequest(f"{name} is a whole number from {low} to {high}")
    return int(value)


def _size(value: str | None, default: int = DEFAULT_SIZE) -> int:
    return _int(value, "_size", default, 1, queries.MAX_SIZE)


def _with(full_path: str, **changes) -> str:
    """This request's URL with some parameters replaced."""
    params = request.args.to_dict(flat=False)
    for k, v in changes.items():
        params[k] = [v]
    return request.path + "?" + urlencode(params, doseq=True)


# -- the answer --------------------------------------------------------------------------------

def _snapshot(reader: SnapshotReader) -> str | None:
    reader.cursor()  # opens the current snapshot if no request has yet
    return reader.path.stem if reader.path else None


def plain(value, column: str | None = None):
    """A value as JSON has it: ISO dates, money as decimal strings, no NaN."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        if column in MONEY:
            return f"{value:.2f}"
        return int(value) if value.is_integer() else value  # counts summed in DOUBLE
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, column) for v in value]
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if getattr(value, "ndim", 0) > 0:  # numpy arrays: a list column (a joint award's members)
        return [plain(v, column) for v in value.tolist()]
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item(), column)
    return value


def _tag(reader: SnapshotReader) -> tuple[str, datetime | None]:
    snap = _snapshot(reader) or "none"
    digest = hashlib.sha256(request.full_path.encode()).hexdigest()[:16]
    modified = None
    if reader.path and reader.path.exists():
        modified = datetime.fromtimestamp(int(reader.path.stat().st_mtime), UTC)
    return f'W/"{snap}-{digest}"', modified


def _send(reader: SnapshotReader, body: str, mimetype: str, headers: dict | None = None):
    etag, modified = _tag(reader)
    if etag in request.headers.get("If-None-Match", ""):
        response = Response(status=304)
    else:
        response = Response(body, mimetype=mimetype)
    response.headers["ETag"] = etag
    if modified:
        response.headers["Last-Modified"] = format_datetime(modified, usegmt=True)
    response.headers["Cache-Control"] = "public, max-age=60"
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def answer(reader: SnapshotReader, data, status: int = 200, headers: dict | None = None):
    return _send(reader, json.dumps(plain(data), ensure_ascii=False), "application/json",
                 headers)


def error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message, "status": status}, ensure_ascii=False),
                    status=status, mimetype="application/json")


def table(reader: SnapshotReader, fmt: str, rows: list[dict], body: dict, shape: str | None,
          next_url: str | None):
    """Rows as JSON (objects or arrays) or CSV; the next page in a Link header as well."""
    headers = {"Link": f'<{next_url}>; rel="next"'} if next_url else {}
    columns = list(dict.fromkeys(c for r in rows for c in r))
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        flat = [c for c in columns if c != "links"] + (["contract_page", "document_page"]
                                                       if "links" in columns else [])
        writer.writerow(flat)
        for r in rows:
            values = [plain(r.get(c), c) for c in columns if c != "links"]
            if "links" in columns:
                out_links = r.get("links") or {}
                values += [out_links.get("contract") or out_links.get("page")
                           or out_links.get("dashboard"), out_links.get("document")]
            writer.writerow([_cell(v) for v in values])
        return _send(reader, out.getvalue(), "text/csv", headers)
    if fmt != "json":
        raise NotFound(f"no format {fmt!r}: json or csv")
    if shape == "arrays":
        body = {**body, "columns": columns, "rows": [[r.get(c) for c in columns] for r in rows]}
    else:
        body = {**body, "rows": rows}
    return answer(reader, body, headers=headers)


def _cell(value) -> str:
    """A CSV cell; text a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _numeric(text) else text


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
