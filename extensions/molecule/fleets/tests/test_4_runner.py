# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbooks run by ansible-runner, the engine AWX runs them with: a private data directory holding the inventory,
the project of the AWX examples (examples/awx/project), the job's extra variables and environment, and no
prompt. Each run's artifacts are checked as AWX reads them (rc, status, the recap, the stats set_stats passed on), and
the lab itself says whether what the result claims is true.

Runs after test_3_grow: green (2.0.0) is live on bgf-app3 and bgf-app5, blue (1.0.0) idle on bgf-app1 and bgf-app2.
The inventory is Molecule's plus tests/grow.yml, as one AWX inventory would hold both.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import ansible_runner
import pytest
import yaml
from lab_helpers import APP, CONNECTIONS, PROJECT, ROUTER, history, host, inventory, module

ARTIFACTS = os.path.join(PROJECT, ".cache", "artifacts")
GROW = os.path.join(os.path.dirname(__file__), "grow.yml")
# What AWX puts in a job's extra variables, beside the survey's.
AWX_JOB = {"awx_job_id": 4242, "awx_user_name": "ann"}


@pytest.fixture()
def data_dir(tmp_path):
    """A private data directory as AWX lays one out, new for each test as AWX makes one for each job: inventory/,
    project/, and env/ (ansible-runner writes the job's extra variables and environment there)."""
    root = tmp_path / "runner"
    shutil.copytree(inventory(), root / "inventory")
    shutil.copy(GROW, root / "inventory" / "zz-grow.yml")
    # The project the AWX examples import (examples/awx/project): one-line playbooks that import the collection's.
    shutil.copytree(os.path.join(PROJECT, "examples", "awx", "project"), root / "project")
    return root


def run(data_dir, playbook: str, **extravars):
    """One job: the playbook of the project, with extra variables only, through ansible-runner's Python API."""
    runner = ansible_runner.run(
        private_data_dir=str(data_dir), playbook=f"{playbook}.yml", extravars=dict(AWX_JOB, **extravars), quiet=True,
        envvars={"ANSIBLE_COLLECTIONS_PATH": os.environ.get("ANSIBLE_COLLECTIONS_PATH", ""), "ANSIBLE_NOCOLOR": "1"},
        timeout=600,
    )
    stats = next(e for e in runner.events if e["event"] == "playbook_on_stats")["event_data"]
    runner.result = (stats.get("artifact_data") or {}).get("bluegreen_result")
    runner.output = runner.stdout.read()
    return runner


def live_colour() -> str:
    return module("haproxy_info", {"app": APP})["live_colour"]


def test_status_runs_as_an_awx_job_and_passes_on_the_live_colour(data_dir):
    job = run(data_dir, "status")
    assert (job.rc, job.status) == (0, "successful"), job.output
    # The files AWX reads after the job, in the job's artifacts directory.
    artifacts = os.path.join(data_dir, "artifacts", job.config.ident)
    with open(os.path.join(artifacts, "rc"), encoding="utf-8") as handle:
        assert handle.read().strip() == "0"
    with open(os.path.join(artifacts, "status"), encoding="utf-8") as handle:
        assert handle.read().strip() == "successful"
    assert "PLAY RECAP" in job.output and not job.stats["failures"] and not job.stats["dark"]
    result = job.result
    assert (result["app"], result["playbook"], result["outcome"], result["live_colour"]) == (APP, "status", "ok", live_colour())
    assert {c: result["colours"][c]["version"] for c in ("blue", "green")} == {"blue": "1.0.0", "green": "2.0.0"}
    assert result["history"] == [] and result["actor"] == "awx-job-4242 (ann)"


def test_release_runs_as_an_awx_job_and_passes_on_what_it_did(data_dir):
    before = history()
    job = run(data_dir, "release", bluegreen_version="3.0.0", bluegreen_artifact=f"{ARTIFACTS}/demo-app-3.0.0.tar.gz")
    assert (job.rc, job.status) == (0, "successful"), job.output
    assert not job.stats["failures"] and job.stats["changed"], job.stats
    result = job.result
    assert (result["outcome"], result["live_colour"], result["message"]) == ("ok", "blue", None)
    assert result["colours"]["blue"] == {"version": "3.0.0", "live": True, "share": 100, "outcome": "live", "failed": False}
    # The history entry it passes on is the one the router holds, with AWX's job as the actor.
    written = history()[len(before):]
    assert result["history"] == written and [(r["action"], r["to"], r["actor"]) for r in written] == [
        ("release", "blue", "awx-job-4242 (ann)")]
    assert live_colour() == "blue"
    for app_host in ("bgf-app1", "bgf-app2"):
        assert host(app_host).file(f"/opt/bluegreen/{APP}/blue").linked_to == f"/opt/bluegreen/{APP}/releases/3.0.0"


