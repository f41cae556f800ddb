# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The router kinds: the one list of them, what the roles need to know about each, and the keys of the state every
router returns.

PRIVATE to the bluegreen.core collection: may change without notice.

The roles never name a router kind: they ask the ``bluegreen.core.router`` filter (which reads this list)
what the kind in ``bluegreen_router`` is like, and include its task folder,
``roles/switch/tasks/routers/<kind>/``. Each kind's driver is ``_routers/<kind>.py`` (its class is named here);
this module imports none of them, so the roles' filters stay cheap. Adding a router adds it here
(docs/architecture.md).
"""

from __future__ import annotations

from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError

# kind -> the driver class in _routers/<kind>.py, and its traits:
#   api       the router is a cloud API, called from bluegreen_aws_host: it has no router hosts
#   preview   its hosts have a preview listener that reaches the idle colour
#   steps     it can give the new colour a share of the live traffic (weighted steps)
#   counters     it counts each colour's requests and 5xx responses (Nginx: in the app's counts log, _nginx_log)
#   maintenance  it can answer the app with a maintenance page (playbooks/maintenance.yml)
#   live_preview a request with the preview header or cookie (bluegreen_preview_value) reaches the idle colour on the
#                live listener
#   staged       its traffic module changes several routers in two phases: stage on all, then commit on all at one
#                instant (the options stage and commit_at)
KINDS = {
    "haproxy": {"driver": "HAProxy", "api": False, "preview": True, "steps": True, "counters": True, "maintenance": True,
                "live_preview": True, "staged": True},
    "nginx": {"driver": "Nginx", "api": False, "preview": True, "steps": True, "counters": True, "maintenance": False,
              "live_preview": True, "staged": False},
    "alb": {"driver": "Alb", "api": True, "preview": False, "steps": True, "counters": True, "maintenance": False,
            "live_preview": False, "staged": False},
    "route53": {"driver": "Route53", "api": True, "preview": False, "steps": True, "counters": False, "maintenance": False,
                "live_preview": False, "staged": False},
}

# The keys of the state every router returns from a read (its info module, or a traffic module's read), beside what
# the router adds about itself (docs/architecture.md, "The router state").
STATE_KEYS = ("router", "label", "live_colour", "previous_colour", "weights", "sources_agree", "drifted", "consistent", "problems",
              "says", "colours", "endpoints", "healthy", "counters", "counters_note", "history", "last_switch", "outcomes",
              "lock", "maintenance", "step_probe_headers")


def traits(kind: object) -> dict:
    """What the roles need to know about a router kind; an unknown kind is an error naming bluegreen_router."""
    known = KINDS.get(kind) if isinstance(kind, str) else None
    if known is None:
        raise BluegreenError(f"bluegreen_router {kind!r} is not a router kind: use one of {', '.join(KINDS)}", "bluegreen_router")
    return {"kind": kind, **{key: value for key, value in known.items() if key != "driver"}}
