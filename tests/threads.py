"""Real threads for the PostgreSQL concurrency tests: each runs with its own database
connection, so the row locks under test are real."""

import threading

from django.db import connections


def run_threads(targets) -> list:
    """Start every callable at once (a barrier), return what each returned or raised."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def worker(index):
        try:
            barrier.wait()
            results[index] = targets[index]()
        except BaseException as exc:  # surfaced by the callers' assertions
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results
