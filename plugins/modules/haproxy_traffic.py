#!/usr/bin/python
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_traffic
short_description: Route an app's live traffic to its blue or green colour through HAProxy
version_added: 0.1.0
description:
  - Points the app's live map entry (C(<app>)) at the backend of O(colour), and its preview entry
    (C(<app>.preview)) at the other colour, with HAProxy's runtime API (no reload, no dropped request).
  - With O(weight) below 100 it is a weighted step instead, sticky per client. O(colour) gets that percent of the clients (entries
    C(<app>.step) and C(<app>.share)), the other colour keeps the rest (C(<app>)), and the preview entry points at O(colour).
    The listener puts each client in one of 100 buckets by a hash of its sticky key (a cookie the router sets, or a
    cookie or header of the client's own, as bluegreen.core.haproxy_app's O(bluegreen.core.haproxy_app#module:sticky_by) says). Bucket
    numbers below the share go to O(colour). So a client keeps its colour from one request to the next, and a rising ramp
    only ever moves clients to O(colour).
  - Ending a step is one C(set map) command. Going back (O(weight=100) to the colour that had the rest) sets the share to 0.
    Going forward (O(weight=100) to O(colour)) points C(<app>) at O(colour) first, then sets the share to 0, so no
    request goes back to the old colour in between.
  - Writes the map file atomically B(before) changing HAProxy, so a later reload keeps the switch.
    Lines of the map file that belong to other apps are kept as they are.
  - Refuses to route live traffic to a colour none of whose servers is C(UP), unless O(force=true).
  - Verifies the result with C(show map) and C(get map). If anything fails after the map file was
    written, the previous map file and runtime entries are restored and the task fails.
  - Appends a record to the app's history (C(<state_dir>/<app>/history.jsonl)) for each change.
  - Running it again with the same colour changes nothing and reports RV(ignore:changed=false).
author:
  - bluegreen.core maintainers (@bluegreen)
extends_documentation_fragment:
  - bluegreen.core.haproxy
  - bluegreen.core.state
  - bluegreen.core.state.traffic
  - bluegreen.core.watch
  - bluegreen.core.state.lock
  - bluegreen.core.attributes
options:
  app:
    description:
      - The app's name, the key of its live entry in the map file.
      - Letters, digits, C(_), C(-) and C(.), starting with a letter or digit.
    type: str
    required: true
  colour:
    description:
      - The colour that receives the app's live traffic.
      - C(previous) rolls back to the colour that was live before the newest switch, as the app's history
        (C(<state_dir>/<app>/history.jsonl)) records it. With O(versions), it refuses when that colour has no release now, or
        holds another release than the one it ran when it was live (the history's record), unless O(force=true).
        With O(lock_owner), the lock, the read, the switch and the history record are one call, so a whole
        rollback is one round trip to the router.
    type: str
    required: true
    choices: [blue, green, previous]
  weight:
    description:
      - The percent of the app's clients that O(colour) gets, from 1 to 100. 100 sends all live traffic to it.
      - Below 100 the app's routing must have been provisioned by bluegreen.core.haproxy_app with C(manage=full), which
        writes the listener's step rules and the entry C(<app>.share). Without it the module refuses, naming O(weight),
        and changes nothing.
      - Must be 100 with O(colour=previous).
    type: int
    default: 100
  preview:
    description:
      - Also point the preview entry C(<app>.preview) at the other colour, so the preview frontend
        serves the idle colour.
    type: bool
    default: true
  force:
    description:
      - Switch even when no server of the target backend is C(UP).
      - Without it the module fails before changing anything, naming each server's state.
      - Also route live traffic to a release whose last outcome in the history was a failure (see O(versions)).
    type: bool
    default: false
  drain:
    description:
      - After the switch, wait until the other colour's servers have no sessions left
        (current plus queued, polled with C(show stat)), for at most O(drain_timeout) seconds.
      - Waiting never kills a session. It also runs when the routing was already right, so a rerun
        can wait again; it is skipped in check mode.
    type: bool
    default: false
  drain_timeout:
    description:
      - Seconds to wait with O(drain=true). When they pass with sessions left, the module returns
        with a warning and RV(drain.completed=false); it does not fail.
    type: int
    default: 30
  stage:
    description:
      - The first phase of a change made on several routers at once. Check everything the change needs and prove this
        router can take it, changing no routing. Write the new map file beside the map and remove it, and have HAProxy
        prepare a new version of the map (C(prepare map)), which no request sees.
      - Takes the lock, resolves O(colour=previous), checks the target's health and the outcome of the release it
        holds, as a change does, and fails the same way. Writes no history record and runs no O(watch).
      - A lock the stage took with O(lock_owner) stays held when the stage succeeds, for the commit, which releases it
        with O(lock_release=true) (or the M(bluegreen.core.lock) module does). A stage that fails releases it.
      - A stage given O(lock_release=true) as well releases the lock it took when it ends, so it only proves that no
        other owner holds it (on the routers other than the one that holds the app's lock for the run).
      - Returns RV(staged=true) and RV(ignore:changed=false).
    type: bool
    default: false
  commit_at:
    description:
      - The second phase of a change made on several routers at once. The wall-clock instant (seconds since the epoch,
        as this host's clock counts them) at which to move the traffic. The map file is written and the new entries are
        filled into a new version of the map first. Then, at that instant, one C(commit map) moves every entry at once.
      - Every router given the same instant moves at the same moment, to within their clocks' agreement. An instant
        already past commits at once; RV(late_ms) says by how much.
      - At most 30 seconds ahead, since the map's lock is held until then.
      - Refused with O(stage=true).
    type: float
attributes:
  check_mode:
    description: Reads HAProxy and the map file, reports what would change; sends no C(set) command and writes nothing.
    support: full
  diff_mode:
    description: Shows the map file before and after.
    support: full
  idempotent:
    description: A second run with the same O(colour) reports no change; session counters never affect RV(ignore:changed).
    support: full
  platform:
    description: Runs on the HAProxy host (HAProxy 2.4 or later; tested with 2.6).
    support: full
    platforms: posix
seealso:
  - module: bluegreen.core.haproxy_info
"""

EXAMPLES = r"""
- name: Route all traffic of shop to green
  bluegreen.core.haproxy_traffic:
    app: shop
    colour: green
    versions:
      blue: 1.4.2
      green: 1.5.0
    reason: release 1.5.0
  become: true

- name: Give green 10 percent of shop's clients, each kept on its colour, and watch green for a minute
  bluegreen.core.haproxy_traffic:
    app: shop
    colour: green
    weight: 10
    watch:
      seconds: 60
      max_error_rate: 0.01
  become: true

- name: Roll shop back to blue and wait up to a minute for green's sessions to finish
  bluegreen.core.haproxy_traffic:
    app: shop
    colour: blue
    action: rollback
    drain: true
    drain_timeout: 60
  become: true

- name: Switch over a TCP stats socket, with custom backend names
  bluegreen.core.haproxy_traffic:
    app: api
    colour: blue
    socket: 127.0.0.1:9999
    map_file: /etc/haproxy/maps/api.map
    backends:
      blue: be_api_blue
      green: be_api_green
"""

RETURN = r"""
app:
  description: The app.
  returned: always
  type: str
  sample: shop
colour:
  description: The colour that now receives (or, in check mode, would receive) the live traffic.
  returned: always
  type: str
  sample: green
weight:
  description: The percent of the clients O(colour) gets (or, in check mode, would get).
  returned: always
  type: int
  sample: 10
weights:
  description: The split after the change, in percent per colour.
  returned: always
  type: dict
  sample: {blue: 90, green: 10}
previous_colour:
  description: The colour HAProxy routed live traffic to before, or null when its entry was missing or unknown.
  returned: always
  type: str
  sample: blue
preview_colour:
  description: The colour the preview entry points at, or null with O(preview=false).
  returned: always
  type: str
  sample: blue
servers:
  description: The target backend's servers as C(show stat) reported them before the switch.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Server name.
      type: str
      sample: shop_green_1
    addr:
      description: Address and port.
      type: str
      sample: 10.0.0.5:8002
    status:
      description: HAProxy's status (C(UP), C(DOWN), C(MAINT), C(DRAIN), C(NOLB), C(UP 1/3)...).
      type: str
      sample: UP
    check_status:
      description: Last health check result (C(L7OK), C(L4CON), C(L7STS)...).
      type: str
      sample: L7OK
    check_desc:
      description: Health check result in words.
      type: str
      sample: Layer7 check passed
    weight:
      description: Effective weight.
      type: int
      sample: 1
    scur:
      description: Current sessions.
      type: int
      sample: 0
    qcur:
      description: Queued requests.
      type: int
      sample: 0
    stot:
      description: Sessions since HAProxy started.
      type: int
      sample: 120
    hrsp_2xx:
      description: 2xx responses.
      type: int
      sample: 118
    hrsp_5xx:
      description: 5xx responses.
      type: int
      sample: 0
cutover_ms:
  description:
    - Milliseconds taken by the C(set map) command that moved live traffic (the cutover itself).
    - Null when nothing changed, in check mode, or when only the preview entry or the file changed.
  returned: always
  type: float
  sample: 0.31
total_ms:
  description: Milliseconds from writing the map file to the verified switch; null when nothing was applied.
  returned: always
  type: float
  sample: 4.2
drain:
  description: The result of waiting for the other colour's sessions; null without O(drain=true) or in check mode.
  returned: always
  type: dict
  contains:
    backend:
      description: The backend that was drained.
      type: str
      sample: shop_blue
    completed:
      description: Whether its sessions reached 0 within O(drain_timeout).
      type: bool
      sample: true
    remaining_sessions:
      description: Current plus queued sessions left when the wait ended.
      type: int
      sample: 0
    waited_s:
      description: Seconds waited.
      type: float
      sample: 1.5
    error:
      description: Why the wait stopped early, when HAProxy could not be read.
      type: str
      returned: when reading HAProxy failed during the wait
staged:
  description: True after O(stage=true) found that this router can take the change.
  returned: with O(stage=true)
  type: bool
  sample: true
staged_version:
  description: The version of the map HAProxy prepared for O(stage=true); absent when the router needed no change.
  returned: with O(stage=true), when the routing must change
  type: int
  sample: 12
committed_at:
  description: The wall-clock instant (seconds since the epoch, this host's clock) of the C(commit map) with O(commit_at).
  returned: with O(commit_at), when the routing changed
  type: float
  sample: 1764752400.0031
late_ms:
  description: How many milliseconds after O(commit_at) the commit was sent; 0 when the module was ready in time.
  returned: with O(commit_at), when the routing changed
  type: float
  sample: 0
history_entry:
  description: The record added to the history (its schema is in C(docs/architecture.md)); null when nothing was applied.
  returned: always
  type: dict
  sample: {time: "2025-01-01T12:00:00.000000Z", app: shop, router: haproxy, action: switch, result: ok, from: blue, to: green,
           weight: 100, weights: {blue: 0, green: 100}, from_weights: {blue: 100, green: 0}, versions: {blue: 1.4.2, green: 1.5.0},
           actor: deploy, reason: release 1.5.0, cutover_ms: 0.31}
diff:
  description: The map file before and after, with its path as header.
  returned: in diff mode
  type: dict
  sample:
    before: "shop shop_blue\nshop.preview shop_green\n"
    after: "shop shop_green\nshop.preview shop_blue\n"
    before_header: /etc/haproxy/maps/shop.map
    after_header: /etc/haproxy/maps/shop.map
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
    return base.argument_spec(HAProxy, info=False)


def main() -> None:
    base.run(HAProxy)


if __name__ == "__main__":
    main()
