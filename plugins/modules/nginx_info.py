#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_info
short_description: Report which colour of an app Nginx serves, each colour's servers, nginx's workers and the release history
version_added: 0.1.0
description:
  - Reads the app's C(live.conf) and C(preview.conf) include links, the upstream files they point at, nginx's
    master and worker processes (from O(pid_file) and C(/proc)), the app's release history and its lock.
  - The C(live.conf) link is the truth about what is live. For a weighted step (C(live.conf) pointing at
    C(upstream-weighted.conf)) RV(live_colour) is null, RV(split) is true and RV(weights) gives each colour's share.
  - When the files, nginx's processes and the last recorded switch disagree, or something is missing or damaged,
    the module says so in RV(problems), emits each problem as a warning and sets RV(consistent=false); it never
    picks one source silently. A link changed after nginx's workers started (nginx was not reloaded) is such a problem.
  - Changes nothing.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - bluegreen.core.nginx
  - bluegreen.core.state
  - bluegreen.core.state.read
  - bluegreen.core.state.lock
  - bluegreen.core.attributes
  - bluegreen.core.attributes.info
options:
  app:
    description:
      - The app's name, the name of its folder in O(conf_dir).
      - Letters, digits, C(_), C(-) and C(.), starting with a letter or digit.
    type: str
    required: true
attributes:
  platform:
    description: Runs on the nginx host (Linux, for C(/proc); nginx 1.18 or later, tested with 1.22).
    support: full
    platforms: posix
seealso:
  - module: bluegreen.core.nginx_traffic
  - module: bluegreen.core.haproxy_info
"""

EXAMPLES = r"""
- name: Find out which colour of shop is live
  bluegreen.core.nginx_info:
    app: shop
  become: true
  register: shop_routing

- name: Stop when the links, nginx and the history disagree
  ansible.builtin.assert:
    that: shop_routing.consistent
    fail_msg: "{{ shop_routing.problems | join('; ') }}"

- name: Wait until no old nginx worker still serves requests with the previous configuration
  bluegreen.core.nginx_info:
    app: shop
  become: true
  register: shop_workers
  until: shop_workers.workers_shutting_down | length == 0
  retries: 30
  delay: 2
"""

RETURN = r"""
app:
  description: The app.
  returned: always
  type: str
  sample: shop
router:
  description: The router kind, C(nginx).
  returned: always
  type: str
  sample: nginx
label:
  description: Null; a router host is named by its inventory name.
  returned: always
  type: str
sources_agree:
  description:
    - Whether the links, the upstream files and the configuration nginx's workers loaded agree, with nothing missing
      or damaged. The switch role refuses to switch while they do not; history problems alone do not stop it.
  returned: always
  type: bool
  sample: true
drifted:
  description:
    - Always false. A disagreement of nginx's own sources (RV(sources_agree=false)) is something missing, damaged
      or not loaded, which a switch must not write over; the switch role refuses every run until it is mended.
  returned: always
  type: bool
  sample: false
step_probe_headers:
  description: Always null; nginx splits requests, not sticky buckets, so no request is sure to reach a step's colour.
  returned: always
  type: dict
says:
  description: The file C(live.conf) points at, or the split, in a few words.
  returned: always
  type: str
  sample: live.conf -> upstream-green.conf
colours:
  description: How many servers each colour's upstream file lists.
  returned: always
  type: dict
  sample: {blue: 2 servers, green: 2 servers}
endpoints:
  description: Each colour's servers, as the addresses its upstream file lists (the smoke test probes them).
  returned: always
  type: dict
  sample: {blue: ["10.0.0.5:8001"], green: ["10.0.0.5:8002"]}
healthy:
  description: Null for each colour; nginx OSS has no active health checks to ask.
  returned: always
  type: dict
  sample: {blue: null, green: null}
counters_note:
  description: Why RV(counters) is null, and where the watch after a switch counts each colour's requests and 5xx instead.
  returned: always
  type: str
  sample: >-
    nginx keeps no totals per colour: the watch after a switch counts each colour's requests and 5xx in what nginx
    appends to the app's counts log, /var/log/nginx/bluegreen-shop.log
counters:
  description:
    - Null; nginx OSS keeps no totals of each upstream's requests or 5xx responses. The watch of
      M(bluegreen.core.nginx_traffic) counts them in the app's counts log (O(counts_log)) from the moment it begins.
  returned: always
  type: dict
live_colour:
  description:
    - The colour that gets all the live traffic, from the file C(live.conf) points at.
    - Null while the traffic is split between the colours (see RV(weights)) or when C(live.conf) is missing or damaged.
  returned: always
  type: str
  sample: green
