#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: app_release
short_description: Put a release of an app into one colour on an app host, restart that colour and wait for its health
version_added: 0.1.0
description:
  - Unpacks O(artifact) (a tar archive, compressed or not) as C(<root>/releases/<version>), through a staging folder
    and one rename, so a half-unpacked release is never used; a release already in place is used as it is. Members
    that would land outside the release (absolute paths, C(..), links pointing out of it) or that are devices are
    refused before anything is written. Files are owned by root and O(group).
  - Writes the colour's environment file O(env_file) atomically (mode 0640, root and O(group)), points the colour's
    link C(<root>/<colour>) at the release in one rename, restarts the colour's unit when either changed (or starts it
    when it is not running), and waits until O(health_url) answers 2xx twice in a row.
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
      - The release as a tar archive (C(.tar), C(.tar.gz), C(.tar.xz), C(.tar.bz2)), with the app at its root.
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
    description: The file that starts the app, relative to the release's root; it must be there and executable.
    type: str
    default: bin/start
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
  start_timeout:
    description: Seconds the colour may take to answer its health check after a start.
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
    description: Shows the environment file, with its values hidden, and the colour link before and after.
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

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import fetch_url
from ansible_collections.bluegreen.core.plugins.module_utils import _fs, _http, _release, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError, os_error_text

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


def download(module: AnsibleModule, url: str, directory: str) -> str:
    """Fetch a URL artifact into ``directory``; returns the file's path (the caller removes it)."""
    response, info = fetch_url(module, url, timeout=60)
    if response is None or info.get("status") != 200:
        raise _release.ReleaseError(f"downloading the artifact {url} failed: {info.get('status')} {info.get('msg')}", "artifact")
    handle, path = tempfile.mkstemp(prefix=".artifact-", dir=directory)
    with os.fdopen(handle, "wb") as out:
        shutil.copyfileobj(response, out)
    return path


def health(params: dict) -> dict:
    checks = _http.parse_checks([{"name": f"{params['app']}@{params['colour']}", "url": params["health_url"]}])
    timeout = params["start_timeout"]
    settings = _http.parse_settings({"retries": timeout * 2, "interval": 0.5, "consecutive_successes": 2, "deadline": timeout})
    return _http.run_checks(checks, settings)


def run(module: AnsibleModule) -> dict:
    params = module.params
    validate(params)
    root, colour, version = params["root"], params["colour"], params["version"]
    unit = f"{params['app']}@{colour}"
    target = _release.release_path(root, version)
    link = _release.colour_link(root, colour)
    before = _release.link_target(link)
    present = _release.is_release_dir(target)
    if not present and not params["artifact"]:
        if params["missing_artifact"]:
            raise _release.ReleaseError(f"{target} is not in place, and the artifact {params['missing_artifact']} is not on the "
                                        "controller (bluegreen_artifact)", "artifact")
        raise _release.ReleaseError(f"{target} is not in place and no artifact was given to unpack it", "artifact")
    env_text = _release.render_env(dict(params["env"], **params["secrets"]))
    env_before = _fs.read_text(params["env_file"])
    result = {
        "changed": False,
        "release": target,
        "unpacked": False,
        "previous_version": _release.version_of(before),
        "env_changed": env_before != env_text,
        "unit": None,
        "health": None,
        "pruned": [],
    }
    link_after = os.path.join("releases", version)
    changes = not present or result["env_changed"] or before != link_after
    result["changed"] = changes
    if module._diff:
        result["diff"] = [
            {"before": _release.masked(env_before), "after": _release.masked(env_text),
             "before_header": params["env_file"], "after_header": params["env_file"]},
            {"before": {"path": link, "src": before, "state": "link" if before else "absent"},
             "after": {"path": link, "src": link_after, "state": "link"}},
        ]
    if module.check_mode:
        return result
    if not present:
        artifact = params["artifact"]
        fetched = download(module, artifact, _release.releases_dir(root)) if re.match(r"^https?://", artifact) else None
        try:
            _release.unpack(fetched or artifact, root, version, params["group"], params["executable"])
        finally:
            if fetched:
                os.unlink(fetched)
        result["unpacked"] = True
    if result["env_changed"]:
        _release.write_env(params["env_file"], env_text, params["group"])
    if before != link_after:
        _release.point(root, colour, version)
    result["unit"] = _release.restart(unit, changes)
    report = health(params)
    result["health"] = report.as_dict()
    if not report.ok:
        raise _release.ReleaseError(f"{report.message()}\n{_release.explain(unit)}", fields=result)
    result["pruned"] = _release.prune(root, params["keep_releases"])
    return result


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
