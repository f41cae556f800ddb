# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every input of the collection's playbooks, checked on the controller before the playbook changes anything.

PRIVATE to the bluegreen.core collection: may change without notice. Used by the action plugin
``bluegreen.core.inputs``.

One rule per variable: a rule takes the value (as the inventory or ``-e`` gives it: a string from ``-e key=value``,
any JSON type from ``-e '{...}'``), returns it checked, or raises InputError saying what is wrong with it. The first
variable that fails is reported alone, by its name, so a user knows which input to fix. Patterns match the whole value
(``re.fullmatch``): a trailing newline is not a valid name.
"""

from __future__ import annotations

import math
import os
import re
import tarfile
import zipfile

from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.task import Task
from ansible_collections.bluegreen.core.plugins.module_utils import _apps, _artifact, _haproxy_apps, _http, _nginx_apps, _nginx_log, _release, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError
from ansible_collections.bluegreen.core.plugins.module_utils._routers import kinds

PLAYBOOKS = ("provision", "deploy", "release", "smoke_test", "switch", "rollback", "status", "unlock", "maintenance",
             "parity", "cleanup")
CHANGES_TRAFFIC = ("release", "switch", "rollback")
DEPLOYS = ("deploy", "release")
SMOKE_TESTS = ("release", "smoke_test")
# The playbooks that run the user's hooks (docs/hooks.md); smoke_test runs on_failure only.
RUNS_HOOKS = ("deploy", "release", "smoke_test", "switch", "rollback")
HOOK_PHASES = ("before_deploy", "after_deploy", "before_switch", "after_switch", "after_rollback", "on_failure")
MAX_NAME = 63
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_PATH_RE = re.compile(r"/[^\x00-\x1f\x7f]*")


class InputError(ValueError):
    """The value of one input is wrong; the message says what is wrong, the caller names the variable."""


# --------------------------------------------------------------------------- value checkers


def _kind(value: object) -> str:
    # isinstance, not type(): Ansible hands over its own subclasses of str, dict and list (tagged values).
    if value is None:
        return "null"
    for types, name in ((bool, "a boolean"), ((int, float), "a number"), (str, "text"), (list, "a list"), (dict, "a dict")):
        if isinstance(value, types):
            return name
    return type(value).__name__


def _plain(value: object) -> object:
    """The value as plain Python types, so that its repr shows the value and not Ansible's tags."""
    if isinstance(value, bool) or value is None:
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _shown(value: object) -> str:
    text = repr(_plain(value))
    return text if len(text) <= 80 else text[:77] + "..."


