"""gunicorn settings for the FAQ bot: `gunicorn -c deploy/gunicorn.conf.py`.

Each worker is one process with its own model; answering is CPU-bound, so one worker per core
and a few threads each (for I/O: the database, the Telegram Bot API). The app is preloaded in
the master (imports once, smaller memory); every worker then loads the active model itself
before it takes requests, and swaps newer versions in the background.
"""

import os
import shutil
import tempfile

from prometheus_client import multiprocess

bind = os.environ.get("BOT_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
worker_class = "gthread"
threads = int(os.environ.get("BOT_WORKER_THREADS", "4"))
wsgi_app = "bot:create_app()"
preload_app = True  # safe: pooled connections are dropped after fork, models load per worker
timeout = 60  # a request taking longer is stuck: restart the worker
graceful_timeout = 30
keepalive = 5
max_requests = 0  # nothing leaks per request; recycling would only reload the model
accesslog = "-"
# Never log query strings or bodies: messages are personal data (see SECURITY.md).
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'

# One CPU thread per worker for the encoder, unless set: workers x threads must fit the cores.
os.environ.setdefault("BOT_ENCODER_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Prometheus: every worker writes its figures here, so /metrics on any worker shows them all.
# Emptied now, before the app is preloaded: figures of a previous run would mix in.
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "faq-bot-metrics")
)
shutil.rmtree(_metrics_dir, ignore_errors=True)
os.makedirs(_metrics_dir, exist_ok=True)


def post_worker_init(worker):  # noqa: ANN001, ANN201
    """Load the model before this worker's first request (it never waits for one)."""
    from bot.serving import serving

    try:
        serving(worker.wsgi).warm_up()
    except Exception:  # the worker still starts: /healthz reports it, loading is retried
        worker.log.exception("model warm-up failed")


def child_exit(server, worker):  # noqa: ANN001, ANN201
    multiprocess.mark_process_dead(worker.pid)


# gunicorn 25+ opens a control socket at one path per user (~/.gunicorn/gunicorn.ctl): several
# servers on one machine (blue-green deploys, the tests) would take it from each other. Signals
# (HUP to reload, TTIN/TTOU to resize) still work.
control_socket_disable = True
