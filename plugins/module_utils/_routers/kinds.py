# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The router kinds: the one list of them, and what the roles need to know about each.

PRIVATE to the bluegreen.core collection: may change without notice.

The roles never name a router kind: they ask the ``bluegreen.core.router`` filter (which reads this
list) what the kind in ``bluegreen_router`` is like, and include its task folder,
``roles/switch/tasks/routers/<kind>/``. Adding a router adds its driver here (docs/architecture.md).
"""

from __future__ import annotations

from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError
from ansible_collections.bluegreen.core.plugins.module_utils._routers.alb import Alb
from ansible_collections.bluegreen.core.plugins.module_utils._routers.haproxy import HAProxy
from ansible_collections.bluegreen.core.plugins.module_utils._routers.nginx import Nginx
from ansible_collections.bluegreen.core.plugins.module_utils._routers.route53 import Route53

DRIVERS = {driver.KIND: driver for driver in (HAProxy, Nginx, Alb, Route53)}


def traits(kind: object) -> dict:
    """What the roles need to know about a router kind; an unknown kind is an error naming bluegreen_router."""
    driver = DRIVERS.get(kind) if isinstance(kind, str) else None
    if driver is None:
        raise BluegreenError(f"bluegreen_router {kind!r} is not a router kind: use one of {', '.join(DRIVERS)}", "bluegreen_router")
    return {"kind": driver.KIND, "api": driver.API, "preview": driver.PREVIEW, "steps": driver.STEPS, "counters": driver.COUNTERS}
