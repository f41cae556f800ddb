#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: app_release
short_description: Put a release of an app into one colour on an app host, restart that colour and wait for its health
version_added: 0.1.0
description:
  - Checks the artifact against O(checksum), then unpacks it (a tar archive, plain or compressed with gzip, xz or bzip2,
    or a zip archive) as C(<root>/releases/<version>), through a staging folder and one rename, stripping its one top
    folder (O(strip)). Members that would land outside the release (absolute paths, C(..), links pointing out of it)
    or that are devices are refused before anything is written. Files are owned by root and O(group), folders 0755,
    files 0644 or 0755 whatever modes the archive holds, so the app's user reads the release and cannot change it.
  - Links O(shared_dirs) into the release, runs the O(build) commands as O(user) in it, and checks the file that
    starts the app is there. Only then is the release recorded as complete (in C(.bluegreen-release.json), with its
    artifact's checksum); a release that fails a step is removed. A complete release already in place is used as it
    is; an incomplete one (an interrupted deploy) is unpacked again; one of the same version from another artifact is
    refused naming both checksums, unless O(redeploy) and the other colour does not run it.
  - Writes the colour's unit drop-in C(<unit_dir>/<app>@<colour>.service.d/bluegreen-release.conf), with its
    C(ExecStart) (O(command), or O(executable)) and O(unit_settings), so that they may change between releases.
  - Refuses, before anything changes, a colour whose C(PORT) (in O(env)) another program on the host listens on,
    naming the program, its process and its systemd unit.
  - Writes the colour's environment file O(env_file) atomically (mode 0640, root and O(group)), points the colour's
    link C(<root>/<colour>) at the release in one rename, restarts the colour's unit when any of these changed (or
    starts it when it is not running), and waits until O(health_url) answers one of O(health_status) twice in a row.
  - When the colour does not come up, the module fails with the unit's state and the last lines of its journal.
  - Prunes the oldest releases beyond O(keep_releases), never one a colour points at.
  - Without O(artifact), points the colour at a release already in place (how a failed release is undone).
  - Given a path on the controller, the action plugin copies the artifact to the host first.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - bluegreen.core.attributes
