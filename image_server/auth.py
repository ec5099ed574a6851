"""The IIIF Auth 1.0 and 2.0 service descriptions, and the Auth 2.0 probe's answer.

Both processes describe the same services: the image server in info.json, the repository
in manifests. Who may see what is decided by `policy.decide`, not here. Every service of
each version has its own URL, as parsers that merge entities by id require.
"""

from __future__ import annotations

from typing import Any

from .policy import Access, Credential, Grant, Policy

AUTH1_CONTEXT = "http://iiif.io/api/auth/1/context.json"
AUTH2_CONTEXT = "http://iiif.io/api/auth/2/context.json"


def _label(vi: str, en: str) -> dict[str, list[str]]:
    return {"vi": [vi], "en": [en]}


def _auth1(base: str, path: str, profile: str, **texts: str) -> dict[str, Any]:
    return {
        "@context": AUTH1_CONTEXT,
        "@id": f"{base}/auth/iiif/{path}",
        "@type": "AuthCookieService1",
        "profile": f"http://iiif.io/api/auth/1/{profile}",
        **texts,
        "service": [
            {
                "@id": f"{base}/auth/iiif/token",
                "@type": "AuthTokenService1",
                "profile": "http://iiif.io/api/auth/1/token",
            },
            {
                "@id": f"{base}/auth/iiif/logout",
                "@type": "AuthLogoutService1",
                "profile": "http://iiif.io/api/auth/1/logout",
                "label": "Đăng xuất / Sign out",
            },
        ],
    }


def auth1_services(public_url: str, policy: Policy) -> list[dict[str, Any]]:
    """Auth 1.0 for Mirador: external and kiosk for on-site images, then login."""
    base = public_url.rstrip("/")
    services = []
    if Credential.ONSITE in policy.full_for:
        # In the reading room the token service grants access by network, no sign-in:
        # 'external' needs no window at all, 'kiosk' opens one without interaction.
        services.append(
            _auth1(
                base,
                "external",
                "external",
                label="Xem tại phòng đọc / Reading room",
                failureHeader="Chỉ xem tại phòng đọc / Reading room only",
                failureDescription="Tài liệu này chỉ xem được tại phòng đọc của thư viện. / "
                "This item can be seen only in the library's reading room.",
            )
        )
        services.append(_auth1(base, "kiosk", "kiosk", label="Máy tra cứu / Kiosk"))
    services.append(
        _auth1(
            base,
            "login",
            "login",
            label="Đăng nhập / Sign in",
            header="Tài liệu hạn chế / Restricted material",
            description="Đăng nhập để xem ảnh đầy đủ. / Sign in to see the full image.",
            confirmLabel="Đăng nhập / Sign in",
            failureHeader="Không được phép / Not allowed",
            failureDescription="Tài khoản này không được xem tài liệu này. / "
            "This account may not see this item.",
        )
    )
    return services


def auth2_services(public_url: str, image_base: str) -> list[dict[str, Any]]:
    """Auth 2.0: the probe, with access, token and logout services inside it."""
    base = public_url.rstrip("/")
    return [
        {
            "id": f"{image_base}/probe",
            "type": "AuthProbeService2",
            # Not in Auth 2.0, and ignored by its clients: Mirador 4 reads `profile` on
            # every service next to an image and stops working when one has none.
            "profile": "http://iiif.io/api/auth/2/probe",
            "service": [
                {
                    "id": f"{base}/auth/iiif2/login",
                    "type": "AuthAccessService2",
                    "profile": "active",
                    "label": _label("Đăng nhập", "Sign in"),
                    "heading": _label("Tài liệu hạn chế", "Restricted material"),
                    "note": _label(
                        "Đăng nhập để xem ảnh đầy đủ.", "Sign in to see the full image."
                    ),
                    "confirmLabel": _label("Đăng nhập", "Sign in"),
                    "service": [
                        {"id": f"{base}/auth/iiif2/token", "type": "AuthAccessTokenService2"},
                        {
                            "id": f"{base}/auth/iiif2/logout",
                            "type": "AuthLogoutService2",
                            "label": _label("Đăng xuất", "Sign out"),
                        },
                    ],
                }
            ],
        }
    ]


def probe_result(grant: Grant, image_base: str) -> dict[str, Any]:
    """Auth 2.0 probe answer: 200, or 401 with a substitute for degraded images."""
    result: dict[str, Any] = {"@context": AUTH2_CONTEXT, "type": "AuthProbeResult2"}
    if grant.kind is Access.FULL:
        result["status"] = 200
        return result
    result["status"] = 401
    result["heading"] = _label("Cần đăng nhập", "Sign-in needed")
    if grant.kind is Access.DEGRADED:
        edge = grant.max_edge
        result["substitute"] = [
            {"id": f"{image_base}/full/!{edge},{edge}/0/default.jpg", "type": "Image"}
        ]
        result["note"] = _label(
            "Ảnh đang hiển thị ở độ phân giải thấp.", "The image is shown at reduced resolution."
        )
    return result
