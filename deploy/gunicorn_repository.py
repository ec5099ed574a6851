"""gunicorn settings for the repository; see deploy/README.md."""

import multiprocessing
import os

bind = os.environ.get("TANGTHU_REPOSITORY_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("TANGTHU_REPOSITORY_WORKERS", multiprocessing.cpu_count() + 1))
worker_class = "gthread"
threads = 4
timeout = 120  # uploads of large masters take a while
graceful_timeout = 30
accesslog = "-"
