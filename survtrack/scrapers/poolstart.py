"""What the local pool's fork server imports once (scrapers/workers.py `context(preload)`):
the modules of the pool's job (`ingest.parse_files`) and pyarrow without numpy and pandas
(stage.worker_start), so that each worker forked from it starts with them imported instead of
importing them itself (~0.15-0.2 s CPU a worker here, docs/scale.md). Imported last (after
the source's parser), as it freezes what the server holds."""

import gc

from survtrack.scrapers.stage import worker_start

worker_start()

from survtrack.scrapers import ingest, stage  # noqa: E402, F401 - imported for the workers
from survtrack.warehouse import parsing, partitions  # noqa: E402, F401

# what was imported is kept out of the collector's reach: the workers' collections then never
# walk (and write to) it, so its memory stays shared with the server instead of copied into
# each worker (Python's documentation of gc.freeze)
gc.freeze()
