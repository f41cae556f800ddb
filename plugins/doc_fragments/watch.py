# -*- coding: utf-8 -*-
# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The watch after a change, inside the traffic module's call (module_utils/_watch.py).
    DOCUMENTATION = r"""
options:
  watch:
    description:
      - After the change, watch the colour it gives more of the traffic (or the one C(colour) names), inside this call,
        while it still holds the lock; on a breach, switch all the traffic back at once and fail.
      - The watch samples the router's own counts of the colour (HAProxy's requests, 5xx responses and average
        response time per backend, read every 0.2 seconds, or every O(watch.interval) if that is shorter; Nginx's
        from the lines nginx appends to the app's counts log, read as often; an ALB's every O(watch.interval); a
        router that counts none is watched through O(watch.checks) only) and probes O(watch.checks) every
        O(watch.interval) seconds. It ends at the first breach, not at the end of O(watch.seconds).
      - The switch back is recorded in the history as an C(auto-rollback) with what broke, and the colour's release
        is then refused live traffic (see C(versions)) until another release is deployed to it, or O(force=true).
      - Skipped in check mode. Without O(watch), or with O(watch.seconds=0), nothing is watched.
    type: dict
    suboptions:
      seconds:
        description: How long to watch, in seconds. V(0) watches nothing.
        type: float
        default: 0
      interval:
        description: Seconds between two probes of each check, and between two samples of the counters of a router
          that is not sampled more often; at least V(0.1).
        type: float
        default: 1.0
      window:
        description:
          - The sliding window, in seconds, over which the share of 5xx responses is judged while the watch runs; at
            least O(watch.interval).
        type: float
        default: 10.0
      max_error_rate:
        description:
          - The largest share of the colour's requests that may answer 5xx, from V(0) to V(1).
          - Judged over the window once it holds at least O(watch.min_requests) requests, and over the whole watch at
            its end whatever the number.
        type: float
        default: 0.01
      min_requests:
        description: The requests the window must hold before its share of 5xx is judged, so a handful of early requests
          cannot decide alone.
        type: int
        default: 20
      failures:
        description:
          - How many failures in a row end the watch, for each probe of O(watch.checks), and how many intervals in
            a row the router may find no server of the colour able to serve, or not answer when its counts are
            sampled.
        type: int
        default: 2
      max_response_ms:
        description:
          - The longest average response time of the colour, in milliseconds, from the router's own timing (HAProxy's
            C(rtime), over the backend's last 1024 requests; Nginx's upstream time, over the requests of the latest
            sample), judged like O(watch.max_error_rate). Unset, not judged.
        type: int
      fail_fast:
        description:
          - V(false) judges the counters only at the end of the watch, over the whole of it (a fixed window). The probes
            still end it at once. For comparison; V(true) ends the watch as soon as the window breaks.
        type: bool
        default: true
      checks:
        description:
          - Health probes, in the format of M(bluegreen.core.health_check)'s O(bluegreen.core.health_check#module:checks),
            each probed every O(watch.interval) seconds from the host the module runs on.
          - Required for a router that counts no requests per colour (Route 53), and on Nginx when the app's counts
            log does not exist as the watch begins.
        type: list
        elements: dict
        default: []
      validate_certs:
        description: Verify the TLS certificates of https probes.
        type: bool
        default: true
      rollback:
        description: Switch all the traffic back on a breach. V(false) only fails, leaving the traffic as it is.
        type: bool
        default: true
      rollback_to:
        description:
          - The colour to switch back to. Defaults to the colour that had all the live traffic before this call; required
            when the traffic was split before it (a step of a switch in weighted steps).
        type: str
        choices: [blue, green]
"""
