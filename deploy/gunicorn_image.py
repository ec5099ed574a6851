"""gunicorn settings for the image server; see deploy/README.md."""

import multiprocessing
import os

bind = os.environ.get("TANGTHU_IMAGE_BIND", "127.0.0.1:8182")
workers = int(os.environ.get("TANGTHU_IMAGE_WORKERS", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = 8  # libvips releases the GIL while it decodes and encodes
timeout = 60
max_requests = 20_000  # recycle workers now and then to bound memory drift
max_requests_jitter = 2_000
