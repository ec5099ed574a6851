"""gunicorn settings for the repository; see deploy/README.md.

    gunicorn -c deploy/gunicorn_repository.py      # serves repository:serve()

Each setting can be changed from the environment (names below), the rest with
gunicorn's own flags or GUNICORN_CMD_ARGS.
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


wsgi_app = os.environ.get("TANGTHU_REPOSITORY_APP", "repository:serve()")
bind = os.environ.get("TANGTHU_REPOSITORY_BIND", "127.0.0.1:8000")
# Threads overlap database, storage and search waits; processes use the cores.
workers = int(os.environ.get("TANGTHU_REPOSITORY_WORKERS", min(_cpus() + 1, 12)))
worker_class = "gthread"
threads = int(os.environ.get("TANGTHU_REPOSITORY_THREADS", 4))
timeout = 120  # a 2 GB upload is handed over from nginx's buffer, then stored
graceful_timeout = 30
keepalive = 5  # nginx opens a connection per request (deploy/nginx/upstreams.conf)
# Recycle workers now and then, at different times, to bound slow memory growth.
max_requests = int(os.environ.get("TANGTHU_REPOSITORY_MAX_REQUESTS", 5_000))
max_requests_jitter = max_requests // 10
# Build the app once before forking: less memory, and one process makes the instance
# folder's generated secrets. create_app() opens no connection and starts no thread,
# so the workers share nothing live. Code changes then need a restart, not a HUP.
preload_app = _flag("TANGTHU_PRELOAD", True)
# Only the proxy in front may say the request came over https (X-Forwarded-Proto).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Heartbeat files in memory, so a slow disk never makes a worker look stuck.
worker_tmp_dir = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
control_socket_disable = True  # gunicorn >= 23; nothing here talks to it
proc_name = "tangthu-repository"
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("TANGTHU_LOG_LEVEL", "info")
access_log_format = (
    '%(h)s "%({x-forwarded-for}i)s" %(t)s "%(r)s" %(s)s %(b)s %(M)sms '
    '"%(f)s" "%(a)s" rid=%({x-request-id}i)s'
)
