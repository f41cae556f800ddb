#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_traffic
short_description: Route an app's live traffic to its blue or green colour through Nginx, at once or by weight
version_added: 0.1.0
description:
  - Points the app's C(live.conf) include link at C(upstream-<colour>.conf) and its C(preview.conf) link at the
    other colour's C(preview-<colour>.conf), then tests the configuration with C(nginx -t) and reloads nginx.
  - With O(weight) below 100, writes C(upstream-weighted.conf), one upstream with both colours' servers
    weighted so that O(colour) gets O(weight) percent of the live traffic, and points C(live.conf) at it.
    Server parameters other than C(weight) are kept; during such a step C(preview.conf) points at O(colour),
    the colour still being brought in.
  - Links are swapped in one C(rename) each (a temporary symlink beside the link, then C(os.replace)), so nginx
    never reads a missing link. Files are written atomically.
  - Proves the reload took. It notes nginx's master PID and its worker PIDs, runs O(reload_command), and waits up
    to O(reload_timeout) seconds for new worker processes, while watching O(error_log) for C([emerg]) lines and for
    C([alert]) or C([crit]) lines from the master. A C([alert]) or C([crit]) from a worker (for example an old
    worker closing its connections) is reported as a warning only.
  - If C(nginx -t) fails, the previous links and file are restored and the task fails with nginx's own message;
    nginx is not reloaded. If the reload fails, the previous links and file are restored, nginx is reloaded again
    with them, and the task fails saying what nginx said and what was restored.
  - Refuses to route live traffic to a colour none of whose servers accepts a TCP connection within 2 seconds,
    unless O(force=true).
  - Appends a record to the app's history (C(<state_dir>/<app>/history.jsonl)) for each change.
  - With O(watch), counts the watched colour's requests, 5xx responses and upstream times in the lines nginx appends to
    the app's counts log O(counts_log) (written by C(bluegreen.core.nginx_app)) from just before the change, every 0.2
    seconds, across logrotate's rotations.
  - Running it again with the same O(colour) and O(weight) changes nothing and reports RV(ignore:changed=false).
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - bluegreen.core.nginx
  - bluegreen.core.state
  - bluegreen.core.state.traffic
  - bluegreen.core.watch
  - bluegreen.core.state.lock
  - bluegreen.core.attributes
