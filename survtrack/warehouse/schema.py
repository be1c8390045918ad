"""The tidy tables: the one contract between scrapers, analysis and dashboard.

Each table is declared once, as data: columns with their DuckDB type and a doc line, and the
primary key. `docs/tables.md` is generated from this module (`survtrack docs`), so the
documentation cannot drift from the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache

MONEY = "DECIMAL(24,2)"
# Contract statuses that never add to spending: cancelled or annulled (OCDS `cancelled`, an
# award `unsuccessful`, EIS contractCancel or stage IN). Such a contract stays listed and
# marked; every sum (spending views, snapshot cubes, claims) leaves it out.
CANCELLED_STATUSES = ("annulled",)
CANCELLED_SQL = "{status} IN (" + ", ".join(f"'{s}'" for s in CANCELLED_STATUSES) + ")"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str
    nullable: bool = True
    # SQL filling the column when it is added to a warehouse made before it existed
    backfill: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = field(default=())
    # Columns ordering the rows of one key, greatest kept (NULL lowest): a row that arrives
    # later but is older by these never replaces the stored one, so the tables do not depend
    # on the order documents are loaded in. Without them the last row written wins.
    newest: tuple[str, ...] = field(default=())
    # False for the build's own bookkeeping, which no reader needs: left out of the snapshot
    published: bool = True
    # False for the tables the build derives and rewrites a step at a time (competition,
    # threads, flags, classified, build_inputs): the build alone writes them and keeps the key
    # unique, and DuckDB's key index made rewriting them cost most of the build at scale (a
    # commit of 90 s for 1 M replaced rows), so they carry no PRIMARY KEY or index.
    indexed: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def ddl(self) -> str:
        cols = [
            f"{c.name} {c.type}{'' if c.nullable or c.name in self.key else ' NOT NULL'}"
            for c in self.columns
        ]
        if self.indexed:
            cols.append(f"PRIMARY KEY ({', '.join(self.key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  " + ",\n  ".join(cols) + "\n)"


def _t(name: str, doc: str, key: tuple[str, ...], *cols: tuple, indexes=(), newest=(),
       published=True, indexed=True) -> Table:
    return Table(name, doc, tuple(Column(*c) for c in cols), key, tuple(indexes), tuple(newest),
                 published, indexed)


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        _t(
            "documents", "One row per raw document archived (content-addressed).",
            ("document_id",),
            ("document_id", "VARCHAR", "SHA-256 of the document's bytes; the archive file name"),
            ("source", "VARCHAR", "source name: eis, usaspending, ocds, ted, cbr, curated", False),
            ("url", "VARCHAR", "public URL of the document (or of the record it describes)"),
            ("origin", "VARCHAR", "where survtrack got the bytes: fetched URL, file path, zip!member"),
            ("fetched_at", "TIMESTAMP", "when the bytes were archived (UTC)", False),
            ("media_type", "VARCHAR", "MIME type, e.g. application/xml"),
            ("bytes", "BIGINT", "size in bytes", False),
            ("kind", "VARCHAR", "what the parser recognised: contract, contract_procedure, notice…"),
            ("status", "VARCHAR", "loaded | not_contract_bearing | rejected | archived (fetched,"
                                  " awaiting its source's parser)"),
            ("detail", "VARCHAR", "why a document bears no contract, or what it held"),
        ),
        _t(
            "contracts", "One row per contract, in its latest known version.",
            ("contract_id",),
            ("contract_id", "VARCHAR", "<source>:<native id>, e.g. eis:2366200608816001262"),
            ("source", "VARCHAR", "source name", False),
            ("native_id", "VARCHAR", "the source's own identifier (EIS registry number…)", False),
            ("version", "INTEGER", "the source's version number of this record", False),
            ("published_on", "TIMESTAMP", "when this version was published"),
            ("title", "VARCHAR", "subject of the contract (or its product lines, joined)"),
            ("description", "VARCHAR", "what the documents say of the purchase beyond the title"
             " (OCDS: the contract's, award's and tender's descriptions); the classifier reads"
             " it with the title and the product lines"),
            ("buyer_id", "VARCHAR", "org_id of the buyer (customer)"),
            ("vendor_id", "VARCHAR", "org_id of the (first) supplier; NULL where unpublished"),
            ("signed_on", "DATE", "signing date as published (NULL where none is)"),
            ("dated_on", "DATE", "the best date the documents hold: signed_on, else the award"
             " decision, notice dispatch or publication (date_basis says which)", True,
             "signed_on"),
            ("year", "INTEGER", "calendar year of dated_on (or the year a report gives)"),
            ("date_basis", "VARCHAR", "what dated_on and year come from: signed | award_decision |"
             " performance_start | first_action | dispatch | published | reported (a year-only"
             " figure); NULL without a year", True,
             "CASE WHEN signed_on IS NOT NULL THEN 'signed' END"),
            ("amount", MONEY, "contract value as published"),
            ("currency", "VARCHAR", "ISO 4217 code of amount"),
            ("amount_usd", "DOUBLE", "amount in US dollars at the rate of dated_on (the signing"
             " date where one is published; build)"),
            ("fx_source", "VARCHAR", "rates used for amount_usd: cbr, ecb, or usd as published (build)"),
            ("fx_date", "DATE", "day of the rate used: dated_on or the nearest earlier rate (build)"),
            ("amount_usd_constant", "DOUBLE",
             "amount_usd in constant dollars of the latest year of US CPI-U (build; docs/money.md)"),
            ("procedure", "VARCHAR", "how the supplier was chosen, in the source's words"),
            ("status", "VARCHAR", "active | completed | terminated | annulled | unknown;"
             " annulled (cancelled, annulled, never awarded) is listed but never summed as spending"),
            ("country", "VARCHAR", "ISO 3166-1 alpha-2 of the buyer"),
            ("notice_id", "VARCHAR", "the procurement notice the contract came from"),
            ("url", "VARCHAR", "public page of the contract at the source"),
            ("document_id", "VARCHAR", "document of the version shown here", False),
            indexes=[("vendor_id",), ("buyer_id",), ("year",)],
            newest=("version", "published_on", "document_id"),
        ),
        _t(
            "contract_versions", "One row per version or amendment of a contract ever seen.",
            ("contract_id", "version"),
            ("contract_id", "VARCHAR", "contract"),
            ("version", "INTEGER", "the source's version number"),
            ("published_on", "TIMESTAMP", "when the version was published"),
            ("amount", MONEY, "contract value in this version"),
            ("currency", "VARCHAR", "ISO 4217"),
            ("document_id", "VARCHAR", "document carrying this version", False),
            newest=("published_on", "document_id"),
        ),
        _t(
            "items", "One row per product line of a contract (of its latest version).",
            ("contract_id", "line_no"),
            ("contract_id", "VARCHAR", "contract"),
            ("line_no", "INTEGER", "1-based position in the contract"),
            ("description", "VARCHAR", "product or service as written"),
            ("scheme", "VARCHAR", "OKPD2, OKPD, OKDP, KTRU, CPV, PSC, NAICS, UNSPSC or the source's own"),
            ("code", "VARCHAR", "code in that scheme"),
            ("quantity", "DOUBLE", "quantity"),
            ("unit", "VARCHAR", "unit of measure"),
            ("unit_price", "DECIMAL(24,6)", "price per unit"),
            ("amount", MONEY, "line total"),
        ),
        _t(
            "payments", "One row per payment made under a contract.",
            ("contract_id", "payment_id"),
            ("contract_id", "VARCHAR", "contract"),
            ("payment_id", "VARCHAR", "stable key from what the document says: the payment (or"
             " execution) document's number, date and amount, its stage, and its position"
             " only where nothing else tells two payments apart"),
            ("paid_on", "DATE", "date of the payment order (else of the execution document)"),
            ("amount", MONEY, "amount paid"),
            ("currency", "VARCHAR", "ISO 4217"),
            ("amount_usd", "DOUBLE", "amount in US dollars at the rate of paid_on (build; NULL"
             " without a date or a rate)"),
            ("reference", "VARCHAR", "payment order (or execution document) number as published"),
            ("published_on", "TIMESTAMP", "publication time of the document reporting it"),
            ("document_id", "VARCHAR", "newest document (by publication) that reported the"
             " payment", False),
            newest=("published_on", "document_id"),
        ),
        _t(
            "contract_events", "Changes of a contract's state reported by the source (termination…).",
            ("contract_id", "event", "document_id"),
            ("contract_id", "VARCHAR", "contract (which may not be loaded yet)"),
            ("event", "VARCHAR", "terminated | completed | annulled"),
            ("occurred_on", "DATE", "date of the event"),
            ("reason", "VARCHAR", "the reason as published"),
            ("reported_paid", MONEY, "total paid as the event's document states it (never a payment)"),
            ("document_id", "VARCHAR", "document reporting the event"),
        ),
        _t(
            "notices", "Procurement notices, protocols, results and cancellations (no contract rows).",
            ("notice_id", "kind", "document_id"),
            ("notice_id", "VARCHAR", "<source>:<purchase number>"),
            ("kind", "VARCHAR", "notice | protocol | placement_result | contract_sign | cancellation"),
            ("document_type", "VARCHAR", "the source's own name of the document"),
            ("published_on", "TIMESTAMP", "publication date"),
            ("buyer_id", "VARCHAR", "org_id of the buyer or responsible organisation"),
            ("title", "VARCHAR", "object of the purchase"),
            ("amount", MONEY, "maximum / winning price stated"),
            ("currency", "VARCHAR", "ISO 4217"),
            ("bidders", "INTEGER", "number of applications listed (protocols, results)"),
            ("url", "VARCHAR", "public page of the notice"),
            ("document_id", "VARCHAR", "document"),
        ),
        _t(
            "context_events", "Court cases, rulings, complaints, sanctions and laws around"
            " surveillance buying: curated with their citation (source context) or read from the"
            " registry (EIS complaints and control-body decisions).",
            ("event_id",),
            ("event_id", "VARCHAR", "<source>:<id>, e.g. context:glukhin-echr-judgment-2023,"
                                    " eis:complaint:<complaint number>"),
            ("source", "VARCHAR", "context | eis", False),
            ("kind", "VARCHAR", "claim, hearing, ruling, application, judgment, complaint,"
                                " complaint_decision, complaint_withdrawn, sanction, law"
                                " (scrapers/context/kinds.csv)", False),
            ("occurred_on", "DATE", "when it happened (see date_basis)"),
            ("date_basis", "VARCHAR", "event (the source dates the event) | report (the report's"
                                      " date: on or shortly after it) | month | year"),
            ("jurisdiction", "VARCHAR", "ISO 3166-1 alpha-2, or EU / CoE (Council of Europe:"
                                        " the ECHR)"),
            ("forum", "VARCHAR", "the court, control body or institution"),
            ("title", "VARCHAR", "what it is about, in a line"),
            ("outcome", "VARCHAR", "decision or state as published"),
            ("case_number", "VARCHAR", "case, application, complaint or act number"),
            ("procurement_id", "VARCHAR", "notice_id of the procurement it challenges"
                                          " (eis:<purchase number>) where one is named"),
            ("url", "VARCHAR", "the page read (curated) or the public page of the record"),
            ("outlet", "VARCHAR", "who published the cited page"),
            ("published_on", "DATE", "date of the cited page, where it gives one"),
            ("checked", "VARCHAR", "curated: how it was checked, quoting the page"),
            ("document_id", "VARCHAR", "document the event was read from", False),
            indexes=[("occurred_on",)],
        ),
        _t(
            "context_parties", "The parties of a context event, each linked to the buyers and"
            " vendors it names: by registry id (org_id) or by name patterns (match).",
            ("event_id", "position"),
            ("event_id", "VARCHAR", "event"),
            ("position", "INTEGER", "1-based order of the party in its event"),
            ("role", "VARCHAR", "complainant, respondent, defendant, subject or listed"
                                " (scrapers/context/roles.csv)", False),
            ("name", "VARCHAR", "name as published"),
            ("org_id", "VARCHAR", "organization id where the source gives a registry number"
                                  " (RU-INN:...)"),
            ("match", "VARCHAR[]", "name patterns: the party is every organization whose name"
                                   " (or entity's name or alias) contains one, as in claims"),
        ),
        _t(
            "ocds_releases", "One row per OCDS release (or record's compiledRelease) seen, so that"
            " a process is compiled again from all its releases when another one arrives.",
            ("ocid", "release_id"),
            ("ocid", "VARCHAR", "Open Contracting ID of the process"),
            ("release_id", "VARCHAR", "release id (unique within the ocid); compiledRelease:<date>"
             " for a record's compiled release"),
            ("published_on", "TIMESTAMP", "release date (UTC): the order in which releases merge"),
            ("tags", "VARCHAR", "release tags, comma-separated (tender, award, contract…)"),
            ("compiled", "BOOLEAN", "true for a record's compiledRelease"),
            ("blob", "VARCHAR", "archive id of the JSON Lines file holding the release as read"),
            ("line_offset", "BIGINT", "byte offset of the release's line in that file"),
            ("document_id", "VARCHAR", "document the release came in (of several holding the"
             " same release, the greatest id, whatever the load order)", False),
            newest=("document_id",),
        ),
        _t(
            "procurement_facts", "What one document states about how a supplier was chosen:"
            " procedure, call for tenders, deadline, estimate, bids. A notice, its protocols and"
            " the contract each speak of one procurement; `survtrack build` folds them into"
            " `competition`, each fact with the document it came from (docs/flags.md).",
            ("subject_id", "document_id"),
            ("subject_id", "VARCHAR", "what the facts are about: a contract_id (facts of that"
             " contract or its lot) or a procurement_id (facts of the whole procedure)"),
            ("procurement_id", "VARCHAR", "the procedure the subject belongs to: eis:<purchase"
             " number>, ocds:<ocid>, ted:<procedure id or call's publication>,"
             " usaspending:<award id>"),
            ("stage", "VARCHAR", "notice | protocol | result | contract | modification | award:"
             " which step of the procurement the document records"),
            ("published_on", "TIMESTAMP", "when the document was published (TED: dispatched)"),
            ("procedure_scheme", "VARCHAR", "code list of procedure_code"
             " (analysis/flags/procedure_types.csv)"),
            ("procedure_code", "VARCHAR", "the procedure as the source codes it"),
            ("procedure_text", "VARCHAR", "the procedure (or the reason for a single supplier) in"
             " the source's words"),
            ("tender_published_on", "TIMESTAMP", "publication of the call for tenders (start of"
             " the tender period)"),
            ("tender_deadline", "TIMESTAMP", "deadline for bids or applications"),
            ("estimated_amount", MONEY, "estimated or maximum value of the procurement (lot)"),
            ("estimated_currency", "VARCHAR", "ISO 4217 of estimated_amount"),
            ("bids_received", "INTEGER", "bids or applications received"),
            ("bids_admitted", "INTEGER", "bids admitted (found valid)"),
            ("bids_rejected", "INTEGER", "bids rejected or disqualified"),
            ("document_id", "VARCHAR", "document stating the facts", False),
            indexes=[("procurement_id",)],
        ),
        _t(
            "organizations", "One row per buyer or vendor as the source identifies it.",
            ("org_id",),
            ("org_id", "VARCHAR", "<scheme>:<id> (RU-INN:7710878000, US-UEI:…) or name:<source>:<name>"),
            ("name", "VARCHAR", "full name as published (latest seen)"),
            ("short_name", "VARCHAR", "short name where published"),
            ("scheme", "VARCHAR", "org-id.guide scheme of the identifier"),
            ("identifier", "VARCHAR", "registry number in that scheme"),
            ("kpp", "VARCHAR", "Russian tax registration reason code (KPP) where published"),
            ("country", "VARCHAR", "ISO 3166-1 alpha-2"),
            ("parent_id", "VARCHAR", "org_id of the parent organization where the source names one"),
            ("entity_id", "VARCHAR", "resolved real-world entity (build)"),
            ("published_on", "TIMESTAMP", "publication time of the document the names come from"),
            ("document_id", "VARCHAR", "newest document (by publication) naming the organization;"
             " an older one only fills what it leaves empty"),
            newest=("published_on", "document_id"),
        ),
        _t(
            "entities", "Real-world organizations after entity resolution.",
            ("entity_id",),
            ("entity_id", "VARCHAR", "stable id of the entity"),
            ("name", "VARCHAR", "display name"),
            ("aliases", "VARCHAR[]", "every name merged into it"),
            ("identifiers", "VARCHAR[]", "every org_id merged into it"),
            ("reason", "VARCHAR", "why these organizations were merged"),
            ("parent_id", "VARCHAR", "entity this one is part of (a sub-tier agency's department, a"
             " subsidiary's parent, an office's agency): the buyer roll-up"),
            ("members", "VARCHAR[]", "member entities of a joint award or consortium (the award is"
             " attributed once, to this entity); a member no record names alone by its name"),
        ),
        _t(
            "tags", "Surveillance categories assigned to contracts, with the rule that fired.",
            ("contract_id", "category", "rule"),
            ("contract_id", "VARCHAR", "contract"),
            ("category", "VARCHAR", "taxonomy category"),
            ("rule", "VARCHAR", "rule id"),
            ("evidence", "VARCHAR", "matched text or code"),
            ("score", "DOUBLE", "confidence 0..1"),
        ),
        _t(
            "classified", "Which document each contract's tags were computed from (classify).",
            ("contract_id",),
            ("contract_id", "VARCHAR", "contract"),
            ("document_id", "VARCHAR", "contracts.document_id when its tags were computed"),
            ("taxonomy", "VARCHAR", "hash of the taxonomy files the tags came from"),
            ("classified_at", "TIMESTAMP", "when (UTC)"),
            ("tags", "INTEGER", "number of tags written (0: classified, nothing found)"),
            indexed=False,
        ),
        _t(
            "fx_rates", "Exchange rates, currency units per US dollar per day.",
            ("date", "currency", "source"),
            ("date", "DATE", "day"),
            ("currency", "VARCHAR", "ISO 4217"),
            ("units_per_usd", "DOUBLE", "units of currency per 1 USD"),
            ("source", "VARCHAR", "ecb | cbr"),
            ("document_id", "VARCHAR", "archived document the rate was read from"),
            newest=("document_id",),
        ),
        _t(
            "runs", "One row per ingest or scrape run.",
            ("run_id",),
            ("run_id", "VARCHAR", "run identifier"),
            ("source", "VARCHAR", "source name"),
            ("command", "VARCHAR", "ingest | scrape | build"),
            ("parameters", "JSON", "what the run was asked to do"),
            ("checkpoint", "JSON", "where a resumed run continues"),
            ("started_at", "TIMESTAMP", "start (UTC)"),
            ("finished_at", "TIMESTAMP", "end (UTC); NULL while running, or interrupted"),
            ("status", "VARCHAR", "running | finished | stopped (--max-pages) | failed |"
             " interrupted (its process ended without recording an end: killed, crashed,"
             " machine stopped; marked by the next command, shown so by status)"),
            ("loaded", "INTEGER", "documents loaded (or archived awaiting a parser)"),
            ("skipped", "INTEGER", "documents already in the warehouse"),
            ("rejected", "INTEGER", "documents rejected"),
            ("pid", "INTEGER", "process id of the command running it"),
            ("host", "VARCHAR", "name of the machine it ran on"),
            ("command_line", "VARCHAR", "the command as typed (secret option values as ***)"),
        ),
        _t(
            "input_files", "Each local input file (a plain file or a ZIP archive, as given to"
            " `survtrack ingest` or found in a folder given) whose every document loaded, with"
            " its size and modification time then: a later ingest skips a file whose size and"
            " time are unchanged without opening it (`--recheck` reads them all again;"
            " scrapers/inputs.py). A file with a rejected document or an unreadable part is"
            " not recorded, so it is read again.",
            ("source", "path"),
            ("source", "VARCHAR", "source name"),
            ("path", "VARCHAR", "the file's absolute path (links not resolved)"),
            ("size", "BIGINT", "its size in bytes when read"),
            ("mtime_ns", "BIGINT", "its modification time when read (ns since the epoch)"),
            ("documents", "INTEGER", "documents it yielded, each loaded (or loaded before)"),
            ("run_id", "VARCHAR", "the run that read it"),
            ("recorded_at", "TIMESTAMP", "when (UTC), after its documents committed"),
            published=False,
        ),
        _t(
            "rejects", "Documents (or parts) that could not be loaded, and why.",
            ("reject_id",),
            ("reject_id", "VARCHAR", "hash of origin, document and reason"),
            ("run_id", "VARCHAR", "run that met it"),
            ("source", "VARCHAR", "source name"),
            ("origin", "VARCHAR", "file path, zip member or URL"),
            ("document_id", "VARCHAR", "archived document, where it could be archived"),
            ("field", "VARCHAR", "the element or field at fault, where known"),
            ("reason", "VARCHAR", "what was wrong"),
            ("rejected_at", "TIMESTAMP", "when"),
        ),
        _t(
            "warnings", "Suspicious values that loaded as published but are flagged"
            " (rules in warehouse/suspicious.csv): negative amounts, dates outside 1990-2035,"
            " text that did not decode.",
            ("warning_id",),
            ("warning_id", "VARCHAR", "hash of document, table, record, column and rule"),
            ("source", "VARCHAR", "source name"),
            ("document_id", "VARCHAR", "document the value came from"),
            ("contract_id", "VARCHAR", "contract concerned, where the row belongs to one"),
            ("table_name", "VARCHAR", "table of the flagged value"),
            ("record_key", "VARCHAR", "key of the flagged row (contract_id, org_id)"),
            ("column_name", "VARCHAR", "column of the flagged value"),
            ("value", "VARCHAR", "the value as loaded (first 200 characters)"),
            ("rule", "VARCHAR", "negative_amount | date_out_of_range | replacement_characters"
             " | wrong_encoding"),
            ("reason", "VARCHAR", "what is suspicious about it"),
            ("flagged_at", "TIMESTAMP", "when (UTC)"),
            indexes=[("contract_id",)],
        ),
        _t(
            "watchlists", "What an analyst follows (`survtrack watch add`): the contracts of a"
            " vendor, buyer, category, country or title text; new matches are recorded after"
            " every ingest, scrape and build (docs/watchlists.md). Kept across rebuilds.",
            ("name",),
            ("name", "VARCHAR", "the watchlist's name (letters, digits, - and _)"),
            ("vendor", "VARCHAR", "vendor key (entity_id) or org_id"),
            ("buyer", "VARCHAR", "buyer key (entity_id) or org_id"),
            ("category", "VARCHAR", "surveillance category"),
            ("country", "VARCHAR", "buyer country (ISO 3166-1 alpha-2)"),
            ("query", "VARCHAR", "text the title or description contains (case-insensitive)"),
            ("created_at", "TIMESTAMP", "when it was added (UTC)"),
            ("reported_at", "TIMESTAMP", "last `survtrack watch report` of it (UTC)"),
        ),
        _t(
            "watch_matches", "Contracts a watchlist matched, with when they were first seen;"
            " those matched when the watchlist was added are its baseline, never reported.",
            ("watchlist", "contract_id"),
            ("watchlist", "VARCHAR", "watchlists.name"),
            ("contract_id", "VARCHAR", "contract matched"),
            ("matched_at", "TIMESTAMP", "when it was first matched (UTC)"),
            ("baseline", "BOOLEAN", "matched when the watchlist was added: not news"),
            ("reported_at", "TIMESTAMP", "when `watch report` first printed it; NULL: new"),
        ),
        _t(
            "competition", "How each contract was won, normalised across sources (build:"
            " analysis/competition.py): procedure on one scale, bids, tender period, estimate and"
            " values, each group of facts with the document it came from; NULL is unknown.",
            ("contract_id",),
            ("contract_id", "VARCHAR", "contract"),
            ("source", "VARCHAR", "source name"),
            ("regime", "VARCHAR", "procurement law the contract falls under (analysis/flags/"
             "regimes.csv): ru44, ru223, eu, us_far, ocds"),
            ("procurement_id", "VARCHAR", "the procedure it came from (procurement_facts)"),
            ("procedure_type", "VARCHAR", "open | restricted | negotiated_with_call | direct |"
             " other (analysis/flags/procedure_types.csv)"),
            ("competitive", "BOOLEAN", "whether suppliers competed for it (NULL: unknown)"),
            ("procedure", "VARCHAR", "the procedure as the source states it (scheme:code, words)"),
            ("procedure_document_id", "VARCHAR", "document stating the procedure"),
            ("bids_received", "INTEGER", "bids or applications received"),
            ("bids_admitted", "INTEGER", "bids admitted"),
            ("bids_rejected", "INTEGER", "bids rejected"),
            ("bids_document_id", "VARCHAR", "document stating the bids"),
            ("tender_published_on", "TIMESTAMP", "call for tenders published"),
            ("tender_deadline", "TIMESTAMP", "deadline for bids"),
            ("tender_days", "DOUBLE", "tender period in days (deadline minus publication)"),
            ("tender_document_id", "VARCHAR", "document stating the tender period"),
            ("estimated_amount", MONEY, "estimated or maximum value"),
            ("estimated_currency", "VARCHAR", "ISO 4217"),
            ("estimate_document_id", "VARCHAR", "document stating the estimate"),
            ("award_amount", MONEY, "value when awarded: the earliest version's"),
            ("final_amount", MONEY, "value after modifications: the latest version's"),
            ("amount_currency", "VARCHAR", "ISO 4217 of award_amount and final_amount"),
            ("versions", "INTEGER", "versions held with a value in that currency"),
            ("award_document_id", "VARCHAR", "document of the earliest version"),
            ("final_document_id", "VARCHAR", "document of the latest version"),
            ("signed_on", "DATE", "signing date"),
            ("first_published_on", "TIMESTAMP", "earliest publication of the contract held"
             " (TED: the award notice's dispatch)"),
            ("first_version", "BOOLEAN", "whether that publication is the contract's first (not"
             " a later version of a record first published earlier)"),
            ("first_document_id", "VARCHAR", "document of that publication"),
            ("buyer_id", "VARCHAR", "buyer"),
            ("vendor_id", "VARCHAR", "vendor"),
            indexed=False,
        ),
        _t(
            "threads", "Each contract's procurement as one story (build: analysis/threads.py):"
            " notice, protocols, results, the contract, its versions and modifications,"
            " payments, termination, in time order, through the identifiers each source gives.",
            ("contract_id", "position"),
            ("contract_id", "VARCHAR", "contract"),
            ("position", "INTEGER", "1-based order in the thread (by date, then stage)"),
            ("occurred_on", "TIMESTAMP", "when (publication, signing, payment or event date)"),
            ("stage", "VARCHAR", "notice | protocol | result | contract_sign | contract | version"
             " | modification | payment | terminated | completed | annulled | complaint"),
            ("detail", "VARCHAR", "what the step says, in a line"),
            ("amount", MONEY, "value stated (maximum price, winning price, version value,"
             " payment)"),
            ("currency", "VARCHAR", "ISO 4217"),
            ("document_id", "VARCHAR", "document recording the step"),
            indexed=False,
        ),
        _t(
            "flags", "Red flags per contract (build: analysis/flags/): one row where a flag"
            " could be computed, raised or clear, with the values that decided it and their"
            " document. A contract without a row for a flag is unknown for it, never clear"
            " (docs/flags.md). buyer_concentration's rows keep the status alone (value and"
            " evidence NULL): the readers compose them from its group's numbers"
            " (concentration_groups, concentration_vendors; analysis/flags `stored_sql`).",
            ("contract_id", "flag"),
            ("contract_id", "VARCHAR", "contract"),
            ("flag", "VARCHAR", "flag id (analysis/flags/flags.csv)"),
            ("raised", "BOOLEAN", "true: the flag is raised; false: computed and clear"),
            ("value", "DOUBLE", "the measured value (bids, days, share, ratio…)"),
            ("threshold", "DOUBLE", "the threshold it was compared with"),
            ("regime", "VARCHAR", "the regime whose threshold applied"),
            ("evidence", "VARCHAR", "what the documents say, in words"),
            ("document_id", "VARCHAR", "the document the deciding value came from"),
            indexed=False,
        ),
        _t(
            "concentration_groups", "buyer_concentration's groups (build: analysis/flags/): a"
            " buyer's surveillance contracts of one category and year, cancelled ones left out,"
            " with the numbers a member's share is read against. A member's `flags` row keeps"
            " its status; its value and evidence are composed from this table and"
            " concentration_vendors when read (analysis/flags `stored_sql`), so a contract"
            " joining a group rewrites the group's row, not every member's.",
            ("buyer_id", "category", "year"),
            ("buyer_id", "VARCHAR", "the buyer"),
            ("category", "VARCHAR", "a surveillance category (tags)"),
            ("year", "INTEGER", "the contracts' year"),
            ("n", "BIGINT", "contracts in the group"),
            ("valued_n", "BIGINT", "of them, those with an amount in the group's unit"),
            ("total", "DOUBLE", "their amounts' sum, in `unit`"),
            ("unit", "VARCHAR", "the group's one currency, or USD (every amount converted)"),
            ("unvendored", "DOUBLE", "the amounts of its contracts without a known vendor"),
            indexed=False,
        ),
        _t(
            "concentration_vendors", "Per buyer_concentration group and vendor, the vendor's"
            " sum of the group's amounts (build: analysis/flags/; see concentration_groups).",
            ("buyer_id", "category", "year", "vendor_id"),
            ("buyer_id", "VARCHAR", "the buyer"),
            ("category", "VARCHAR", "a surveillance category (tags)"),
            ("year", "INTEGER", "the contracts' year"),
            ("vendor_id", "VARCHAR", "the vendor (vendor_id as the records give it)"),
            ("mine", "DOUBLE", "its contracts' amounts' sum, in the group's unit"),
            indexed=False,
        ),
        _t(
            "build_inputs", "Per contract and incremental build step, a hash of what the step"
            " read for it when it last computed it (analysis/inputs.py): a build recomputes only"
            " the contracts whose inputs changed since.",
            ("contract_id", "step"),
            ("contract_id", "VARCHAR", "contract"),
            ("step", "VARCHAR", "money | competition | threads | flags (the group flags'"
             " groups keep no hash: the flags_group rows an earlier build wrote go at the next)"),
            ("inputs", "UBIGINT", "hash of the rows the step read for the contract (competition:"
             " its contract row, procurement facts and versions; threads: what its thread was"
             " built from; flags: its competition row and its contract) and of the step's code"
             " and data files. The members of the groups a written contract is or was in are"
             " decided again by the group rules, unhashed: the rules keep the rows that come"
             " out the same"),
            published=False, indexed=False,
        ),
        _t(
            "flags_groups", "Each contract's place in the groups its group flags read, as they"
            " were last decided (analysis/flags/): when a contract moves to another buyer,"
            " vendor, date or category, the members of the groups it left are found here.",
            ("contract_id",),
            ("contract_id", "VARCHAR", "contract"),
            ("buyer_id", "VARCHAR", "its buyer then"),
            ("vendor_id", "VARCHAR", "its vendor then"),
            ("signed_on", "DATE", "its signing date then (split_purchase's span)"),
            ("year", "INTEGER", "its year then (buyer_concentration's group)"),
            ("categories", "VARCHAR[]", "its tags' categories then"),
            published=False, indexed=False,
        ),
        _t(
            "changes", "The record of changed keys (warehouse/changes.py): every write to a table"
            " the build or the snapshot publisher reads (an ingest's upserts and deletions, the"
            " build's own steps) notes the keys it touched in the same transaction, so an"
            " incremental build step hashes only the contracts recorded since it last ran and a"
            " publish copies only the recorded keys' rows. Rows every consumer and the current"
            " snapshot have read are pruned.",
            ("seq",),
            ("seq", "BIGINT", "order of recording (sequence change_seq)"),
            ("table_name", "VARCHAR", "the table written (contracts, procurement_facts, notices…)"),
            ("key", "VARCHAR", "the written or deleted row's key as the build joins on it: a"
             " contract id, a procurement facts' subject, a notice id, a complaint's procurement,"
             " an organization or entity id"),
            published=False, indexed=False,
        ),
        _t(
            "change_cursors", "How far each consumer of `changes` has read it, with the code"
            " version it hashed with and the tables it reads (warehouse/changes.py).",
            ("consumer",),
            ("consumer", "VARCHAR", "classify | money | competition | threads | flags |"
             " flags_group; and entities, which reads no record: its code is a fingerprint of"
             " what it read and wrote (analysis/entities.py `build_entities`), tables none;"
             " (pruned): the highest seq pruned so far (a snapshot copied through an earlier"
             " seq is published by hashing its tables)"),
            ("seq", "BIGINT", "the last seq consumed"),
            ("code", "VARCHAR", "the consumer's code version then (another one hashes everything;"
             " classify: its taxonomy version)"),
            ("tables", "VARCHAR[]", "the tables whose recorded keys it reads (their rows are"
             " pruned once every consumer reading them has read them)"),
            published=False, indexed=False,
        ),
    ]
}


def _arrow_type(duck: str):
    import pyarrow as pa

    if duck.startswith("DECIMAL"):
        precision, scale = duck[8:-1].split(",")
        return pa.decimal128(int(precision), int(scale))
    return {"VARCHAR": pa.string(), "JSON": pa.string(), "INTEGER": pa.int32(),
            "BIGINT": pa.int64(), "UBIGINT": pa.uint64(), "DOUBLE": pa.float64(), "DATE": pa.date32(),
            "TIMESTAMP": pa.timestamp("us"), "VARCHAR[]": pa.list_(pa.string()),
            "BOOLEAN": pa.bool_()}[duck]


_ARROW: dict = {}


def arrow_schema(table: str):
    """The Arrow schema of a table, for bulk loads."""
    if table not in _ARROW:
        import pyarrow as pa

        _ARROW[table] = pa.schema([(c.name, _arrow_type(c.type)) for c in TABLES[table].columns])
    return _ARROW[table]


# Columns of build_inputs before it held one row per contract and step (2026-12-02).
WIDE_BUILD_INPUTS = ("competition", "threads", "flags")


def migrations(present: dict[str, set[str]], keyed: set[str]) -> list[str]:
    """Statements turning an earlier survtrack's build tables into today's (`keyed`: the
    tables that carry a PRIMARY KEY in the file): an unindexed table is copied without its key
    and indexes; the wide build_inputs (a column per step) becomes a row per step."""
    stmts = []
    for t in TABLES.values():
        if t.indexed or t.name not in present:
            continue
        wide = t.name == "build_inputs" and "step" not in present[t.name]
        if t.name not in keyed and not wide:
            continue
        if wide:
            kept = ["contract_id", "step", "inputs"]
            select = " UNION ALL ".join(
                f"SELECT contract_id, '{step}' AS step, {step} AS inputs FROM {t.name}"
                f" WHERE {step} IS NOT NULL"
                for step in WIDE_BUILD_INPUTS if step in present[t.name])
        else:
            kept = [c for c in t.column_names if c in present[t.name]]
            select = f"SELECT {', '.join(kept)} FROM {t.name}"
        stmts += [f"CREATE OR REPLACE TEMP TABLE migrate_{t.name} AS {select}",
                  f"DROP TABLE {t.name}", t.ddl(),
                  f"INSERT INTO {t.name} ({', '.join(kept)}) SELECT * FROM migrate_{t.name}",
                  f"DROP TABLE migrate_{t.name}"]
    return stmts


def ddl_statements(present: dict[str, set[str]] | None = None) -> list[str]:
    """CREATE statements, and ALTER statements adding the columns a warehouse created by an
    earlier survtrack lacks (`present`: table -> its columns)."""
    stmts = [t.ddl() for t in TABLES.values()]
    stmts.append("CREATE SEQUENCE IF NOT EXISTS change_seq")  # changes.seq
    for t in TABLES.values():
        have = (present or {}).get(t.name)
        for c in t.columns:
            if have and c.name not in have:
                stmts.append(f"ALTER TABLE {t.name} ADD COLUMN {c.name} {c.type}")
                if c.backfill:
                    stmts.append(f"UPDATE {t.name} SET {c.name} = {c.backfill}")
    for t in TABLES.values():
        for cols in t.indexes:
            stmts.append(
                f"CREATE INDEX IF NOT EXISTS {t.name}_{'_'.join(cols)} ON {t.name} ({', '.join(cols)})"
            )
    return stmts


def markdown() -> str:
    """The tables as Markdown, for docs/tables.md."""
    out = ["# The tidy tables", "", "Generated from `survtrack/warehouse/schema.py` by `survtrack docs`.", ""]
    for t in TABLES.values():
        out += [f"## `{t.name}`", "", t.doc, "", f"Key: `{', '.join(t.key)}`"
                + ("" if t.indexed else " (kept unique by the build, which alone writes the"
                   " table; not indexed)"), ""]
        if not t.published:
            out += ["The build's own bookkeeping: not copied into the published snapshot.", ""]
        if t.newest:
            out += [f"Of two rows with one key the newer by `{', '.join(t.newest)}` is kept,"
                    " whatever order the documents are loaded in.", ""]
        out += ["| column | type | meaning |", "|---|---|---|"]
        out += [f"| `{c.name}` | {c.type} | {c.doc} |" for c in t.columns]
        out.append("")
    return "\n".join(out)


def fitted(table: str, column: str, values: list) -> list:
    """A column's values, Decimals rounded to a DECIMAL column's scale (as DuckDB itself would
    cast them); the other columns' values as they are (one check per column, not per value).
    Shared by the store's upserts and the workers' Parquet partitions (which import no DuckDB)."""
    scale = _scale(table, column)
    if scale is None:
        return values
    step = Decimal(1).scaleb(-scale)
    return [v.quantize(step, rounding=ROUND_HALF_EVEN)
            if isinstance(v, Decimal) and v.as_tuple().exponent < -scale else v
            for v in values]


@cache
def _scale(table: str, column: str) -> int | None:
    typ = next((c.type for c in TABLES[table].columns if c.name == column), "")
    return int(typ.split(",")[1].rstrip(")")) if typ.startswith("DECIMAL") else None
