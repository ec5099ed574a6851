"""Command lines and checks for our image server (gunicorn or granian) and IIPImage."""

from __future__ import annotations

import json
import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyvips

from .image import ROOT, TestImage
from .procs import HOST, Server, free_port, http_get

HERE = Path(__file__).resolve().parent
PYTHON = ROOT / ".venv" / "bin" / "python"
LIGHTTPD = "/usr/sbin/lighttpd"
IIPSRV = "/usr/lib/iipimage-server/iipsrv.fcgi"
IIP_PATH = "/fcgi-bin/iipsrv.fcgi?IIIF="
JPEG_QUALITY = 85  # ours by default; IIPImage is told the same

WsgiServer = Literal["gunicorn", "granian"]


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start one server: processes, threads and cache sizes."""

    workers: int = 2
    threads: int = 4
    cache_mb: int = 0  # tile cache per process; 0 = cold
    derivative_dir: Path | None = None  # our derivative disk cache; None = off
    max_cvt: int = 5000  # IIPImage's largest rendered width or height


@dataclass(frozen=True, slots=True)
class Target:
    """A running server and the URL pieces that address the benchmark image on it."""

    name: str
    server: Server
    base: str  # http://127.0.0.1:PORT
    image_prefix: str  # path up to and including the identifier, no trailing slash

    def url(self, suffix: str) -> str:
        """Absolute loopback URL for ``region/size/rotation/quality.format`` or info.json."""
        return f"{self.base}{self.image_prefix}/{suffix}"


def ours(kind: WsgiServer, image: TestImage, launch: Launch, logs: Path) -> Target:
    """Our image server under gunicorn (gthread) or granian (WSGI), not yet started."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        TANGTHU_STORAGE_URL=image.storage.resolve().as_uri(),
        TANGTHU_JPEG_QUALITY=str(JPEG_QUALITY),
        TANGTHU_TILE_CACHE_MB=str(launch.cache_mb),
        TANGTHU_DERIVATIVE_CACHE_DIR=str(launch.derivative_dir or ""),
        TANGTHU_DERIVATIVE_CACHE="",
    )
    server = Server(f"ours-{kind}", wsgi_argv(kind, port, launch), env, logs / f"ours-{kind}.log")
    return Target(f"ours ({kind})", server, f"http://{HOST}:{port}", f"/iiif/3/{image.identifier}")


def wsgi_argv(kind: WsgiServer, port: int, launch: Launch) -> list[str]:
    """The command line that serves ``wsgi:image_app`` with ``kind`` on ``port``."""
    if kind == "gunicorn":
        return [
            *(str(PYTHON), "-m", "gunicorn", "--chdir", str(ROOT)),
            *("--bind", f"{HOST}:{port}", "--workers", str(launch.workers)),
            *("--worker-class", "gthread", "--threads", str(launch.threads)),
            *("--no-control-socket", "--log-level", "warning", "wsgi:image_app()"),
        ]
    return [
        *(str(PYTHON), "-m", "granian", "--interface", "wsgi", "--factory"),
        *("--working-dir", str(ROOT), "--host", HOST, "--port", str(port)),
        *("--workers", str(launch.workers), "--blocking-threads", str(launch.threads)),
        *("--no-access-log", "--log-level", "warning", "wsgi:image_app"),
    ]


def iipsrv_version(binary: str) -> str:
    """The peer's version, from the Server header the FastCGI binary carries ("iipsrv/1.3")."""
    try:
        text = Path(binary).read_bytes()
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    import re

    found = re.search(rb"iipsrv/(\d+\.\d+(?:\.\d+)?)", text)
    if found:
        return found.group(1).decode()
    import subprocess  # a packaged binary that formats its version at run time

    owner = subprocess.run(["dpkg", "-S", binary], capture_output=True, text=True)
    package = owner.stdout.split(":", 1)[0] if owner.returncode == 0 else ""
    if not package:
        return "unknown"
    version = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True
    )
    return f"{version.stdout.strip()} (Debian {package})" if version.returncode == 0 else "unknown"


def iipimage(image: TestImage, launch: Launch, workdir: Path, binary: str = IIPSRV) -> Target:
    """IIPImage's FastCGI processes behind lighttpd, configured in ``workdir``, not yet started."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    template = string.Template((HERE / "lighttpd.conf.in").read_text())
    config = workdir / "lighttpd.conf"
    config.write_text(
        template.substitute(
            workdir=workdir.resolve(),
            port=port,
            processes=launch.workers,
            binary=binary,
            prefix=image.path.parent.resolve(),
            cache_mb=launch.cache_mb,
            quality=JPEG_QUALITY,
            max_cvt=launch.max_cvt,
        )
    )
    (workdir / "iipsrv.sock").unlink(missing_ok=True)
    argv = [LIGHTTPD, "-D", "-f", str(config)]
    server = Server("iipimage", argv, dict(os.environ), workdir / "lighttpd.log")
    return Target("IIPImage", server, f"http://{HOST}:{port}", f"{IIP_PATH}{image.path.name}")


def ready_url(target: Target) -> str:
    """The URL that must answer 200 before the server counts as up."""
    if target.name == "IIPImage":
        return target.url("info.json")
    return f"{target.base}/health"


def check_image(target: Target, suffix: str, size: tuple[int, int] | None = None) -> int:
    """GET one image URL; raise unless it is a 200 JPEG (of ``size``); return its byte count."""
    status, content_type, body = http_get(target.url(suffix))
    if status != 200 or not content_type.startswith("image/jpeg") or body[:3] != b"\xff\xd8\xff":
        raise RuntimeError(f"{target.name}: {suffix} gave {status} {content_type!r}")
    decoded = pyvips.Image.new_from_buffer(body, "")
    if size and (decoded.width, decoded.height) != size:
        got = (decoded.width, decoded.height)
        raise RuntimeError(f"{target.name}: {suffix} is {got}, expected {size}")
    return len(body)


def check_info(target: Target, image: TestImage) -> dict[str, object]:
    """GET info.json; raise unless it is 200 JSON with the image's size and 256-px tiles."""
    status, content_type, body = http_get(target.url("info.json"))
    if status != 200 or "json" not in content_type:
        raise RuntimeError(f"{target.name}: info.json gave {status} {content_type!r}")
    info = json.loads(body)
    tiles = info.get("tiles", [{}])[0]
    if (info.get("width"), info.get("height")) != (image.width, image.height):
        raise RuntimeError(f"{target.name}: info.json has the wrong size")
    if tiles.get("width") != 256:
        raise RuntimeError(f"{target.name}: info.json advertises {tiles} tiles, not 256 px")
    return {"context": info.get("@context"), "scale_factors": tiles.get("scaleFactors")}