def test_a_switch_to_a_release_no_colour_holds_fails_with_its_reason_passed_on(data_dir):
    before = history()
    job = run(data_dir, "switch", bluegreen_version="9.9.9")
    assert (job.rc, job.status) == (2, "failed"), job.output
    result = job.result
    assert (result["outcome"], result["live_colour"], result["history"]) == ("failed", "blue", [])
    assert "holds 2.0.0, not 9.9.9" in result["message"] and "blue stays live" in result["message"]
    assert history() == before and live_colour() == "blue"


def test_a_rollback_node_rolls_back_its_release_once(data_dir):
    """A workflow's rollback node passes the release it rolls back: the first run moves traffic back; a second (the
    switch had already been undone) finds the live colour not running it and moves nothing."""
    before = history()
    job = run(data_dir, "rollback", bluegreen_version="3.0.0")
    assert (job.rc, job.status) == (0, "successful"), job.output
    assert (job.result["outcome"], job.result["live_colour"]) == ("ok", "green")
    assert [(r["action"], r["to"]) for r in job.result["history"]] == [("rollback", "green")]
    assert history()[len(before):] == job.result["history"] and live_colour() == "green"

    again = run(data_dir, "rollback", bluegreen_version="3.0.0")
    assert (again.rc, again.status) == (0, "successful"), again.output
    assert (again.result["outcome"], again.result["live_colour"], again.result["history"]) == ("unchanged", "green", [])
    assert "nothing to roll back" in again.output
    assert len(history()) == len(before) + 1 and live_colour() == "green"
    # The release that was rolled back is reported as such, for a notification node.
    assert again.result["colours"]["blue"]["outcome"] == "rolled back" and again.result["colours"]["blue"]["failed"]


def test_a_set_stats_value_passed_on_as_an_extra_variable_cannot_hide_the_routers(data_dir):
    """AWX gives a node the stats of the nodes before it as extra variables; the result is one variable no playbook
    reads, and a fact's name given that way is refused instead of hiding what the routers say."""
    job = run(data_dir, "status", bluegreen_result={"live_colour": "blue"})
    assert job.rc == 0 and job.result["live_colour"] == "green", job.output
    job = run(data_dir, "switch", bluegreen_live_colour="blue", bluegreen_switch_to="blue")
    assert job.rc != 0 and "hides the live colour the routers say (green)" in job.result["message"], job.output
    assert live_colour() == "green"


def test_status_runs_in_the_execution_environment_with_process_isolation(data_dir):
    """As AWX runs a job: ansible-runner starts the execution environment image (make ee) with Podman, and the
    collection inside the image reaches the lab hosts over SSH with the lab's key."""
    with open(os.path.join(PROJECT, "galaxy.yml"), encoding="utf-8") as handle:
        image = f"localhost/bluegreen-ee:{yaml.safe_load(handle)['version']}"
    assert subprocess.run(["podman", "image", "exists", image], check=False).returncode == 0, (
        f"{image} is missing: make ee builds it (make molecule does first)")
    keys = os.path.dirname(CONNECTIONS[ROUTER]["ansible_private_key_file"])
    job = ansible_runner.run(
        private_data_dir=str(data_dir), playbook="status.yml", extravars=dict(AWX_JOB), quiet=True, timeout=300,
        process_isolation=True, process_isolation_executable="podman", container_image=image,
        # Rootful Podman: the job's files are root's; the key is mounted where the inventory names it.
        container_options=["--user=root"], container_volume_mounts=[f"{keys}:{keys}:ro"],
        envvars={"ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1"},
    )
    output = job.stdout.read()
    assert (job.rc, job.status) == (0, "successful"), output
    stats = next(e for e in job.events if e["event"] == "playbook_on_stats")["event_data"]
    result = stats["artifact_data"]["bluegreen_result"]
    assert (result["outcome"], result["live_colour"]) == ("ok", live_colour())
    assert result["colours"]["blue"]["version"] == "3.0.0"
