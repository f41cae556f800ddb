# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The maintenance page of the demo app, turned on and off by bluegreen.core.maintenance under a bounded load: while on,
every request gets the page (503 with Retry-After); before and after, every request is served (zero failed); in
between, nothing but those two answers. HAProxy is never reloaded for it. Then a page of the operator's own, set at
provision, and a missing page file refused changing nothing.
"""

from __future__ import annotations

import json
import os
import sys
import time

from lab_helpers import APP, APP_CFG, MAP_FILE, PROJECT, ROUTER, address, host, playbook

sys.path.insert(0, PROJECT)
from benchmarks import probe  # noqa: E402  (the project root is on the path only from here)

KEY = f"{APP}:maintenance"
CLAIM_PREFIX = "# bluegreen-claim: "


def claim() -> dict:
    """Where the demo app is on the router now (its own port here; a host name on the shared port where another test moved it)."""
    (line,) = [line for line in host(ROUTER).file(APP_CFG).content_string.splitlines() if line.startswith(CLAIM_PREFIX)]
    return json.loads(line[len(CLAIM_PREFIX):])


def router_vars() -> list:
    """The demo app's place on the router, as provision takes it (so that it claims what it has)."""
    found = claim()
    return [json.dumps({"bluegreen_hostnames": found["hostnames"], "bluegreen_preview_hostnames": found["preview_hostnames"],
                        "bluegreen_path_prefix": found["path_prefix"], "bluegreen_listen_port": found["listen_port"],
                        "bluegreen_preview_port": found["preview_port"]})]


def haproxy_pid() -> str:
    return host(ROUTER).check_output("systemctl show -p MainPID --value haproxy")


def workers() -> str:
    # A reload starts new workers under the same master: their PIDs are what a reload changes.
    return host(ROUTER).check_output("pgrep -d, -P $(systemctl show -p MainPID --value haproxy) haproxy")


def answer(preview: bool = False) -> str:
    """The router's answer for the demo app, by its host name on its port (its preview, with ``preview``)."""
    found = claim()
    if preview and found["preview_port"]:
        return host(ROUTER).check_output(f"curl -s -i -m 5 http://127.0.0.1:{found['preview_port']}/")
    names = found["preview_hostnames"] if preview else found["hostnames"]
    header = f"-H 'Host: {names[0]}' " if names else ""
    return host(ROUTER).check_output(f"curl -s -i -m 5 {header}http://127.0.0.1:{found['listen_port']}/")


def test_maintenance_on_and_off_under_load_serves_only_the_page_between_and_drops_nothing_else():
    router = address(ROUTER)
    found = claim()
    before_workers = workers()
    config = probe.ProbeConfig(
        base_url=f"http://{router}:{found['listen_port']}/", host_name=(found["hostnames"] or [None])[0], allow_hosts=(router,),
        case="molecule maintenance",
        keepalive_threads=2, newconn_threads=1, streams=0, stream_seconds=1, duration=120, max_requests=20_000, rate=20.0,
        timeout=5.0,
    )
    handle = probe.start(config)
    time.sleep(2)
    on_start = handle.mark("maintenance-on")
    on = playbook("maintenance")
    on_done = handle.mark("maintenance-on-done")
    assert on.returncode == 0, on.output
    time.sleep(2)
    off_start = handle.mark("maintenance-off")
    off = playbook("maintenance", "bluegreen_maintenance=off")
    off_done = handle.mark("maintenance-off-done")
    assert off.returncode == 0, off.output
    time.sleep(2)
    handle.stop()
    records = [rec for rec in handle.wait(timeout=30).records if rec.kind in ("keepalive", "newconn")]
    assert not [rec.to_dict() for rec in records if rec.error][:5]
    phases = {
        "before": [rec.status for rec in records if rec.t < on_start.t],
        "on": [rec.status for rec in records if on_done.t < rec.t < off_start.t],
        "after": [rec.status for rec in records if rec.t > off_done.t],
        "changing": [rec.status for rec in records if on_start.t <= rec.t <= on_done.t or off_start.t <= rec.t <= off_done.t],
    }
    assert phases["before"] and set(phases["before"]) == {200}, phases["before"]
    assert len(phases["on"]) > 10 and set(phases["on"]) == {503}, phases["on"]
    assert phases["after"] and set(phases["after"]) == {200}, phases["after"]
    assert set(phases["changing"]) <= {200, 503}
    # One runtime map entry, no reload: the same workers served throughout.
    assert workers() == before_workers
    assert KEY not in host(ROUTER).file(MAP_FILE).content_string


def test_the_page_says_retry_after_and_status_reports_maintenance_check_mode_changes_nothing():
    dry = playbook("maintenance", check=True)
    assert dry.returncode == 0, dry.output
    assert "HTTP/1.1 200" in answer()
    assert playbook("maintenance").returncode == 0
    try:
        page = answer()
        assert page.startswith("HTTP/1.1 503") and "retry-after: 120" in page.lower() and "Down for maintenance" in page, page
        # The preview listener still reaches the idle colour, for a check before the page is turned off.
        assert "HTTP/1.1 200" in answer(preview=True)
        status = playbook("status")
        assert status.returncode == 0 and "MAINTENANCE on" in status.output, status.output
        again = playbook("maintenance")
        assert again.returncode == 0 and "already so, nothing changed" in again.output, again.output
    finally:
        assert playbook("maintenance", "bluegreen_maintenance=off").returncode == 0
    assert "HTTP/1.1 200" in answer()


def test_a_page_of_ones_own_is_set_at_provision_and_a_missing_one_is_refused_changing_nothing(tmp_path):
    missing = playbook("provision", *router_vars(), f"bluegreen_maintenance_page={tmp_path}/gone.html")
    assert missing.returncode != 0
    assert f"bluegreen_maintenance_page {tmp_path}/gone.html is not on the controller" in missing.output, missing.output
    assert "Down for maintenance" in host(ROUTER).file(f"/etc/haproxy/bluegreen.d/{APP}.maintenance.html").content_string
    page = tmp_path / "page.html"
    page.write_text("<h1>The demo is being upgraded. Back at noon.</h1>\n")
    done = playbook("provision", *router_vars(), f"bluegreen_maintenance_page={page}", "bluegreen_maintenance_retry_after=900")
    assert done.returncode == 0, done.output
    assert "Retry-After 900" in host(ROUTER).file(APP_CFG).content_string
    try:
        assert playbook("maintenance").returncode == 0
        shown = answer()
        assert "Back at noon" in shown and "retry-after: 900" in shown.lower(), shown
    finally:
        assert playbook("maintenance", "bluegreen_maintenance=off").returncode == 0
        # The scenario's own page again, for the tests after this one.
        assert playbook("provision", *router_vars()).returncode == 0
    assert "HTTP/1.1 200" in answer()
    assert os.path.exists(page)
