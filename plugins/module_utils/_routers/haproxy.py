# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HAProxy router: the app's map entries, switched with the runtime API (``_haproxy``), no reload; a weighted step
gives the other colour a share of the clients, each kept on its colour by the hash of its sticky key.

PRIVATE to the bluegreen.core collection: may change without notice.
"""

from __future__ import annotations

import os

from ansible_collections.bluegreen.core.plugins.module_utils import _apps, _fs, _haproxy, _history, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._routers import base

_COLOUR_STRINGS = {"type": "dict", "options": {"blue": {"type": "str"}, "green": {"type": "str"}}}


class HAProxy(base.Router):
    KIND = "haproxy"
    COUNTERS = True
    # One stats command on the runtime socket beside the module: cheap enough to read five times a second, so the
    # watch sees a breach within a fraction of a second of HAProxy counting it.
    SAMPLE_EVERY_S = 0.2
    OPTIONS = {
        "socket": {"type": "str", "default": _haproxy.DEFAULT_SOCKET},
        "timeout": {"type": "float", "default": _haproxy.DEFAULT_TIMEOUT},
        "map_file": {"type": "path"},
        "backends": dict(_COLOUR_STRINGS),
        "conf_dir": {"type": "path", "default": "/etc/haproxy/bluegreen.d"},
    }
    CHANGE_OPTIONS = {
        "colour": {"type": "str", "required": True, "choices": [*_validate.COLOURS, "previous"]},
        "weight": {"type": "int", "default": 100},
        "preview": {"type": "bool", "default": True},
        "force": {"type": "bool", "default": False},
        "drain": {"type": "bool", "default": False},
        "drain_timeout": {"type": "int", "default": 30},
        "stage": {"type": "bool", "default": False},
        "commit_at": {"type": "float"},
    }

    def validate(self) -> None:
        params = self.params
        self.layout = _haproxy.Layout(params["app"], params["map_file"], params["backends"])
        _haproxy.validate_socket(params["socket"])
        if params.get("drain_timeout") is not None:
            _validate.at_least(params["drain_timeout"], 0, "drain_timeout", " seconds")
        if "weight" in params:
            self.validate_weight()
        if params.get("commit_at") is not None:
            if params["stage"]:
                raise _validate.ValidationError("commit_at commits a change and stage only checks it: give one of them",
                                                "commit_at")
            _validate.commit_instant(params["commit_at"], _haproxy.COMMIT_WAIT_MAX_S)

    def connect(self) -> None:
        self.api = _haproxy.RuntimeAPI(self.params["socket"], self.params["timeout"])

    # ---- reading

    def current(self) -> dict | None:
        return _haproxy.plan_switch(self.api, self.layout, "blue", False).from_weights

    def read(self, limit: int) -> dict:
        routing = _haproxy.read_routing(self.api, self.layout)
        live = routing["live_colour"]
        backends = routing["backends"]
        # Both sources name a routing, and they differ: a switch to a named colour writes one routing to both.
        drifted = (live is not None and routing["file_weights"] is not None
                   and _history.shares(routing["weights"]) != _history.shares(routing["file_weights"]))
        history = _history.report(self.params["state_dir"], self.layout.app, routing["weights"], "HAProxy", limit,
                                  mismatch="went to {to}, but {where} routes it to {now}")
        state = base.state(
            self,
            weights=routing["weights"],
            sources_agree=live is not None and _history.shares(routing["weights"]) == _history.shares(routing["file_weights"]),
            drifted=drifted,
            problems=routing["problems"],
            says=f"runtime map {_history.describe(routing['weights']) if live else 'nothing'}, map file "
                 f"{_history.describe(routing['file_weights']) if routing['map_file_colour'] else 'nothing'}",
            colours={c: f"{backends[c]['up']}/{backends[c]['total']} up" for c in _validate.COLOURS},
            endpoints={c: [server["addr"] for server in backends[c]["servers"] if server["addr"]] for c in _validate.COLOURS},
            healthy={c: backends[c]["up"] > 0 for c in _validate.COLOURS},
            counters={c: {"requests": backends[c]["requests"], "http_5xx": backends[c]["http_5xx"]} for c in _validate.COLOURS},
            history=history,
            lock=base.read_lock(self.params),
            maintenance=routing["maintenance"],
            step_probe_headers=self.step_probe_headers(),
        )
        return dict(state, map_file=self.layout.map_file, map_file_colour=routing["map_file_colour"],
                    preview_colour=routing["preview_colour"], backends=backends)

    def step_probe_headers(self) -> dict | None:
        """The headers that put a probe in bucket 0 of the app's weighted steps, from the sticky setting its file's
        claim records (``<conf_dir>/<app>.cfg``, as provisioned); None when that file cannot be read or has none."""
        try:
            text = _fs.read_text(os.path.join(self.params["conf_dir"], f"{self.layout.app}.cfg"))
        except (OSError, UnicodeDecodeError):
            return None
        return _haproxy.watch_probe_headers((_apps.read_claim(text) or {}).get("sticky"))

    def sample(self, colour: str) -> dict:
        return _haproxy.read_counts(self.api, self.layout, colour)

    # ---- changing

    def plan(self, colour: str, weights: dict) -> _haproxy.SwitchPlan:
        return _haproxy.plan_switch(self.api, self.layout, colour, self.params["preview"], (weights or {}).get(colour, 100))

    def gate(self, plan: _haproxy.SwitchPlan) -> dict:
        """Both backends must exist; live traffic only moves to a backend with an UP server, unless forced."""
        target = _haproxy.read_backend(self.api, self.layout, plan.colour)
        _haproxy.read_backend(self.api, self.layout, _validate.other_colour(plan.colour))
        servers = _haproxy.describe_servers(target["servers"])
        if target["up"] == 0:
            if plan.moves_live_traffic and not self.params["force"]:
                raise base.Refused(_haproxy.refuse_unhealthy(self.layout, plan.colour, target), servers=target["servers"])
            if plan.moves_live_traffic:
                self.module.warn(f"routing {self.layout.app} to {plan.colour} with force=true although none of its servers is UP ({servers})")
            else:
                self.module.warn(f"{self.layout.app} is already routed to {plan.colour}, but none of its servers is UP ({servers})")
        return {"servers": target["servers"]}

    def result(self, plan: _haproxy.SwitchPlan, gate: dict) -> dict:
        return {
            "changed": plan.changed,
            "app": self.layout.app,
            "colour": plan.colour,
            "weight": plan.weight,
            "weights": plan.weights,
            "previous_colour": plan.previous_colour,
            "preview_colour": plan.preview_colour,
            "servers": gate["servers"],
            "cutover_ms": None,
            "total_ms": None,
            "drain": None,
            "history_entry": None,
        }

    def stage(self, plan: _haproxy.SwitchPlan) -> dict:
        return _haproxy.stage_switch(self.api, plan)

    def apply(self, plan: _haproxy.SwitchPlan) -> dict:
        try:
            return _haproxy.apply_switch(self.api, plan, commit_at=self.params.get("commit_at"))
        except _haproxy.SwitchFailed as exc:
            raise base.SwitchFailed(str(exc), attempted=exc.cutover_attempted, restored=exc.restored) from None

    def details(self, plan: _haproxy.SwitchPlan, result: dict) -> dict:
        return {"cutover_ms": result["cutover_ms"]}

    def unchanged(self, plan: _haproxy.SwitchPlan) -> None:
        """A commit this router needs nothing for still waits for its instant: the watch that follows it in the same
        call (on the first router) then starts when the other routers move, and probes their live ports after it."""
        if self.params.get("commit_at") is not None:
            _haproxy.wait_until(self.params["commit_at"])

    def after(self, plan: _haproxy.SwitchPlan, result: dict) -> None:
        """With drain=true, wait for the other colour's sessions to end (never killing any)."""
        if not self.params["drain"]:
            return
        backend = self.layout.backends[_validate.other_colour(plan.colour)]
        try:
            outcome = _haproxy.wait_for_drain(self.api, backend, self.params["drain_timeout"])
        except _haproxy.HAProxyError as exc:
            self.module.warn(f"stopped waiting for {backend} to drain: {exc}")
            outcome = {"backend": backend, "completed": False, "remaining_sessions": None, "waited_s": None, "error": str(exc)}
        else:
            if not outcome["completed"]:
                self.module.warn(
                    f"{outcome['remaining_sessions']} sessions were still open on {backend} after {outcome['waited_s']}s; "
                    "they were left running (new requests already go to the new colour)"
                )
        result["drain"] = outcome
