"""One module per page; each exposes `layout(con, filters, query, lang)`."""
