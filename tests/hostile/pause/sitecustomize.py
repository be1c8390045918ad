"""A pause point for tests of killed and concurrent runs, loaded by a survtrack child through
PYTHONPATH (tests/hostile/harness.py `start(pause=True)`), never by survtrack itself.

With SURVTRACK_TEST_PAUSE=after_start_run the child stops itself (SIGSTOP) right after it has
recorded its run, holding the warehouse's lock: the test then kills it there, or runs a
second writer against it, deterministically. Nothing else changes: the command goes on as
usual once it receives SIGCONT.
"""

import os
import signal

if os.environ.get("SURVTRACK_TEST_PAUSE") == "after_start_run":
    from survtrack.warehouse import store

    _start_run = store.Warehouse.start_run

    def start_run(self, *args, **kwargs):
        run_id = _start_run(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGSTOP)
        return run_id

    store.Warehouse.start_run = start_run
