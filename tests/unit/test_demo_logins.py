"""The demo prints ready-to-use logins for a consumer department, a provider approver and governance staff."""

from __future__ import annotations


def test_the_demo_prints_logins_that_work_for_its_three_roles(settings):
    from cityshare.demo import demo_logins
    from cityshare.share.tokens import resolve

    logins = demo_logins(settings)
    identities = [resolve(settings, token)[0] for _, _, token in logins]
    assert [(i.department, i.role) for i in identities] == [("jd_nanping", "consumer"), ("cgj", "approver"),
                                                           ("cyzx", "governance")]


def test_the_demo_refuses_a_portal_port_in_use_before_doing_any_work(settings):
    import socket

    from typer.testing import CliRunner

    from cityshare.cli import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["demo", "--port", str(port)])
    assert result.exit_code == 2
    assert f"port 端口 {port} on 127.0.0.1 is in use" in result.output
    assert not settings.inbox_dir.exists()  # nothing simulated


def test_the_demo_points_the_simulated_department_apis_at_its_own_simulator(settings):
    from cityshare.demo import simulator_endpoints

    assert simulator_endpoints(settings, "http://127.0.0.1:41234") == {
        "CITYSHARE_SERVER_REGISTRY_API_LOCATION": "http://127.0.0.1:41234/api/v1/business_registry",
        "CITYSHARE_SERVER_KITCHEN_API_LOCATION": "http://127.0.0.1:41234/api/v1/kitchen_alerts",
        "CITYSHARE_SERVER_PARKING_API_LOCATION": "http://127.0.0.1:41234/api/v1/parking_lots",
    }
