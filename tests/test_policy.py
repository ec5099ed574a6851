"""The one access rule, `policy.decide`, as a table: policy and credentials in, grant out."""

from __future__ import annotations

from datetime import date

import pytest

from image_server.policy import UNPUBLISHED, Access, Grant, Policy, decide

pytestmark = pytest.mark.pure

TODAY = date(2025, 6, 1)
OPEN = Policy(public=Access.FULL)
DEGRADED = Policy(public=Access.DEGRADED, public_max=1200, full_for=frozenset({"reader"}))
RESTRICTED = Policy(public=Access.NONE, full_for=frozenset({"staff", "group:han-nom"}))
EMBARGOED = Policy(public=Access.FULL, hidden_until=date(2030, 1, 1))


@pytest.mark.parametrize(
    ("policy", "held", "grant"),
    [
        (OPEN, set(), Grant(Access.FULL)),
        (DEGRADED, set(), Grant(Access.DEGRADED, 1200)),
        (DEGRADED, {"reader"}, Grant(Access.FULL)),
        (RESTRICTED, {"reader"}, Grant(Access.NONE)),
        (RESTRICTED, {"reader", "group:han-nom"}, Grant(Access.FULL)),
        (EMBARGOED, {"reader"}, Grant(Access.HIDDEN)),
        (EMBARGOED, {"staff"}, Grant(Access.FULL)),
        (UNPUBLISHED, {"reader", "onsite"}, Grant(Access.HIDDEN)),
        (UNPUBLISHED, {"staff"}, Grant(Access.FULL)),
    ],
)
def test_decide(policy: Policy, held: set[str], grant: Grant) -> None:
    assert decide(policy, frozenset(held), TODAY) == grant


def test_an_embargo_ends_on_its_day() -> None:
    assert decide(EMBARGOED, frozenset(), date(2030, 1, 1)) == Grant(Access.FULL)


def test_grants_that_render_differently_never_share_a_key() -> None:
    keys = {Grant(Access.DEGRADED, 1200).key, Grant(Access.DEGRADED, 800).key}
    assert len(keys | {Grant(Access.FULL).key, Grant(Access.NONE).key}) == 4


def test_a_damaged_sidecar_grants_nobody_but_staff() -> None:
    for document in (None, [], {"full_for": "reader"}, {"public": "everything"}):
        assert Policy.from_json(document) == UNPUBLISHED
    assert Policy.from_json(OPEN.to_json()) == OPEN
