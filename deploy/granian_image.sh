#!/bin/sh
# The image server under granian, as production runs it (benchmarks/README.md).
# Settings come from the environment; the defaults are below.
#   TANGTHU_IMAGE_BIND       host:port                      127.0.0.1:8182
#   TANGTHU_IMAGE_WORKERS    processes                      the CPUs available
#   TANGTHU_IMAGE_THREADS    blocking threads per process   8 (libvips frees the GIL)
#   TANGTHU_IMAGE_LIFETIME   seconds before a worker is replaced, to bound memory drift
#                            (granian's --workers-lifetime; at least 60)  43200
#   TANGTHU_IMAGE_MAX_RSS    MiB at which a worker is replaced (granian's
#                            --workers-max-rss); unset: no limit
#   TANGTHU_IMAGE_APP        the app factory                image_server:serve
#   GRANIAN                  the granian command            granian
set -eu

bind=${TANGTHU_IMAGE_BIND:-127.0.0.1:8182}
host=${bind%:*}
port=${bind##*:}
workers=${TANGTHU_IMAGE_WORKERS:-$(nproc)}

set -- \
    --interface wsgi --factory --http 1 --no-ws \
    --host "$host" --port "$port" \
    --workers "$workers" \
    --blocking-threads "${TANGTHU_IMAGE_THREADS:-8}" \
    --respawn-failed-workers \
    --workers-lifetime "${TANGTHU_IMAGE_LIFETIME:-43200}" \
    --access-log \
    --access-log-fmt '%(addr)s [%(time)s] "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms rid=%(header{x-request-id})s'

if [ -n "${TANGTHU_IMAGE_MAX_RSS:-}" ]; then
    set -- "$@" --workers-max-rss "$TANGTHU_IMAGE_MAX_RSS"
fi

# shellcheck disable=SC2086  # GRANIAN may be a command with arguments
exec ${GRANIAN:-granian} "$@" "${TANGTHU_IMAGE_APP:-image_server:serve}"
