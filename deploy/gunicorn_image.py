"""gunicorn settings for the image server; see deploy/README.md.

The image server runs under granian by default (deploy/granian_image.sh), which served
more tiles in benchmarks/; these settings are for sites that prefer gunicorn:

    gunicorn -c deploy/gunicorn_image.py      # serves image_server:serve()
"""

import os


def _cpus() -> int:
    """The CPUs this process may run on (a container's cpuset), not the host's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _flag(name: str, default: bool) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


wsgi_app = os.environ.get("TANGTHU_IMAGE_APP", "image_server:serve()")
bind = os.environ.get("TANGTHU_IMAGE_BIND", "127.0.0.1:8182")
workers = int(os.environ.get("TANGTHU_IMAGE_WORKERS", _cpus()))
worker_class = "gthread"
threads = int(os.environ.get("TANGTHU_IMAGE_THREADS", 8))  # libvips releases the GIL
timeout = 60
graceful_timeout = 30
keepalive = 75  # longer than nginx's upstream keepalive_timeout (60 s)
# Recycle workers now and then, at different times, to bound memory drift.
max_requests = int(os.environ.get("TANGTHU_IMAGE_MAX_REQUESTS", 20_000))
max_requests_jitter = max_requests // 10
# create_app() opens no file, connection or thread (libvips starts its threads on the
# first image), so building it before forking is safe and shares its memory.
preload_app = _flag("TANGTHU_PRELOAD", True)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
worker_tmp_dir = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
control_socket_disable = True  # gunicorn >= 23; nothing here talks to it
proc_name = "tangthu-image"
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("TANGTHU_LOG_LEVEL", "info")
access_log_format = (
    '%(h)s "%({x-forwarded-for}i)s" %(t)s "%(r)s" %(s)s %(b)s %(M)sms '
    '"%(f)s" "%(a)s" rid=%({x-request-id}i)s'
)
