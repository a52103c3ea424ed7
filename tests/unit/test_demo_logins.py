"""The demo prints ready-to-use logins for a consumer department, a provider approver and governance staff."""

from __future__ import annotations


def test_the_demo_prints_logins_that_work_for_its_three_roles(settings):
    from cityshare.demo import demo_logins
    from cityshare.share.tokens import resolve

    logins = demo_logins(settings)
    identities = [resolve(settings, token)[0] for _, _, token in logins]
    assert [(i.department, i.role) for i in identities] == [("jd_nanping", "consumer"), ("cgj", "approver"),
                                                           ("cyzx", "governance")]