live_target:
  description: The file C(live.conf) points at, or null when it is missing or not a link into the app's folder.
  returned: always
  type: str
  sample: upstream-green.conf
split:
  description: Whether C(live.conf) points at C(upstream-weighted.conf), a weighted step between the colours.
  returned: always
  type: bool
  sample: false
weights:
  description:
    - The percent of live traffic each colour gets; for a split, computed from the server weights of
      C(upstream-weighted.conf). Null when it cannot be told.
  returned: always
  type: dict
  sample: {blue: 90, green: 10}
preview_colour:
  description: The colour C(preview.conf) points at, or null when it is missing or damaged.
  returned: always
  type: str
  sample: blue
servers:
  description: Each colour's servers, from C(upstream-blue.conf) and C(upstream-green.conf).
  returned: always
  type: dict
  contains:
    blue:
      description: Blue's servers; C(green) has the same form.
      type: list
      elements: dict
      contains:
        address:
          description: The server's address as written.
          type: str
          sample: 10.0.0.5:8001
        weight:
          description: Its weight (1 when not set).
          type: int
          sample: 1
        backup:
          description: Whether it is marked C(backup).
          type: bool
          sample: false
        down:
          description: Whether it is marked C(down).
          type: bool
          sample: false
        parameters:
          description: Its other parameters, as written.
          type: list
          elements: str
          sample: [max_fails=3]
    green:
      description: Green's servers, with the same keys as C(blue).
      type: list
      elements: dict
master_pid:
  description: PID of nginx's master process, or null when nginx is not running.
  returned: always
  type: int
  sample: 812
workers:
  description: PIDs of the worker processes that serve the current configuration.
  returned: always
  type: list
  elements: int
  sample: [1201, 1202]
workers_shutting_down:
  description:
    - PIDs of old worker processes still finishing requests after a reload (their title says
      C(worker process is shutting down)). They may still send requests to the previous colour.
  returned: always
  type: list
  elements: int
  sample: [813]
consistent:
  description: True when nothing is missing or damaged and the links, nginx's processes and the last recorded switch agree.
  returned: always
  type: bool
  sample: true
problems:
  description: Each disagreement or damage found, in plain words; each is also emitted as a warning.
  returned: always
  type: list
  elements: str
  sample:
    - "the last recorded switch of shop (2025-01-01T12:00:00.000000Z, by deploy) sent 100% to green, but live.conf routes live traffic to blue: ..."
history:
  description: The newest O(history_limit) records of the app's history, oldest first.
  returned: always
  type: list
  elements: dict
  sample:
    - {time: "2025-01-01T12:00:00.000000Z", app: shop, action: switch, from: blue, to: green, weight: 100, result: ok, router: nginx}
outcomes:
  description:
    - What each colour's release did last, from the history, keyed by colour (a colour with no record is left out).
    - C(outcome) is V(live) (or V(live with N% of the traffic)), V(replaced), V(passed its smoke test), or a failure
      (C(failed) true) V(switched back by the watch), V(rolled back) or V(failed its smoke test). A traffic
      module refuses to send live traffic to a release whose last outcome was a failure, unless forced.
  returned: always
  type: dict
  sample: {green: {version: 2.0.0, outcome: switched back by the watch, failed: true, time: "2025-01-01T12:00:05.000000Z",
                   actor: alice, reason: "green answered 50 of 50 requests with 5xx"}}
last_switch:
  description: The newest successful record that changed the live colour, or null.
  returned: always
  type: dict
  sample: {time: "2025-01-01T12:00:00.000000Z", app: shop, action: switch, from: blue, to: green, weight: 100, result: ok}
previous_colour:
  description:
    - The colour live before the switch that made the live colour live (the C(from) of the newest
      successful switch whose C(to) is the live colour); the target of a rollback.
    - Null when the history has no such switch, or while the traffic is split.
  returned: always
  type: str
  sample: blue
lock:
  description: The current holder of the app's release lock, or null when it is free.
  returned: always
  type: dict
  sample: {owner: "awx job 42", since: "2025-01-01T12:00:00.000000Z", expires_epoch: 1735736400.0, pid: 4242}
maintenance:
  description: Whether the router answers the app's live traffic with a maintenance page; always false, as only HAProxy has one.
  returned: always
  type: bool
  sample: false
"""


from ansible_collections.bluegreen.core.plugins.module_utils._routers import base
from ansible_collections.bluegreen.core.plugins.module_utils._routers.nginx import Nginx


def argument_spec() -> dict:
    return base.argument_spec(Nginx, info=True)


def main() -> None:
    base.run(Nginx, info=True)


if __name__ == "__main__":
    main()
