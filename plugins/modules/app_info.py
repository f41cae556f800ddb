# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: app_info
short_description: Read what each colour of an app is made of on one app host, for the parity check
version_added: 0.3.0
description:
  - Reads, for each colour in O(colours) on the host, what must be the same in blue and green, with the colour's name
    replaced by C(<colour>) so that the two compare equal when they are alike; the C(bluegreen.core.parity) playbook
    compares them across the app hosts with the filter P(bluegreen.core.parity#filter).
  - The unit, as C(systemctl cat <app>@<colour>) shows it (the template, the release's drop-in and any drop-in an
    operator added), as its files and its settings; the command it starts (its C(ExecStart)); the names the colour's
    environment file sets, never a value; the shared dirs linked into the colour's release; and the runtime, the program
    the colour's main process runs (from C(/proc/<pid>/exe)) with the Debian package that holds it and its version.
  - With O(packages), the host's installed Debian packages and their versions, from one C(dpkg-query).
  - Changes nothing, anywhere.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - bluegreen.core.attributes
  - bluegreen.core.attributes.info
attributes:
  platform:
    platforms: posix
options:
  app:
    description:
      - The app, whose units are C(<app>@blue) and C(<app>@green).
      - Letters, digits, C(_), C(-) and C(.), starting with a letter or digit.
    type: str
    required: true
  colours:
    description: The colours this host runs (both in the slots topology, one in the fleets topology).
    type: list
    elements: str
    choices: [blue, green]
    default: [blue, green]
  root:
    description: The app's root on the host, with C(releases/), the colour links and C(shared/). Defaults to C(/opt/bluegreen/<app>).
    type: path
  config_dir:
    description: The folder of the colours' environment files, C(<colour>.env). Defaults to C(/etc/bluegreen/<app>).
    type: path
  packages:
    description: Also read the host's installed Debian packages.
    type: bool
    default: false
notes:
  - Needs root to read the environment files and the main process's program; the playbooks run it with become.
seealso:
  - module: bluegreen.core.app_release
"""

EXAMPLES = r"""
- name: Read what blue is made of on this host, and its packages
  bluegreen.core.app_info:
    app: shop
    colours: [blue]
    packages: true
  register: shop_info

- name: Compare the colours across the app hosts
  ansible.builtin.debug:
    msg: "{{ bluegreen_fleet_hosts | bluegreen.core.parity(hostvars, ansible_play_hosts, 'shop_info', 'shop') | bluegreen.core.parity_lines }}"
  run_once: true
"""

RETURN = r"""
colours:
  description: What each colour in O(colours) is made of on this host, with its name replaced by C(<colour>).
  returned: always
  type: dict
  contains:
    blue:
      description: The colour's reading (green has the same keys).
      type: dict
      returned: when blue is in O(colours)
      contains:
        version:
          description: The release the colour's link points at, or null.
          type: str
        unit:
          description: >-
            The unit's settings, C(<Section>.<Key>) to value (C(Environment) settings with their names only), and
            C(files), the unit's files; null when systemd has no such unit.
          type: dict
        command:
          description: The C(ExecStart) in effect, or null.
          type: str
        env:
          description: The names the environment file sets, sorted; null when the colour has no environment file.
          type: list
          elements: str
        shared_dirs:
          description: Each link in the release into the app's shared folder, to the folder it reaches there; null without a release.
          type: dict
        runtime:
          description: >-
            The program of the colour's main process, with the package that holds it and its version
            (C(python3.11-minimal 3.11.2-6+deb12u6 /usr/bin/python3.11)), or its SHA-256 when no package holds it; a
            program of the release itself is named by its place in the release. Null when the colour is not running.
          type: str
  sample:
    blue:
      version: 2.0.0
      unit: {files: "/etc/systemd/system/shop@.service, /etc/systemd/system/shop@<colour>.service.d/bluegreen-release.conf",
             Service.User: shop, Service.EnvironmentFile: "/etc/bluegreen/shop/<colour>.env"}
      command: /opt/bluegreen/shop/<colour>/bin/start
      env: [BLUEGREEN_COLOUR, DATABASE_URL, PORT]
      shared_dirs: {uploads: uploads}
      runtime: python3.11-minimal 3.11.2-6+deb12u6 /usr/bin/python3.11
packages:
  description: The installed Debian packages, name to version; null without O(packages).
  returned: always
  type: dict
  sample: {python3.11: 3.11.2-6+deb12u6, tzdata: 2025b-0+deb12u1}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.bluegreen.core.plugins.module_utils import _command, _parity, _release, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError, os_error_text

DPKG_FORMAT = "${db:Status-Abbrev}\t${binary:Package}\t${Version}\n"


def argument_spec() -> dict:
    return {
        "app": {"type": "str", "required": True},
        "colours": {"type": "list", "elements": "str", "choices": list(_validate.COLOURS), "default": list(_validate.COLOURS)},
        "root": {"type": "path"},
        "config_dir": {"type": "path"},
        "packages": {"type": "bool", "default": False},
    }


def run(args: list) -> tuple:
    return _command.run(args, 60.0)


def runtime(unit: str, release: str, colour: str) -> str | None:
    """The program the colour's main process runs, with the package that holds it, or None when it does not run."""
    rc, out, _err = run(["systemctl", "show", "--property=MainPID", "--value", unit])
    pid = out.strip()
    if rc != 0 or not pid.isdigit() or pid == "0":
        return None
    try:
        program = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
    real_release = os.path.realpath(release)
    if program.startswith(real_release.rstrip("/") + "/"):
        return "the release's own " + os.path.relpath(program, real_release)
    # On a merged /usr, dpkg may know /usr/bin/x as /bin/x.
    for path in dict.fromkeys([program, program.removeprefix("/usr")]):
        rc, out, _err = run(["dpkg-query", "-S", path])
        package = _parity.owner(out) if rc == 0 else None
        if package:
            rc, version, _err = run(["dpkg-query", "-W", "-f", "${Version}", package])
            return f"{package} {version.strip() if rc == 0 else '(version unknown)'} {program}"
    try:
        return f"{program} (in no package, sha256 {_parity.sha256(program)[:16]})"
    except OSError:
        return f"{program} (in no package)"


def read_text(path: str) -> str | None:
    """A file's text (bytes that are not UTF-8 replaced), or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return None


def read_colour(params: dict, colour: str) -> dict:
    app, root = params["app"], params["root"]
    unit = f"{app}@{colour}"
    link = _release.colour_link(root, colour)
    rc, out, _err = run(["systemctl", "cat", "--no-pager", unit])
    settings, command = _parity.unit_settings(out, colour) if rc == 0 else (None, None)
    env_text = read_text(os.path.join(params["config_dir"], f"{colour}.env"))
    return {
        "version": _release.version_of(_release.link_target(link)),
        "unit": settings,
        "command": command,
        "env": None if env_text is None else _parity.env_names(env_text),
        "shared_dirs": _parity.shared_dirs(link + "/", _release.shared_root(root)),
        "runtime": runtime(unit, link, colour),
    }


def read_packages() -> dict:
    rc, out, err = run(["dpkg-query", "-W", "-f", DPKG_FORMAT])
    if rc != 0:
        raise BluegreenError(f"`dpkg-query -W` failed: {(err or out).strip()[:300]}: packages needs a Debian host", "packages")
    return _parity.packages(out)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = dict(module.params)
    try:
        app = _validate.name(params["app"], "app")
        params["root"] = params["root"] or f"/opt/bluegreen/{app}"
        params["config_dir"] = params["config_dir"] or f"/etc/bluegreen/{app}"
        colours = {colour: read_colour(params, colour) for colour in dict.fromkeys(params["colours"])}
        found = read_packages() if params["packages"] else None
    except BluegreenError as exc:
        module.fail_json(msg=str(exc), **({"param": exc.param} if exc.param else {}))
    except OSError as exc:
        module.fail_json(msg=f"reading {params['app']} on this host failed: {os_error_text(exc)}")
    module.exit_json(changed=False, colours=colours, packages=found)


if __name__ == "__main__":
    main()
