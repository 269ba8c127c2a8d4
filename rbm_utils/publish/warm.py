"""The warm job server's preload: what every local job process needs, imported once.

The local runner (:mod:`rbm_utils.publish.runner`) starts each job in a process of its own,
forked from a ``multiprocessing`` *forkserver* that imported this module when it started: the
forked job process finds papermill, nbclient, jupyter_client and nbconvert already imported
and nbconvert's page templates and style sheet already loaded, instead of paying ~1 s of
imports per job in a freshly spawned interpreter. Everything else stays per job: the process,
its session (``setsid``), its marker, its kernel (started fresh by papermill), its timeout.

Importing this module does that work (it is meant to be imported once, by the job server).

Example:
    >>> import rbm_utils.publish.warm
    >>> rbm_utils.publish.warm.WARMED
    True
"""

from __future__ import annotations

import logging

# what run_job_in_process imports when it runs: import it here, once, for every job
import nbclient.exceptions  # noqa: F401
import papermill  # noqa: F401
import papermill.exceptions  # noqa: F401

import rbm_utils.publish.child  # noqa: F401
from rbm_utils.publish.html import warm

log = logging.getLogger(__name__)

#: True once the page exporter was loaded (False: the first export of each job loads it).
WARMED = False
try:
    warm()
    WARMED = True
except Exception as exc:  # noqa: BLE001 - a job exports without the warm-up, only slower
    log.warning("the page exporter could not be warmed up: %s: %s", type(exc).__name__, exc)
