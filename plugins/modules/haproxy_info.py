#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_info
short_description: Report which colour of an app HAProxy serves, its servers' health and the release history
version_added: 0.1.0
description:
  - Reads the app's live and preview map entries from HAProxy's runtime API, the map file on disk,
    each colour's backend statistics (C(show stat)), the app's release history and its lock.
  - HAProxy's runtime entry is the truth about what is live. When the map file or the last recorded
    switch disagree with it, the module says so in RV(problems), emits each problem as a warning and
    sets RV(consistent=false); it never picks one source silently.
  - Changes nothing.
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - bluegreen.core.haproxy
  - bluegreen.core.state
  - bluegreen.core.state.read
  - bluegreen.core.state.lock
  - bluegreen.core.attributes
  - bluegreen.core.attributes.info
options:
  app:
    description:
      - The app's name, the key of its live entry in the map file.
      - Letters, digits, C(_), C(-) and C(.), starting with a letter or digit.
    type: str
    required: true
attributes:
  platform:
    description: Runs on the HAProxy host (HAProxy 2.4 or later; tested with 2.6).
    support: full
    platforms: posix
seealso:
  - module: bluegreen.core.haproxy_traffic
"""

EXAMPLES = r"""
- name: Find out which colour of shop is live
  bluegreen.core.haproxy_info:
    app: shop
  become: true
  register: shop_routing

- name: Stop when HAProxy, the map file and the history disagree
  ansible.builtin.assert:
    that: shop_routing.consistent
    fail_msg: "{{ shop_routing.problems | join('; ') }}"

- name: Show the live colour and its healthy servers
  ansible.builtin.debug:
    msg: >-
      {{ shop_routing.live_colour }} is live with
      {{ shop_routing.backends[shop_routing.live_colour].up }} servers UP
"""

RETURN = r"""
app:
  description: The app.
  returned: always
  type: str
  sample: shop
router:
  description: The router kind, C(haproxy).
  returned: always
  type: str
  sample: haproxy
label:
  description: Null; a router host is named by its inventory name.
  returned: always
  type: str
weights:
  description: The percent of live traffic each colour gets (HAProxy gives one colour all of it); null when RV(live_colour) is.
  returned: always
  type: dict
  sample: {blue: 0, green: 100}
sources_agree:
  description:
    - Whether HAProxy's runtime map and the map file on disk name the same live colour. The switch role refuses to
      switch while they do not, but for the switch to a named colour that mends RV(drifted) sources; history problems
      alone (RV(consistent=false)) do not stop it.
  returned: always
  type: bool
  sample: true
drifted:
  description:
    - Whether the runtime map and the map file each name a routing for the app and the two differ (one was changed by
      hand). The switch playbook with C(bluegreen_switch_to=blue) or C(green) mends it by writing that colour to
      both; every other run refuses while RV(sources_agree) is false.
  returned: always
  type: bool
  sample: false
step_probe_headers:
  description:
    - The request headers that put a client in the first of the 100 buckets of the app's weighted steps (a sticky
      key whose hash falls in bucket 0), made from the sticky setting C(<conf_dir>/<app>.cfg) records. A request that
      carries them goes to a step's colour whenever the step gives that colour any share, so the watch's probes
      that carry them expect the new colour at every step.
    - Null when that file cannot be read or records no sticky setting.
  returned: always
  type: dict
  sample: {Cookie: bluegreen_api=bluegreen-watch-169}
says:
  description: The colour of the runtime map and of the map file, in a few words.
  returned: always
  type: str
  sample: runtime map green, map file green
colours:
  description: Each colour's backend servers that are UP, of all its servers.
  returned: always
  type: dict
  sample: {blue: 2/2 up, green: 2/2 up}
endpoints:
  description: Each colour's servers, as the host:port addresses HAProxy sends their traffic to (the smoke test probes them).
  returned: always
  type: dict
  sample: {blue: ["10.0.0.5:8001", "10.0.0.6:8001"], green: ["10.0.0.5:8002", "10.0.0.6:8002"]}
healthy:
  description: Whether each colour's backend has a server UP.
  returned: always
  type: dict
  sample: {blue: true, green: true}
counters_note:
  description: Why RV(counters) is null; null when HAProxy counts.
  returned: always
  type: str
counters:
  description: Each colour's backend requests and 5xx responses since HAProxy started (from RV(backends)).
  returned: always
  type: dict
  sample: {blue: {requests: 10452, http_5xx: 2}, green: {requests: 380, http_5xx: 0}}
map_file:
  description: The map file that was read, as HAProxy names it.
  returned: always
  type: str
  sample: /etc/haproxy/maps/shop.map