options:
  app:
    description: The app's name; its unit is C(<app>@<colour>).
    type: str
    required: true
  colour:
    description: The colour to put the release into. The roles refuse the live colour before they call this module.
    type: str
    required: true
    choices: [blue, green]
  version:
    description: The release's version, its folder's name under C(releases/).
    type: str
    required: true
  artifact:
    description:
      - The release as a tar archive (C(.tar), C(.tar.gz), C(.tar.xz), C(.tar.bz2)) or a zip archive, with the app at
        its root or in one top folder (O(strip)).
      - A path on the controller (the action plugin copies it to the host), or with O(remote_artifact=true) a path on the
        host or an C(http://) or C(https://) URL the host downloads (certificates are checked).
      - Not needed when the release is already in place.
    type: str
  remote_artifact:
    description: O(artifact) is a path on the host, not on the controller.
    type: bool
    default: false
  missing_artifact:
    description:
      - Set by the action plugin when O(artifact) is not on the controller; the release in place is used if there is
        one, else the module fails naming that path.
    type: str
  root:
    description: The app's folder on the host, with C(releases/) and the colour links.
    type: path
    required: true
  group:
    description: The app's group; it owns the release's files and the environment file, with root.
    type: str
    required: true
  executable:
    description:
      - The file that starts the app, relative to the release's root; it must be there and executable. Used when
        O(command) is not given.
    type: str
    default: bin/start
  command:
    description:
      - The command line that starts the app, run from the colour's release folder. Its program is a file of the release
        (a relative path such as C(.venv/bin/python), which must be there once the build is done), an absolute path
        (C(/usr/bin/java)), or a name systemd finds on its own C(PATH). Its words may use C(${PORT}) and the other
        variables of the colour's environment, which systemd expands.
      - Written to the colour's unit drop-in at each deploy. No newline; quotes as a shell takes them.
    type: str
  unit_settings:
    description:
      - Extra C([Service]) settings of the colour's unit, such as C(LimitNOFILE), C(MemoryMax), C(KillSignal) or
        C(TimeoutStopSec). Only settings this module knows are taken, one line each; C(User), C(Group), C(ExecStart),
        C(WorkingDirectory) and C(EnvironmentFile) are the collection's own. Booleans are written C(yes) or C(no).
    type: dict
    default: {}
  unit_dir:
    description: Where systemd reads unit files; the drop-in goes in C(<unit_dir>/<app>@<colour>.service.d/).
    type: path
    default: /etc/systemd/system
  user:
    description: The app's user, who runs O(build) and owns the shared dirs. Defaults to O(group).
    type: str
  shared_dirs:
    description:
      - Folders kept across releases (uploads, caches), relative to the release. Each is C(<root>/shared/<dir>), made
        for O(user) (0750) when missing, and linked into the release in place of anything the artifact holds there.
    type: list
    elements: str
    default: []
  build:
    description:
      - Commands run by C(/bin/sh), in order, as O(user) in the release's folder (owned by O(user) meanwhile) before it
        is complete, such as C(python3 -m venv .venv && .venv/bin/pip install --no-index --find-links wheels -r
        requirements.txt). Their environment is O(env) (not O(secrets)), with C(HOME) the release folder,
        C(BLUEGREEN_APP), C(BLUEGREEN_VERSION) and C(BLUEGREEN_RELEASE_DIR).
      - The first that fails, or O(build_timeout), fails the module with the last lines of its output; the release is
        removed. Afterwards every file is root's again, as if unpacked.
    type: list
    elements: str
    default: []
  build_timeout:
    description: Seconds all the O(build) commands may take together; past it the build's processes are killed.
    type: int
    default: 600
  checksum:
    description:
      - The artifact's sha256, as C(sha256:<64 hex digits>). Checked before anything is unpacked; a mismatch changes
        nothing. The release records its artifact's checksum whether this is given or not.
    type: str
  strip:
    description:
      - Whether to strip the archive's one top folder (C(shop-3.1.0/), as C(git archive --prefix) and most CI tarballs
        make). C(auto) strips it when the archive has one and the file that starts the app is not at the archive's
        root; C(true) strips it (and fails without one); C(false) never.
    type: str
    choices: [auto, "true", "false"]
    default: auto
  redeploy:
    description:
      - Replace a complete release of the same O(version) made from another artifact. Refused while the other colour
        points at that release.
    type: bool
    default: false
  activate:
    description:
      - V(false) puts the release in place (unpacked, built, complete) and stops there, touching neither the colour's
        link, environment file, unit nor process; a second call with V(true) then finds it in place and activates it.
        The playbooks do so to run a migration (M(bluegreen.core.app_migrate)) in between.
    type: bool
    default: true
  validate_certs:
    description: Check the certificate of an C(https://) O(artifact).
    type: bool
    default: true
  ca_path:
    description: A CA bundle on the host to check an C(https://) O(artifact)'s certificate with.
    type: path
  headers:
    description: Request headers of the O(artifact)'s download (a token, say). C(no_log); their names may be shown.
    type: dict
    default: {}
  url_username:
    description: User name of the O(artifact)'s download (basic auth).
    type: str
  url_password:
    description: Password of the O(artifact)'s download. C(no_log).
    type: str
  force_basic_auth:
    description: Send the basic auth credentials with the first request, not only after a 401.
    type: bool
    default: true
  env_file:
    description: The colour's environment file, read by its unit (C(EnvironmentFile)).
    type: path
    required: true
  env:
    description:
      - The environment of the colour, written to O(env_file) with O(secrets). Its values are never shown, in a diff, a
        result or an error (the action plugin hides them in the task's invocation too); its names may be.
    type: dict
    default: {}
  secrets:
    description:
      - More of the colour's environment, written to O(env_file) like O(env), but C(no_log) from end to end, so Ansible
        hides these values wherever they would appear in its output. A name may not be in both O(env) and O(secrets).
    type: dict
    default: {}
  health_url:
    description: The colour's health check, answered on the host itself.
    type: str
    required: true
  health_host:
    description: The C(Host) header of the health check (a framework may answer only its own host names).
    type: str
  health_status:
    description: The HTTP status codes that count as healthy.
    type: list
    elements: int
    default: [200]
  start_timeout:
    description:
      - Seconds the colour may take to answer its health check after a start.
      - The wait ends sooner when systemd gives up on the colour's unit (its state is C(failed), as when it exited
        until its start limit), and the error gives the unit's state and journal.
    type: int
    default: 60
  keep_releases:
    description: Releases kept on the host; a release a colour points at is never removed.
    type: int
    default: 5
attributes:
  check_mode:
    description: Says what would change (unpacking, the environment file, the link); unpacks, writes and restarts nothing.
    support: full
  diff_mode:
    description: Shows the environment file, with its values hidden, the unit drop-in and the colour link before and after.
    support: full
  idempotent:
    description: The same release and environment again change nothing; the colour is only started if it is not running.
    support: full
  platform:
    description: Runs on the app host, with systemd.
    support: full
    platforms: posix
seealso:
  - module: bluegreen.core.health_check
"""

EXAMPLES = r"""
- name: Put shop 2.4.1 into green and wait for its health
  bluegreen.core.app_release:
    app: shop
    colour: green
    version: 2.4.1
    artifact: dist/shop-2.4.1.tar.gz
    checksum: sha256:8f3c2b6a1d9e4f5a7b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a
    command: .venv/bin/python -m waitress --port=${PORT} --call shop:create_app
    build: ["python3 -m venv .venv && .venv/bin/pip install --no-index --find-links wheels -r requirements.txt"]
    shared_dirs: [uploads]
    unit_settings: {LimitNOFILE: 65536, TimeoutStopSec: 20}
    root: /opt/bluegreen/shop
    group: shop
    env_file: /etc/bluegreen/shop/green.env
    env: {PORT: 8002, BLUEGREEN_COLOUR: green, BLUEGREEN_VERSION: 2.4.1}
    health_url: http://127.0.0.1:8002/health
  become: true
  register: shop_green

- name: Put green back on the release it ran before
  bluegreen.core.app_release:
    app: shop
    colour: green
    version: "{{ shop_green.previous_version }}"
    root: /opt/bluegreen/shop
    group: shop
    env_file: /etc/bluegreen/shop/green.env
    env: {PORT: 8002, BLUEGREEN_COLOUR: green, BLUEGREEN_VERSION: "{{ shop_green.previous_version }}"}
    health_url: http://127.0.0.1:8002/health
  become: true
  when: shop_green.previous_version
"""

RETURN = r"""
release:
  description: The release's folder.
  returned: always
  type: str
  sample: /opt/bluegreen/shop/releases/2.4.1
unpacked:
  description: Whether the release was unpacked by this call (false when it was already in place).
  returned: always
  type: bool
checksum:
  description: The artifact's checksum, as C(sha256:<hex>); null when no artifact was given.
  returned: always
  type: str
previous_unit:
  description: What the colour's unit drop-in was made from before (C(command) and C(unit_settings)), or null.
  returned: always
  type: dict
unit_changed:
  description: Whether the colour's unit drop-in changed.
  returned: always
  type: bool
build:
  description: Each build command run by this call, with its C(rc), C(seconds) and the last lines of its C(output).
  returned: always
  type: list
  elements: dict
previous_version:
  description: The release the colour pointed at before, or null when it had none.
  returned: always
  type: str
  sample: 2.4.0
env_changed:
  description: Whether the environment file changed.
  returned: always
  type: bool
unit:
  description: What was done to the colour's unit, C(restarted), C(started) or C(running) (nothing needed); null in check mode.
  returned: always
  type: str
health:
  description: The health check's outcome, as M(bluegreen.core.health_check) reports it; null in check mode.
  returned: always
  type: dict
pruned:
  description: The releases (and leftover staging folders) removed.
  returned: always
  type: list
  elements: str
"""

import os
import re
import shutil
import tempfile
import threading

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import fetch_url
from ansible_collections.bluegreen.core.plugins.module_utils import _apps, _artifact, _fs, _http, _release, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError, os_error_text

# How often the health wait asks systemd whether the colour's unit has failed for good.
UNIT_POLL_S = 1.0

ARGUMENT_SPEC = {
    "app": {"type": "str", "required": True},
    "colour": {"type": "str", "required": True, "choices": list(_validate.COLOURS)},
    "version": {"type": "str", "required": True},
    "artifact": {"type": "str"},
    "remote_artifact": {"type": "bool", "default": False},
    "missing_artifact": {"type": "str"},
    "root": {"type": "path", "required": True},
    "group": {"type": "str", "required": True},
    "executable": {"type": "str", "default": "bin/start"},
    "env_file": {"type": "path", "required": True},
    "env": {"type": "dict", "default": {}},
    "secrets": {"type": "dict", "default": {}, "no_log": True},
    "health_url": {"type": "str", "required": True},
    "start_timeout": {"type": "int", "default": 60},
    "keep_releases": {"type": "int", "default": 5},
    "checksum": {"type": "str"},
    "strip": {"type": "str", "default": "auto", "choices": list(_artifact.STRIP_CHOICES)},
    "redeploy": {"type": "bool", "default": False},
    "activate": {"type": "bool", "default": True},
    "user": {"type": "str"},
    "command": {"type": "str"},
    "unit_settings": {"type": "dict", "default": {}},
    "unit_dir": {"type": "path", "default": _release.UNIT_DIR},
    "shared_dirs": {"type": "list", "elements": "str", "default": []},
    "build": {"type": "list", "elements": "str", "default": []},
    "build_timeout": {"type": "int", "default": 600},
    "health_host": {"type": "str"},
    "health_status": {"type": "list", "elements": "int", "default": [200]},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "headers": {"type": "dict", "default": {}, "no_log": True},
    "url_username": {"type": "str"},
    "url_password": {"type": "str", "no_log": True},
    "force_basic_auth": {"type": "bool", "default": True},
}


def validate(params: dict) -> None:
    _validate.name(params["app"], "app")
    _validate.version(params["version"], "version")
    _validate.name(params["group"], "group")
    executable = params["executable"]
    if not isinstance(executable, str) or executable.startswith("/") or ".." in executable.split("/") or not executable.isprintable():
        raise _validate.ValidationError(f"executable must be a path inside the release, got {executable!r}", "executable")
    for option in ("env", "secrets"):
        for key, value in params[option].items():
            if not key or not key.replace("_", "a").isalnum() or key[0].isdigit() or not key.isascii():
                raise _validate.ValidationError(
                    f"{option} has the name {key!r}: use letters, digits and '_', not starting with a digit", option)
            # Never the value itself: it may be a password.
            if "\n" in str(value) or "\r" in str(value) or "\0" in str(value):
                raise _validate.ValidationError(f"{option}.{key} holds a newline or NUL; one line per variable", option)
    both = sorted(set(params["env"]) & set(params["secrets"]))
    if both:
        raise _validate.ValidationError(f"env and secrets both name {', '.join(both)}: give each name once", "secrets")
    _validate.at_least(params["start_timeout"], 1, "start_timeout", " seconds")
    _validate.at_least(params["keep_releases"], 1, "keep_releases", " releases")
    _validate.at_least(params["build_timeout"], 1, "build_timeout", " seconds")
    params["checksum"] = _artifact.checksum(params["checksum"], "checksum")
    if params["user"] is not None:
        _validate.name(params["user"], "user")
    params["unit_settings"] = _release.unit_settings(params["unit_settings"])
    if params["command"] is not None:
        _release.command_words(params["command"])
    _release.shared_dirs(params["shared_dirs"])
    for index, command in enumerate(params["build"]):
        if not command.strip() or "\0" in command:
            raise _validate.ValidationError(f"build[{index}] must be a command, got {command!r}", "build")
    params["health_status"] = _validate.status_codes(params["health_status"], "health_status")
    params["health_host"] = _apps.health_host(params["health_host"], "health_host")
    for key, value in params["headers"].items():
        if not isinstance(value, str) or any(ch in value + key for ch in "\r\n\0"):
            raise _validate.ValidationError(f"headers.{key} must be one line of text (its value is not shown)", "headers")


def download(module: AnsibleModule, url: str, directory: str) -> str:
    """Fetch a URL artifact into ``directory``; returns the file's path (the caller removes it)."""
    response, info = fetch_url(module, url, headers=module.params["headers"] or None, timeout=60,
                               ca_path=module.params["ca_path"])
    if response is None or info.get("status") != 200:
        raise _release.ReleaseError(f"downloading the artifact {info.get('url', url)} failed: {info.get('status')} "
                                    f"{info.get('msg')}", "artifact")
    handle, path = tempfile.mkstemp(prefix=".artifact-", dir=directory)
    with os.fdopen(handle, "wb") as out:
        shutil.copyfileobj(response, out)
    return path


def health(params: dict, unit: str) -> tuple:
    """The colour's health check, waited for up to ``start_timeout``, and whether systemd gave up on the unit first (its
    state ``failed``: it exited and hit its start limit, or may not restart), which ends the wait at once."""
    checks = _http.parse_checks([_http.app_health_check(params["health_url"], params["health_host"], params["health_status"],
                                                        f"{params['app']}@{params['colour']}")])
    timeout = params["start_timeout"]
    settings = _http.parse_settings({"retries": timeout * 2, "interval": 0.5, "consecutive_successes": 2, "deadline": timeout})
    stop, failed = threading.Event(), threading.Event()

    def watch_unit() -> None:
        while not stop.wait(UNIT_POLL_S):
            if _release.run(["systemctl", "show", unit, "--property=ActiveState", "--value"])[1] == "failed":
                failed.set()
                stop.set()

    watcher = threading.Thread(target=watch_unit, name="unit-state", daemon=True)
    watcher.start()
    report = _http.run_checks(checks, settings, stop=stop)
    stop.set()
    watcher.join(_release.COMMAND_TIMEOUT)
    return report, failed.is_set() and not report.ok


def check_port(params: dict, unit: str) -> None:
    """Refuse, before anything changes, a colour whose PORT another program listens on: its health check and smoke
    test would be answered by that program, and the router would send the app's traffic to it."""
    port = str(params["env"].get("PORT", ""))
    if not port.isdigit():
        return
    holder = _release.port_holder(int(port), unit)
    if holder:
        raise _release.ReleaseError(
            f"port {port}, where {unit} is to listen (env PORT), is taken on this host by {holder}: give {params['app']} "
            f"ports no other program listens on (bluegreen_ports), then provision it, so its router sends it there", "env")


def start_words(params: dict) -> list:
    """The command that starts the colour: ``command``, or the release's ``executable``."""
    if params["command"]:
        return _release.command_words(params["command"])
    return ["./" + params["executable"]]


def obtain(module: AnsibleModule, directory: str) -> tuple:
    """The artifact as a file on this host (downloaded into ``directory`` when a URL), and whether it was fetched."""
    artifact = module.params["artifact"]
    if re.match(r"^https?://", artifact):
        return download(module, artifact, directory), True
    return artifact, False


def decide(params: dict, target: str, record: dict | None, checksum: str | None) -> str:
    """What to do with the release folder: use (it is in place and complete), unpack (absent), or replace (an
    incomplete one, or a redeploy). Refuses the same version with another artifact."""
    present = _release.is_release_dir(target)
    if not present:
        return "unpack"
    if not _release.is_complete(record):
        return "replace" if checksum else "incomplete"
    if checksum is None or record is None or record.get("sha256") in (None, checksum):
        return "use"
    other = _validate.other_colour(params["colour"])
    other_version = _release.version_of(_release.link_target(_release.colour_link(params["root"], other)))
    if params["redeploy"] and other_version != params["version"]:
        return "replace"
    runs = f" ({other} runs it now, so it stays)" if other_version == params["version"] else ""
    raise _release.ReleaseError(
        f"{params['version']} is in place from the artifact {record['sha256']}, and this artifact is {checksum}: a version "
        f"names one build. Give the new build its own version, or set redeploy=true (bluegreen_redeploy) to replace "
        f"the release in the idle colour{runs}", "redeploy" if other_version != params["version"] else "version")


def run(module: AnsibleModule) -> dict:
    params = module.params
    validate(params)
    root, colour, version = params["root"], params["colour"], params["version"]
    unit = f"{params['app']}@{colour}"
    check_port(params, unit)
    user = params["user"] or params["group"]
    target = _release.release_path(root, version)
    link = _release.colour_link(root, colour)
    before = _release.link_target(link)
    record = _release.read_record(target) if _release.is_release_dir(target) else None
    words = start_words(params)
    dropin = _release.dropin_path(params["unit_dir"], unit)
    unit_before = _fs.read_text(dropin)
    unit_text = _release.render_unit(unit, link, words, params["unit_settings"])
    env_text = _release.render_env(dict(params["env"], **params["secrets"]))
    env_before = _fs.read_text(params["env_file"])
    result = {
        "changed": False,
        "release": target,
        "unpacked": False,
        "checksum": None,
        "previous_version": _release.version_of(before),
        "previous_unit": _release.unit_source(unit_before),
        "env_changed": env_before != env_text,
        "unit_changed": unit_before != unit_text,
        "build": [],
        "unit": None,
        "health": None,
        "pruned": [],
    }
    fetched = None
    try:
        if params["artifact"]:
            local, was_fetched = obtain(module, _release.releases_dir(root))
            fetched = local if was_fetched else None
            result["checksum"] = _artifact.verify(local, params["checksum"], "checksum")
        action = decide(params, target, record, result["checksum"])
        if action == "incomplete":
            raise _release.ReleaseError(f"{target} is incomplete (a deploy of it stopped before its last step) and no "
                                        "artifact was given to unpack it again", "artifact")
        if action != "use" and not params["artifact"]:
            if params["missing_artifact"]:
                raise _release.ReleaseError(f"{target} is not in place, and the artifact {params['missing_artifact']} is "
                                            "not on the controller (bluegreen_artifact)", "artifact")
            raise _release.ReleaseError(f"{target} is not in place and no artifact was given to unpack it", "artifact")
        link_after = os.path.join("releases", version)
        result["changed"] = (action != "use" or result["env_changed"] or result["unit_changed"] or before != link_after)
        if not params["activate"]:
            # Only the release: the call that activates it reports the rest.
            result.update(changed=action != "use", env_changed=False, unit_changed=False)
        elif module._diff:
            result["diff"] = [
                {"before": _release.masked(env_before), "after": _release.masked(env_text),
                 "before_header": params["env_file"], "after_header": params["env_file"]},
                {"before": unit_before or "", "after": unit_text, "before_header": dropin, "after_header": dropin},
                {"before": {"path": link, "src": before, "state": "link" if before else "absent"},
                 "after": {"path": link, "src": link_after, "state": "link"}},
            ]
        if action == "use":
            _release.check_program(target, _release.program_in_release(words), "command" if params["command"] else "executable")
        if module.check_mode:
            return result
        if action != "use":
            prepare(params, local, user, words, result)
    finally:
        if fetched:
            os.unlink(fetched)
    if not params["activate"]:
        return result
    if result["env_changed"]:
        _release.write_env(params["env_file"], env_text, params["group"])
    if result["unit_changed"]:
        _release.write_unit(dropin, unit_text)
    if before != link_after:
        _release.point(root, colour, version)
    result["unit"] = _release.restart(unit, result["changed"])
    report, gave_up = health(params, unit)
    result["health"] = report.as_dict()
    if not report.ok:
        why = f"{unit} failed and systemd stopped restarting it, so its health was not waited for: " if gave_up else ""
        raise _release.ReleaseError(f"{why}{report.message()}\n{_release.explain(unit)}", fields=result)
    result["pruned"] = _release.prune(root, params["keep_releases"])
    return result


def prepare(params: dict, artifact: str, user: str, words: list, result: dict) -> None:
    """Unpack the release, link its shared dirs, run its build and check it can start: a release that fails any of
    these is not kept (an older one it replaced is put back)."""
    root, version = params["root"], params["version"]
    program = _release.program_in_release(words)
    target, aside = _release.unpack(artifact, root, version, params["group"], result["checksum"], program, params["strip"])
    ok = False
    try:
        _release.link_shared(target, root, params["shared_dirs"], user, params["group"])
        if params["build"]:
            env = _release.build_env(target, params["app"], version, user, params["env"])
            result["build"] = _release.build(target, params["build"], user, params["group"], env, params["build_timeout"])
        _release.check_program(target, program, "command" if params["command"] else "executable")
        _release.complete(target, params["group"])
        ok = True
    finally:
        _release.settle(target, aside, ok)
    result["unpacked"] = True


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    # The module's own output (printed raw with -vvv, before the action plugin sees it) shows env's names, not values.
    shown = {"invocation": {"module_args": _release.hide_env(module.params)}}
    try:
        module.exit_json(**run(module), **shown)
    except BluegreenError as exc:
        module.fail_json(msg=str(exc), **dict(exc.fields, **({"param": exc.param} if exc.param else {})), **shown)
    except OSError as exc:
        module.fail_json(msg=f"putting {module.params['app']} {module.params['version']} in place failed: {os_error_text(exc)}",
                         **shown)


if __name__ == "__main__":
    main()