options:
  app:
    description:
      - The app's name, the name of its folder in O(conf_dir).
      - Letters, digits, C(_), C(-) and C(.), starting with a letter or digit.
    type: str
    required: true
  colour:
    description:
      - The colour that receives the app's live traffic (all of it, or O(weight) percent).
      - C(previous) rolls back to the colour that was live before the newest switch, as the app's history
        (C(<state_dir>/<app>/history.jsonl)) records it. With O(versions), it refuses when that colour has no release now, or
        holds another release than the one it ran when it was live (the history's record), unless O(force=true).
        With O(lock_owner), the lock, the read, the switch and the history record are one call, so a whole
        rollback is one round trip to the router. O(weight) must be 100.
    type: str
    required: true
    choices: [blue, green, previous]
  weight:
    description:
      - Percent of the live traffic that goes to O(colour), from 1 to 100; the other colour gets the rest.
      - C(100) points C(live.conf) at C(upstream-<colour>.conf). Below 100 it points at C(upstream-weighted.conf).
      - To take all traffic away from a colour, route 100 to the other one.
    type: int
    default: 100
  nginx_binary:
    description: The nginx program used for C(nginx -t -c <nginx_conf>); a name on the PATH or an absolute path.
    type: str
    default: nginx
  nginx_conf:
    description: The main configuration file that C(nginx -t) checks; the one the running nginx was started with.
    type: path
    default: /etc/nginx/nginx.conf
  reload_command:
    description:
      - The command that reloads nginx gracefully, as a list of arguments (no shell).
      - For an nginx not managed by systemd, for example C([nginx, -s, reload]).
    type: list
    elements: str
    default: [systemctl, reload, nginx]
  error_log:
    description:
      - nginx's main error log (the C(error_log) of the main context of C(nginx.conf)). Lines it gains during the
        reload are checked. When it cannot be read, only the worker PIDs prove the reload.
    type: path
    default: /var/log/nginx/error.log
  reload_timeout:
    description:
      - Seconds to wait, from running O(reload_command), for nginx to start new worker processes. When they pass,
        the switch is undone and the task fails.
    type: float
    default: 10.0
  preview:
    description:
      - Also point C(preview.conf) at the colour that does not take the live traffic (at O(colour) while O(weight)
        is below 100), so the preview listener serves the idle colour.
    type: bool
    default: true
  force:
    description:
      - Skip the check that at least one of the target colour's servers accepts a TCP connection.
      - Without it the module fails before changing anything, naming each server and why it could not connect.
      - Also route live traffic to a release whose last outcome in the history was a failure (see O(versions)).
    type: bool
    default: false
attributes:
  check_mode:
    description:
      - Reads the links and files, tries the target's servers, and reports what would change; writes nothing,
        runs neither C(nginx -t) nor the reload.
    support: full
  diff_mode:
    description: Shows which files C(live.conf) and C(preview.conf) point at before and after, and C(upstream-weighted.conf) when it changes.
    support: full
  idempotent:
    description: A second run with the same O(colour) and O(weight) reports no change and does not reload nginx.
    support: full
  platform:
    description: Runs on the nginx host (Linux, for C(/proc); nginx 1.18 or later, tested with 1.22).
    support: full
    platforms: posix
seealso:
  - module: bluegreen.core.nginx_info
  - module: bluegreen.core.haproxy_traffic
"""

EXAMPLES = r"""
- name: Send 10% of shop's live traffic to green, then half, then all, recording the release in the history
  bluegreen.core.nginx_traffic:
    app: shop
    colour: green
    weight: "{{ item }}"
    versions: {blue: 1.4.2, green: 1.5.0}
    reason: release 1.5.0
  loop: [10, 50, 100]
  become: true

- name: Roll shop back to blue with an nginx that systemd does not manage
  bluegreen.core.nginx_traffic:
    app: shop
    colour: blue
    action: rollback
    reason: error rate above 2% after the switch
    reload_command: [/usr/sbin/nginx, -s, reload]
    pid_file: /var/run/nginx.pid
  become: true
"""

RETURN = r"""
app:
  description: The app.
  returned: always
  type: str
  sample: shop
colour:
  description: The colour that now receives (or, in check mode, would receive) O(weight) percent of the live traffic.
  returned: always
  type: str
  sample: green
weight:
  description: The percent of live traffic that goes to RV(colour).
  returned: always
  type: int
  sample: 100
weights:
  description: The percent of live traffic each colour gets after the switch.
  returned: always
  type: dict
  sample: {blue: 0, green: 100}
live_target:
  description: The file C(live.conf) points at after the switch.
  returned: always
  type: str
  sample: upstream-green.conf
previous:
  description: What C(live.conf) pointed at before.
  returned: always
  type: dict
  contains:
    live_target:
      description: The file C(live.conf) pointed at, or null when it did not exist.
      type: str
      sample: upstream-blue.conf
    colour:
      description: The colour that had all the live traffic, or null when it was split or unknown.
      type: str
      sample: blue
    weights:
      description: The percent each colour had, or null when unknown.
      type: dict
      sample: {blue: 100, green: 0}
previous_colour:
  description: The colour that had all the live traffic before, or null when it was split or unknown.
  returned: always
  type: str
  sample: blue
preview_colour:
  description: The colour C(preview.conf) points at after the switch; with O(preview=false), the one it already pointed at.
  returned: always
  type: str
  sample: blue
servers:
  description:
    - The target colour's servers from C(upstream-<colour>.conf), with the result of the TCP check.
    - With O(force=true) the servers are not tried and RV(servers[].reachable) is null.
  returned: always
  type: list
  elements: dict
  contains:
    address:
      description: The server's address as written in the upstream file.
      type: str
      sample: 10.0.0.5:8002
    weight:
      description: Its weight in C(upstream-<colour>.conf) (1 when not set).
      type: int
      sample: 1
    backup:
      description: Whether it is marked C(backup).
      type: bool
      sample: false
    down:
      description: Whether it is marked C(down); such a server is not tried.
      type: bool
      sample: false
    parameters:
      description: Its other parameters, as written.
      type: list
      elements: str
      sample: [max_fails=3, fail_timeout=5s]
    reachable:
      description: Whether a TCP connection to it succeeded within 2 seconds.
      type: bool
      sample: true
    error:
      description: Why it could not be reached, or null.
      type: str
      sample: Connection refused
reload:
  description: How nginx's reload went; null when nothing changed or in check mode.
  returned: always
  type: dict
  contains:
    master_pid:
      description: PID of nginx's master process.
      type: int
      sample: 812
    old_workers:
      description: The worker PIDs before the reload (they finish their requests and exit).
      type: list
      elements: int
      sample: [813, 814]
    new_workers:
      description: The new worker PIDs, which serve the new configuration.
      type: list
      elements: int
      sample: [1201, 1202]
    seconds:
      description: Seconds from running O(reload_command) to seeing the new workers.
      type: float
      sample: 0.12
history_entry:
  description: The record added to the history (its schema is in C(docs/architecture.md)); null when nothing was applied.
  returned: always
  type: dict
  sample: {time: "2025-01-01T12:00:00.000000Z", app: shop, router: nginx, action: switch, result: ok, from: blue, to: green,
           weight: 10, weights: {blue: 90, green: 10}, from_weights: {blue: 100, green: 0}, versions: {blue: 1.4.2, green: 1.5.0},
           actor: deploy, reason: "release 1.5.0, first step", reload_s: 0.17}
diff:
  description:
    - The link targets before and after and, when it changes, C(upstream-weighted.conf) before and after.
  returned: in diff mode
  type: list
  elements: dict
  sample:
    - before: "live.conf -> upstream-blue.conf\npreview.conf -> preview-green.conf\n"
      after: "live.conf -> upstream-green.conf\npreview.conf -> preview-blue.conf\n"
      before_header: /etc/nginx/bluegreen/shop/ (links)
      after_header: /etc/nginx/bluegreen/shop/ (links)
"""


from ansible_collections.bluegreen.core.plugins.module_utils._routers import base
from ansible_collections.bluegreen.core.plugins.module_utils._routers.nginx import Nginx


def argument_spec() -> dict:
    return base.argument_spec(Nginx, info=False)


def main() -> None:
    base.run(Nginx)


if __name__ == "__main__":
    main()