live_colour:
  description:
    - The colour HAProxy routes live traffic to, from its runtime map entry C(<app>).
    - Null when the entry is missing or points at neither backend (see RV(problems)).
  returned: always
  type: str
  sample: green
map_file_colour:
  description: The colour the map file on disk names for C(<app>); what HAProxy will use after a reload.
  returned: always
  type: str
  sample: green
preview_colour:
  description: The colour the preview entry C(<app>.preview) points at; null when there is no preview entry.
  returned: always
  type: str
  sample: blue
consistent:
  description:
    - True when HAProxy, the map file and the last recorded switch (if any) name the same live colour, and nothing
      in the history is damaged (no RV(problems)).
  returned: always
  type: bool
  sample: true
problems:
  description: Each disagreement or damage found, in plain words; each is also emitted as a warning.
  returned: always
  type: list
  elements: str
  sample:
    - "HAProxy routes shop to green but /etc/haproxy/maps/shop.map says blue: the next reload would switch traffic to blue. ..."
backends:
  description: Each colour's backend as C(show stat) reports it.
  returned: always
  type: dict
  contains:
    blue:
      description: The blue backend; C(green) has the same keys.
      type: dict
      contains:
        name:
          description: Backend name.
          type: str
          sample: shop_blue
        status:
          description: Backend status (C(UP) while at least one server is up, else C(DOWN)).
          type: str
          sample: UP
        servers:
          description: Its servers.
          type: list
          elements: dict
          contains:
            name:
              description: Server name.
              type: str
            addr:
              description: Address and port.
              type: str
            status:
              description: C(UP), C(DOWN), C(MAINT), C(DRAIN), C(NOLB), C(UP 1/3)...
              type: str
            check_status:
              description: Last health check result (C(L7OK), C(L4CON), C(L7STS)...).
              type: str
            check_desc:
              description: Health check result in words.
              type: str
            weight:
              description: Effective weight.
              type: int
            scur:
              description: Current sessions.
              type: int
            qcur:
              description: Queued requests.
              type: int
            stot:
              description: Sessions since HAProxy started.
              type: int
            hrsp_2xx:
              description: 2xx responses.
              type: int
            hrsp_5xx:
              description: 5xx responses.
              type: int
        up:
          description: Servers whose status is UP.
          type: int
          sample: 2
        total:
          description: Servers in the backend.
          type: int
          sample: 2
        sessions:
          description: Current sessions on the backend.
          type: int
          sample: 3
        queued:
          description: Requests queued on the backend.
          type: int
          sample: 0
        requests:
          description: HTTP requests since HAProxy started (C(req_tot)), or sessions (C(stot)) in TCP mode.
          type: int
          sample: 10452
        http_2xx:
          description: 2xx responses since HAProxy started.
          type: int
          sample: 10440
        http_5xx:
          description: 5xx responses since HAProxy started.
          type: int
          sample: 2
    green:
      description: The green backend, with the same keys as C(blue).
      type: dict
history:
  description: The newest O(history_limit) records of the app's history, oldest first.
  returned: always
  type: list
  elements: dict
  sample:
    - {time: "2025-01-01T12:00:00.000000Z", app: shop, action: switch, from: blue, to: green, result: ok, router: haproxy}
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
  sample: {time: "2025-01-01T12:00:00.000000Z", app: shop, action: switch, from: blue, to: green, result: ok}
previous_colour:
  description:
    - The colour live before the switch that made the live colour live (the C(from) of the newest
      successful switch whose C(to) is the live colour); the target of a rollback.
    - Null when the history has no such switch.
  returned: always
  type: str
  sample: blue
lock:
  description: The current holder of the app's release lock, or null when it is free.
  returned: always
  type: dict
  sample: {owner: "awx job 42", since: "2025-01-01T12:00:00.000000Z", expires_epoch: 1735736400.0, pid: 4242}
maintenance:
  description:
    - Whether HAProxy answers the app's live traffic with its maintenance page (the runtime map key
      C(<app>:maintenance), set by the C(bluegreen.core.maintenance) playbook). A map file that disagrees is in RV(problems).
  returned: always
  type: bool
  sample: false
router_unreachable:
  description: True when HAProxy did not answer on O(socket) (not running, a stale socket, a timeout); C(param) is then
    V(socket), as a suspect.
  returned: failure, when HAProxy did not answer
  type: bool
  sample: true
"""


from ansible_collections.bluegreen.core.plugins.module_utils._routers import base
from ansible_collections.bluegreen.core.plugins.module_utils._routers.haproxy import HAProxy


def argument_spec() -> dict:
    return base.argument_spec(HAProxy, info=True)


def main() -> None:
    base.run(HAProxy, info=True)


if __name__ == "__main__":
    main()