def integer(minimum: int | None = None, maximum: int | None = None, unit: str = ""):
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, str) and not re.fullmatch(r"-?[0-9]+", value)):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise InputError(f"must be a whole number{' of' + unit if unit else ''}, got {_kind(value)} {_shown(value)}")
        number = int(value)
        if minimum is not None and number < minimum or maximum is not None and number > maximum:
            bounds = (f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more")
            raise InputError(f"must be {bounds}{unit}, got {number}")
        return number
    return check


def number(minimum: float, maximum: float | None = None, strict: bool = False, unit: str = ""):
    def check(value: object) -> float:
        try:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError
            result = float(value)
        except ValueError:
            raise InputError(f"must be a number{' of' + unit if unit else ''}, got {_kind(value)} {_shown(value)}") from None
        if not math.isfinite(result) or result < minimum or (strict and result == minimum) or (maximum is not None and result > maximum):
            relation = "more than" if strict else "at least"
            bounds = f"{relation} {minimum:g}" + (f" and at most {maximum:g}" if maximum is not None else "")
            raise InputError(f"must be {bounds}{unit}, got {_shown(value)}")
        return result
    return check


def boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.lower() in ("true", "yes", "on", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InputError(f"must be true or false, got {_kind(value)} {_shown(value)}")


def choice(*allowed: str):
    def check(value: object) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise InputError(f"must be one of {', '.join(allowed)}, got {_kind(value)} {_shown(value)}")
        return value
    return check


def _validated(validator, keep: bool = False):
    """A rule from a check the modules make too (which raises naming its parameter ``it``): the same words on both
    sides. ``keep``: the value comes back as given, not as the check returns it."""
    def check(value: object) -> object:
        try:
            checked = validator(value, "it")
        except BluegreenError as exc:
            raise InputError(str(exc).replace("it ", "", 1).replace("it.", "", 1)) from None
        return value if keep else checked
    return check


safe_name = _validated(_validate.name)
safe_version = _validated(_validate.version)


def absolute_path(value: object) -> str:
    if not isinstance(value, str) or not _PATH_RE.fullmatch(value) or "/../" in value + "/":
        raise InputError(f"must be an absolute path without control characters or '..', got {_kind(value)} {_shown(value)}")
    return value


def url_path(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"/[\x21-\x7e]*", value):
        raise InputError(f"must be a URL path starting with '/', without spaces or control characters, got {_shown(value)}")
    return value


def port(value: object) -> int:
    return integer(1, 65535)(value)


def host_names(value: object) -> list:
    """A list of DNS host names (a router picks the app by them)."""
    if not isinstance(value, list):
        raise InputError(f"must be a list of DNS host names, got {_kind(value)} {_shown(value)}")
    names = []
    for index, item in enumerate(value):
        try:
            names.append(_apps.hostname(item, "it"))
        except _validate.ValidationError as exc:
            raise InputError(f"item {index}: {str(exc).replace('it ', '', 1)}") from None
    if len(set(names)) != len(names):
        raise InputError(f"lists a host name twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    return names


path_prefix = _validated(_apps.path_prefix)
health_host = _validated(_apps.health_host)


def status_codes(value: object) -> list:
    """HTTP status codes a health check accepts: a non-empty list of codes from 100 to 599, none twice."""
    items = value if isinstance(value, list) else None
    if not items:
        raise InputError(f"must be a non-empty list of HTTP status codes such as [200] or [200, 204], got {_kind(value)} {_shown(value)}")
    codes = []
    for index, item in enumerate(items):
        try:
            codes.append(integer(100, 599)(item))
        except InputError:
            raise InputError(f"item {index} must be an HTTP status code, a whole number from 100 to 599, got {_kind(item)} {_shown(item)}") from None
    twice = sorted({code for code in codes if codes.count(code) > 1})
    if twice:
        raise InputError(f"lists {', '.join(map(str, twice))} twice: give each status code once")
    return codes


def certificate(value: object) -> str:
    """The path of a PEM on the router, or the PEM itself: a secret, so it is never shown."""
    if not isinstance(value, str):
        raise InputError(f"must be the path of a PEM file on the router or the PEM's content, got {_kind(value)}")
    if value and "-----BEGIN" not in value and not _PATH_RE.fullmatch(value):
        raise InputError("must be the absolute path of a PEM file on the router, or the PEM's content (-----BEGIN ...)")
    return value


def colour_ports(value: object) -> dict:
    if not isinstance(value, dict) or set(value) != {"blue", "green"}:
        raise InputError(f"must be a dict with the keys blue and green, got {_kind(value)} {_shown(value)}")
    ports = {}
    for colour in ("blue", "green"):
        try:
            ports[colour] = port(value[colour])
        except InputError as exc:
            raise InputError(f"{colour} {exc}") from None
    if ports["blue"] == ports["green"]:
        raise InputError(f"must give blue and green two different ports, got {ports['blue']} twice")
    return ports


def environment(value: object) -> dict:
    """An app environment: names as a shell would take them; values one line each, never shown in a message."""
    if not isinstance(value, dict):
        raise InputError(f"must be a dict of names to values, got {_kind(value)}")
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_NAME_RE.fullmatch(key):
            raise InputError(f"has the name {_shown(key)}: use letters, digits and '_', not starting with a digit")
        if isinstance(item, (dict, list)) or item is None:
            raise InputError(f"{key} must be text or a number, got {_kind(item)}")
        if any(ch in str(item) for ch in "\n\r\0"):
            raise InputError(f"{key} holds a newline or NUL (its value is not shown); one line per variable")
    return value


def steps(value: object) -> list:
    items = value if isinstance(value, list) else [value] if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if not items:
        raise InputError(f"must be a list of rising percentages that ends with 100, such as [10, 50, 100], got {_kind(value)} {_shown(value)}")
    try:
        shares = [integer(1, 100)(item) for item in items]
    except InputError:
        if isinstance(value, list):
            raise
        # Text such as "10,50,100" (-e bluegreen_switch_steps=10,50,100 gives one): a list is what is missing.
        raise InputError("must be a list of rising percentages that ends with 100, such as [10, 50, 100] (on the command "
                         f"line: -e '{{\"bluegreen_switch_steps\": [10, 50, 100]}}'), got {_kind(value)} {_shown(value)}") from None
    if shares != sorted(set(shares)) or shares[-1] != 100:
        raise InputError(f"must be rising percentages from 1 to 100 that end with 100, such as [10, 50, 100], got {_shown(value)}")
    return shares


def checks(value: object) -> list:
    """Smoke or watch checks: health_check's format, with a path instead of a url."""
    if not isinstance(value, list):
        raise InputError(f"must be a list of checks, each with a path, got {_kind(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise InputError(f"item {index} must be a dict with a path, got {_kind(item)}")
        if "url" in item:
            raise InputError(f"item {index} has a url: give a path, which is checked on every host and listener")
        path = item.get("path")
        try:
            url_path(path)
        except InputError as exc:
            raise InputError(f"item {index} path {exc}") from None
        try:
            _http.parse_check(dict({k: v for k, v in item.items() if k != "path"}, url=f"http://127.0.0.1{path}"), index)
        except _http.CheckError as exc:
            raise InputError(f"item {index}: {exc}") from None
    return value


def artifact_path(value: object) -> str:
    """The artifact: an http(s) URL (the host fetches it), or a file on the controller that is an archive."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"must be the path of a release archive on the controller, or an http(s) URL, got {_kind(value)} {_shown(value)}")
    if "://" in value:
        if not re.fullmatch(r"https?://[\x21-\x7e]+", value):
            raise InputError(f"must be an http or https URL without spaces (or a path on the controller), got {_shown(value)}")
        return value
    path = os.path.expanduser(value)
    if not os.path.exists(path):
        raise InputError(f"{value} is not on the controller")
    if os.path.isdir(path):
        raise InputError(f"{value} is a directory: give the release's archive (.tar.gz, .tgz, .tar or .zip)")
    if os.path.getsize(path) == 0:
        raise InputError(f"{value} is empty")
    if not (tarfile.is_tarfile(path) or zipfile.is_zipfile(path)):
        raise InputError(f"{value} is not a tar or zip archive")
    return value


def strip(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.lower() in _artifact.STRIP_CHOICES:
        return value.lower()
    raise InputError(f"must be auto, true or false, got {_kind(value)} {_shown(value)}")


artifact_checksum = _validated(_artifact.checksum)
unit_settings = _validated(_release.unit_settings)


def command_line(value: object) -> str:
    return value if value == "" else _validated(_release.command_words, keep=True)(value)


relative_dirs = _validated(_release.shared_dirs)


def migrate_command(value: object) -> str:
    if not isinstance(value, str) or "\0" in value or (value and not value.strip()):
        raise InputError(f"must be a shell command line, or \"\" for none, got {_kind(value)} {_shown(value)}")
    return value


def inventory_name(value: object) -> str:
    if not isinstance(value, str) or (value and not re.fullmatch(r"[^\s,]+", value)):
        raise InputError(f"must be an inventory host name, or \"\" for the first host, got {_kind(value)} {_shown(value)}")
    return value


def strings(what: str):
    def check(value: object) -> list:
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() and "\0" not in item for item in value):
            raise InputError(f"must be a list of {what}, got {_kind(value)} {_shown(value)}")
        return value
    return check


def headers(value: object) -> dict:
    """Request headers: names as HTTP takes them, values one line of text, never shown."""
    if not isinstance(value, dict):
        raise InputError(f"must be a dict of header names to values, got {_kind(value)}")
    for key, item in value.items():
        if not isinstance(key, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", key):
            raise InputError(f"has the header name {_shown(key)}, which HTTP does not allow")
        if not isinstance(item, str) or any(ch in item for ch in "\r\n\0"):
            raise InputError(f"{key} must be one line of text (its value is not shown)")
    return value


def secret_text(value: object) -> str:
    if not isinstance(value, str) or any(ch in value for ch in "\r\n\0"):
        raise InputError("must be one line of text (its value is not shown)")
    return value


PARITY_CHECKS = ("off", "warn", "fail")


def parity_check(value: object) -> str:
    """off, warn or fail; false is off, as YAML reads an unquoted off."""
    if value is False:
        return "off"
    if value is True:
        raise InputError("must be one of off, warn, fail, got the boolean true (YAML reads an unquoted on or yes as true): "
                         "use warn or fail")
    return choice(*PARITY_CHECKS)(value)


def optional_path(value: object) -> str:
    return "" if value == "" else absolute_path(value)


def nginx_counts_log(value: object) -> str:
    """The app's counts log on an Nginx router; empty for its default."""
    try:
        return "" if value == "" else _nginx_log.counts_path(value, "app", "path")
    except BluegreenError as exc:
        raise InputError(str(exc).replace("path ", "", 1)) from None


def nginx_access_log(value: object) -> str:
    """The access log of the app's live locations on an Nginx router; off or empty for none."""
    try:
        return value if value in ("", "off") else _nginx_log.access_path(value, "path")
    except BluegreenError as exc:
        raise InputError(str(exc).replace("path ", "", 1)) from None


def header_or_cookie_name(value: object) -> str:
    """A cookie or header name a router's configuration takes as it is; empty for none (or the default)."""
    if value == "":
        return value
    try:
        return _haproxy_apps.sticky("header", value, "app")["name"]
    except BluegreenError as exc:
        raise InputError(str(exc).replace("sticky_name ", "", 1)) from None


def preview_value(value: object) -> str:
    """The preview's secret value: empty (off), or one line of text a router can compare a header or cookie with."""
    try:
        _apps.preview_match("X-Bluegreen-Preview", None, value)
    except BluegreenError as exc:
        raise InputError(str(exc).replace("preview_value ", "", 1) + " (its value is not shown)") from None
    return value


def maintenance_page(value: object) -> str:
    """The maintenance page: empty (the built-in one), or a text file on the controller that HAProxy can serve whole
    (a relative path from the directory the run started in, like bluegreen_artifact)."""
    if value == "":
        return value
    if not isinstance(value, str) or "\0" in value:
        raise InputError(f"must be the path of an HTML file on the controller, got {_kind(value)} {_shown(value)}")
    path = os.path.expanduser(value)
    if not os.path.isfile(path):
        raise InputError(f"{value} is {'a directory' if os.path.isdir(path) else 'not on the controller'}: give the page's HTML file")
    with open(path, "rb") as handle:
        data = handle.read(_haproxy_apps.MAX_PAGE_BYTES + 1)
    if not data.strip():
        raise InputError(f"{value} is empty")
    if len(data) > _haproxy_apps.MAX_PAGE_BYTES:
        raise InputError(f"{value} is larger than {_haproxy_apps.MAX_PAGE_BYTES} bytes, which HAProxy serves whole from one buffer")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{value} is not UTF-8 text") from None
    return value


def standby(value: object) -> object:
    """keep, or a whole number of seconds, 0 or more (0 stops the colour that was live right after the change)."""
    if value == "keep":
        return value
    if not isinstance(value, bool) and (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
        seconds = int(value)
        if 0 <= seconds <= 31_536_000:
            return seconds
    raise InputError(f"must be keep or a whole number of seconds from 0 to 31536000, got {_kind(value)} {_shown(value)}")


def maintenance_state(value: object) -> str:
    """on or off; YAML's on and off (booleans in an inventory file) count as themselves."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str) and value.lower() in ("on", "off"):
        return value.lower()
    raise InputError(f"must be on or off, got {_kind(value)} {_shown(value)}")


def hooks(value: object) -> dict:
    """The user's hooks: {phase: a task file on the controller, or a list of them}. A relative path is read from the
    directory the run started in (the project directory in AWX), like bluegreen_artifact; each comes back absolute, as
    a list, so that the playbook includes what was checked. A message about one phase starts with ``.<phase>``."""
    if not isinstance(value, dict):
        raise InputError(f"must be a dict of phases to task files, such as {{before_switch: hooks/check.yml}}, got {_kind(value)} {_shown(value)}")
    checked = {}
    for phase, files in value.items():
        if phase not in HOOK_PHASES:
            raise InputError(f"has the key {_shown(phase)}, which is not a phase: use {', '.join(HOOK_PHASES[:-1])} or {HOOK_PHASES[-1]}")
        items = files if isinstance(files, list) else [files]
        if not items or not all(isinstance(item, str) and item.strip() and not any(ch in item for ch in "\n\r\0") for item in items):
            raise InputError(f".{phase} must be the path of a task file on the controller, or a list of them, got {_kind(files)} {_shown(files)}")
        checked[phase] = []
        for item in items:
            path = os.path.abspath(os.path.expanduser(item))
            where = "" if os.path.isabs(os.path.expanduser(item)) else f" (a relative path is read from {os.getcwd()}, where the run started)"
            if not os.path.exists(path):
                raise InputError(f".{phase}: {item} is not on the controller{where}")
            if not os.path.isfile(path):
                raise InputError(f".{phase}: {item} is not a file: give a task file{where}")
            if not os.access(path, os.R_OK):
                raise InputError(f".{phase}: {item} cannot be read on the controller")
            problem = task_file_problem(path)
            if problem:
                raise InputError(f".{phase}: {item} is not a task file Ansible can run: {problem.rstrip('.')}")
            checked[phase].append(path)
    return checked


def task_file_problem(path: str) -> str | None:
    """What keeps Ansible from including the task file at ``path``, or None. Ansible ends a run where it stands on a
    task file it cannot parse (no rescue, no always: the app's lock would stay held), so each hook file is loaded here
    first, each task as Ansible loads it (its module resolved by the controller's collection loader). The files it
    includes in turn are not read; a file encrypted whole with Ansible Vault is left to the run, which has the secrets."""
    with open(path, "rb") as handle:
        if handle.read(14) == b"$ANSIBLE_VAULT":
            return None
    loader = DataLoader()
    try:
        tasks = loader.load_from_file(path)
    except AnsibleError as exc:
        return str(exc).splitlines()[0]
    return None if tasks is None else _tasks_problem(tasks, loader)


def _tasks_problem(tasks: object, loader: DataLoader) -> str | None:
    if not isinstance(tasks, list):
        return f"it holds {_kind(tasks)}, not a list of tasks"
    for index, task in enumerate(tasks, 1):
        if not isinstance(task, dict):
            return f"task {index} is {_kind(task)}, not a task"
        if "block" in task:
            problems = (_tasks_problem(task.get(section) or [], loader) for section in ("block", "rescue", "always"))
            problem = next((found for found in problems if found), None)
        else:
            try:
                Task.load(task, loader=loader)
                problem = None
            except AnsibleError as exc:
                problem = str(exc).splitlines()[0]
        if problem:
            return f"task {index}{' (' + str(task['name']) + ')' if task.get('name') else ''}: {problem}"
    return None


# --------------------------------------------------------------------------- the rules

# variable -> (the playbooks that take it, or None for every one; its check; whether it must be set: True, False, or the
# playbooks that need it)
RULES: dict = {
    "bluegreen_app": (None, safe_name, True),
    "bluegreen_router": (None, choice(*kinds.KINDS), False),
    "bluegreen_topology": (None, choice("slots", "fleets"), False),
    "bluegreen_ports": (None, colour_ports, False),
    "bluegreen_listen_port": (None, port, False),
    "bluegreen_preview_port": (None, integer(0, 65535), False),
    "bluegreen_hostnames": (("provision",), host_names, False),
    "bluegreen_preview_hostnames": (("provision",), host_names, False),
    "bluegreen_path_prefix": (("provision",), path_prefix, False),
    "bluegreen_tls_certificate": (("provision",), certificate, False),
    "bluegreen_tls_port": (("provision",), port, False),
    "bluegreen_tls_redirect": (("provision",), boolean, False),
    "bluegreen_router_manage": (("provision",), choice("full", "app"), False),
    "bluegreen_app_state": (("provision",), choice("present", "absent"), False),
    "bluegreen_maintenance_page": (("provision",), maintenance_page, False),
    "bluegreen_maintenance_retry_after": (("provision",), integer(0, 86400, " seconds"), False),
    "bluegreen_sticky_by": (("provision",), choice(*_haproxy_apps.STICKY_BY), False),
    "bluegreen_sticky_name": (("provision",), header_or_cookie_name, False),
    "bluegreen_preview_header": (("provision",), header_or_cookie_name, False),
    "bluegreen_preview_cookie": (("provision",), header_or_cookie_name, False),
    "bluegreen_preview_value": (("provision",), preview_value, False),
    "bluegreen_maintenance": (("maintenance",), maintenance_state, False),
    "bluegreen_haproxy_conf_dir": (None, absolute_path, False),
    "bluegreen_haproxy_cert_dir": (None, absolute_path, False),
    "bluegreen_health_path": (None, url_path, False),
    "bluegreen_health_host": (None, health_host, False),
    "bluegreen_health_status": (None, status_codes, False),
    "bluegreen_app_root": (None, absolute_path, False),
    "bluegreen_state_dir": (None, absolute_path, False),
    "bluegreen_haproxy_map_dir": (None, absolute_path, False),
    "bluegreen_nginx_conf_dir": (None, absolute_path, False),
    "bluegreen_nginx_cert_dir": (None, absolute_path, False),
    "bluegreen_nginx_counts_log": (None, nginx_counts_log, False),
    "bluegreen_nginx_access_log": (("provision",), nginx_access_log, False),
    "bluegreen_status_history": (None, integer(0, 1000), False),
    "bluegreen_become": (None, boolean, False),
    "bluegreen_lock_wait": (None, integer(0, unit=" seconds"), False),
    "bluegreen_lock_ttl": (None, integer(1, unit=" seconds"), False),
    "bluegreen_force": (None, boolean, False),
    # Required to deploy; to switch, route only to the colour that holds it; to roll back, only if the live colour runs it.
    "bluegreen_version": (("smoke_test", "deploy", *CHANGES_TRAFFIC), safe_version, DEPLOYS),
    "bluegreen_artifact": (DEPLOYS, artifact_path, True),
    "bluegreen_artifact_checksum": (DEPLOYS, artifact_checksum, False),
    "bluegreen_artifact_strip": (DEPLOYS, strip, False),
    "bluegreen_artifact_fetch": (DEPLOYS, choice("host", "controller"), False),
    "bluegreen_artifact_validate_certs": (DEPLOYS, boolean, False),
    "bluegreen_artifact_ca_path": (DEPLOYS, optional_path, False),
    "bluegreen_artifact_headers": (DEPLOYS, headers, False),
    "bluegreen_artifact_username": (DEPLOYS, secret_text, False),
    "bluegreen_artifact_password": (DEPLOYS, secret_text, False),
    "bluegreen_redeploy": (DEPLOYS, boolean, False),
    "bluegreen_app_command": (DEPLOYS, command_line, False),
    "bluegreen_app_unit_settings": (DEPLOYS, unit_settings, False),
    "bluegreen_app_shared_dirs": (DEPLOYS, relative_dirs, False),
    "bluegreen_app_packages": (("provision", *DEPLOYS), strings("Debian package names"), False),
    "bluegreen_app_build": (DEPLOYS, strings("shell commands"), False),
    "bluegreen_app_build_timeout": (DEPLOYS, integer(1, unit=" seconds"), False),
    "bluegreen_migrate_command": (DEPLOYS, migrate_command, False),
    "bluegreen_migrate_host": (DEPLOYS, inventory_name, False),
    "bluegreen_migrate_timeout": (DEPLOYS, integer(1, unit=" seconds"), False),
    "bluegreen_app_env": (("provision", *DEPLOYS), environment, False),
    "bluegreen_app_secrets": (("provision", *DEPLOYS), environment, False),
    "bluegreen_app_user": (("provision", *DEPLOYS), safe_name, False),
    "bluegreen_app_start_timeout": (DEPLOYS, integer(1, unit=" seconds"), False),
    "bluegreen_keep_releases": ((*DEPLOYS, "cleanup"), integer(1), False),
    "bluegreen_smoke_checks": (SMOKE_TESTS, checks, False),
    "bluegreen_smoke_retries": (SMOKE_TESTS, integer(0), False),
    "bluegreen_smoke_interval": (SMOKE_TESTS, number(0, unit=" seconds"), False),
    "bluegreen_smoke_timeout": (SMOKE_TESTS, number(0, strict=True, unit=" seconds"), False),
    "bluegreen_smoke_consecutive_successes": (SMOKE_TESTS, integer(1), False),
    "bluegreen_switch_to": (CHANGES_TRAFFIC, choice("blue", "green", "idle", "previous"), False),
    "bluegreen_switch_steps": (CHANGES_TRAFFIC, steps, False),
    "bluegreen_monitor_seconds": (CHANGES_TRAFFIC, integer(0, 86400, " seconds"), False),
    "bluegreen_rollback_monitor_seconds": (("rollback",), integer(0, 86400, " seconds"), False),
    "bluegreen_monitor_interval": (CHANGES_TRAFFIC, number(0.1, unit=" seconds"), False),
    "bluegreen_monitor_failure_threshold": (CHANGES_TRAFFIC, integer(1), False),
    "bluegreen_watch_interval": (CHANGES_TRAFFIC, number(0.1, unit=" seconds"), False),
    "bluegreen_watch_window": (CHANGES_TRAFFIC, number(0.1, unit=" seconds"), False),
    "bluegreen_watch_min_requests": (CHANGES_TRAFFIC, integer(1), False),
    "bluegreen_watch_failures": (CHANGES_TRAFFIC, integer(1), False),
    "bluegreen_watch_fail_fast": (CHANGES_TRAFFIC, boolean, False),
    "bluegreen_max_error_rate": (CHANGES_TRAFFIC, number(0, 1), False),
    "bluegreen_max_response_ms": (CHANGES_TRAFFIC, integer(1, unit=" ms"), False),
    "bluegreen_monitor_checks": (CHANGES_TRAFFIC, checks, False),
    "bluegreen_auto_rollback": (CHANGES_TRAFFIC, boolean, False),
    "bluegreen_drain_seconds": (CHANGES_TRAFFIC, integer(0, 86400, " seconds"), False),
    "bluegreen_hooks": (RUNS_HOOKS, hooks, False),
    "bluegreen_standby": (CHANGES_TRAFFIC, standby, False),
    "bluegreen_parity_check": (("parity", "release"), parity_check, False),
}


# The inputs whose default is unset, so that null is a value for them.
NULLABLE = ("bluegreen_max_response_ms",)


def check(playbook: str, values: dict) -> dict:
    """Check every input ``playbook`` takes among ``values`` (variable -> value, the unset ones left out); return them
    checked. Raise InputError naming the first variable that fails, or a required one that is missing."""
    if playbook not in PLAYBOOKS:
        raise InputError(f"playbook must be one of {', '.join(PLAYBOOKS)}, got {_shown(playbook)}")
    checked = {}
    for variable, (playbooks, rule, required) in RULES.items():
        if playbooks is not None and playbook not in playbooks:
            continue
        if variable not in values:
            if required is True or (required and playbook in required):
                raise InputError(f"{variable} is not set: bluegreen.core.{playbook} needs it")
            continue
        if values[variable] is None:
            # A null from -e replaces the role's default with nothing: only an option that may be unset takes it.
            if variable in NULLABLE:
                continue
            raise InputError(f"{variable} is null: give it a value, or leave it out for its default")
        try:
            checked[variable] = rule(values[variable])
        except InputError as exc:
            # A message about one part of the value names it: bluegreen_hooks.before_switch.
            raise InputError(f"{variable}{exc}" if str(exc).startswith(".") else f"{variable} {exc}") from None
    artifact, expected = checked.get("bluegreen_artifact"), checked.get("bluegreen_artifact_checksum")
    if artifact and expected and "://" not in artifact:
        try:
            _artifact.verify(os.path.expanduser(artifact), expected, "bluegreen_artifact_checksum")
        except BluegreenError as exc:
            raise InputError(f"bluegreen_artifact_checksum: {artifact} on the controller: {exc}") from None
    if "bluegreen_switch_steps" in checked and checked["bluegreen_switch_steps"] != [100]:
        kind = checked.get("bluegreen_router", "haproxy")
        if not kinds.KINDS[kind]["steps"]:
            raise InputError(f"bluegreen_switch_steps {checked['bluegreen_switch_steps']} needs a router that takes weighted "
                             f"steps: a {kind} router switches all at once, so use [100]")
    if checked.get("bluegreen_sticky_by", "cookie") != "cookie" and not checked.get("bluegreen_sticky_name"):
        raise InputError(f"bluegreen_sticky_name is empty: with bluegreen_sticky_by {checked['bluegreen_sticky_by']} it must name "
                         f"the {'cookie' if checked['bluegreen_sticky_by'] == 'request_cookie' else 'header'} whose hash keeps "
                         "each client on its colour during a weighted step")
    carriers = (checked.get("bluegreen_preview_header", "X-Bluegreen-Preview"), checked.get("bluegreen_preview_cookie"))
    if checked.get("bluegreen_preview_value") and not any(carriers):
        raise InputError("bluegreen_preview_value needs bluegreen_preview_header or bluegreen_preview_cookie: the part of "
                         "the request that carries it")
    router = checked.get("bluegreen_router", "haproxy")
    if checked.get("bluegreen_preview_value") and not kinds.KINDS[router]["live_preview"]:
        raise InputError(f"bluegreen_preview_value is set, but a preview on the live address is built on HAProxy and Nginx "
                         f"routers only, not {router}: leave it empty, and use bluegreen_preview_port or "
                         "bluegreen_preview_hostnames")
    if checked.get("bluegreen_preview_value") and router == "nginx":
        try:
            _nginx_apps.preview_match(carriers[0], carriers[1], "x")
        except BluegreenError as exc:
            raise InputError("bluegreen_" + str(exc)) from None
    if playbook == "maintenance" and not kinds.KINDS[checked.get("bluegreen_router", "haproxy")]["maintenance"]:
        raise InputError(f"bluegreen_router is {checked['bluegreen_router']}: bluegreen.core.maintenance serves a maintenance "
                         "page on HAProxy routers only so far (docs/maintenance.md)")
    return checked
