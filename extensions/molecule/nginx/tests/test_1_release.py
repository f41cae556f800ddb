# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""After prepare (1.0.0 to blue) and converge (2.0.0 to green), through Nginx."""

from __future__ import annotations

import pytest
from lab_helpers import APP, APPS, ROUTER, address, get, history, host, live, module, playbook

CONF = f"/etc/nginx/bluegreen/{APP}"


def test_live_traffic_goes_to_green_with_2_0_0():
    answers = live(10)
    assert {(a["status"], a["colour"], a["version"]) for a in answers} == {(200, "green", "2.0.0")}
    assert {a["host"] for a in answers} == set(APPS)


def test_preview_listener_serves_the_idle_blue_with_1_0_0():
    assert {(a["colour"], a["version"]) for a in (get("http://127.0.0.1:8080/") for _attempt in range(4))} == {("blue", "1.0.0")}


def test_the_preview_header_or_cookie_reaches_idle_blue_on_the_live_port_and_only_root_reads_the_value():
    # molecule.yml provisions the router with this bluegreen_preview_value, carried by the header or the cookie.
    value = "molecule-preview-5d2a91c4"
    for headers in ((f"X-Bluegreen-Preview: {value}",), (f"Cookie: a=1; bg_preview={value}",)):
        answer = get("http://127.0.0.1:80/", *headers)
        assert (answer["status"], answer["colour"], answer["version"]) == (200, "blue", "1.0.0"), headers
    for headers in ((), ("X-Bluegreen-Preview: wrong",), (f"Cookie: bg_preview={value}x",)):
        answer = get("http://127.0.0.1:80/", *headers)
        assert (answer["status"], answer["colour"], answer["version"]) == (200, "green", "2.0.0"), headers
    router = host(ROUTER)
    holding = router.run("grep -rlF 5d2a91c4 /etc/nginx").stdout.split()
    assert holding == [f"{CONF}/preview-match.conf"]
    match = router.file(f"{CONF}/preview-match.conf")
    assert (match.user, match.mode) == ("root", 0o600)


def test_include_links_say_green_is_live():
    router = host(ROUTER)
    assert router.file(f"{CONF}/live.conf").linked_to == f"{CONF}/upstream-green.conf"
    assert router.file(f"{CONF}/preview.conf").linked_to == f"{CONF}/preview-blue.conf"
    upstream = router.file(f"{CONF}/upstream-green.conf").content_string
    for app_host in APPS:
        assert f"{address(app_host)}:8002" in upstream


def test_nginx_info_and_history_agree():
    info = module("nginx_info", {"app": APP})
    assert info["live_colour"] == "green" and info["consistent"], info
    assert info["workers"] and not info["problems"], info
    switches = [record for record in history() if record.get("result") == "ok"]
    assert [(r["from"], r["to"], r["versions"]) for r in switches[-2:]] == [
        ("green", "blue", {"blue": "1.0.0", "green": None}),
        ("blue", "green", {"blue": "1.0.0", "green": "2.0.0"}),
    ]


@pytest.mark.parametrize("app_host", APPS)
def test_blue_still_runs_1_0_0_for_an_instant_rollback(app_host):
    assert get(f"http://{address(app_host)}:8001/")["version"] == "1.0.0"


def test_status_reads_the_router():
    result = playbook("status")
    assert result.returncode == 0, result.output
    assert "live colour green (live.conf -> upstream-green.conf)" in result.output
    assert "green: version 2.0.0 (LIVE)" in result.output
