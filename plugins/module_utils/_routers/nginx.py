# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Nginx router: an include link swapped atomically, ``nginx -t``, a reload proved by new workers (``_nginx``); the
watch's per-colour counts from the app's counts log (``_nginx_log``).

PRIVATE to the bluegreen.core collection: may change without notice.
"""

from __future__ import annotations

import json
import os

from ansible_collections.bluegreen.core.plugins.module_utils import _history, _nginx, _nginx_log, _validate
from ansible_collections.bluegreen.core.plugins.module_utils._errors import os_error_text
from ansible_collections.bluegreen.core.plugins.module_utils._routers import base

# What to do about a counts log that does not exist (a router provisioned before nginx wrote one, or with another path).
_PROVISION_AGAIN = "provision the app again with bluegreen.core.nginx so that nginx writes it"


def _command_word(value: object, param: str) -> str:
    if not isinstance(value, str) or not value or any(ch in value for ch in "\n\r\x00"):
        raise _validate.ValidationError(f"{param} must be a non-empty string without newlines, got {value!r}", param)
    return value


class Nginx(base.Router):
    KIND = "nginx"
    COUNTERS = True
    # What nginx appended to the app's counts log since the last sample: a read of a local file, cheap enough five
    # times a second.
    SAMPLE_EVERY_S = 0.2
    OPTIONS = {
        "conf_dir": {"type": "path", "default": _nginx.DEFAULT_CONF_DIR},
        "pid_file": {"type": "path", "default": _nginx.DEFAULT_PID_FILE},
        "counts_log": {"type": "path"},
    }
    CHANGE_OPTIONS = {
        "colour": {"type": "str", "required": True, "choices": [*_validate.COLOURS, "previous"]},
        "weight": {"type": "int", "default": 100},
        "nginx_binary": {"type": "str", "default": "nginx"},
        "nginx_conf": {"type": "path", "default": _nginx.DEFAULT_NGINX_CONF},
        "reload_command": {"type": "list", "elements": "str", "default": list(_nginx.DEFAULT_RELOAD_COMMAND)},
        "error_log": {"type": "path", "default": _nginx.DEFAULT_ERROR_LOG},
        "reload_timeout": {"type": "float", "default": _nginx.DEFAULT_RELOAD_TIMEOUT},
        "preview": {"type": "bool", "default": True},
        "force": {"type": "bool", "default": False},
    }

    def validate(self) -> None:
        params = self.params
        self.layout = _nginx.Layout(params["conf_dir"], params["app"])
        self.counts_log = _nginx_log.counts_path(params["counts_log"], params["app"])
        self.counts: _nginx_log.CountsLog | None = None
        if "colour" not in params:
            return
        self.validate_weight()
        _command_word(params["nginx_binary"], "nginx_binary")
        command = params["reload_command"]
        if not command:
            raise _validate.ValidationError("reload_command must name a command, for example [systemctl, reload, nginx]",
                                            "reload_command")
        for index, word in enumerate(command):
            _command_word(word, f"reload_command[{index}]")
        if not 0 < params["reload_timeout"] <= 600:
            raise _validate.ValidationError(
                f"reload_timeout must be above 0 and at most 600 seconds, got {params['reload_timeout']}", "reload_timeout")

    def nginx(self) -> _nginx.Nginx:
        params = self.params
        return _nginx.Nginx(binary=params["nginx_binary"], conf=params["nginx_conf"], reload_command=params["reload_command"],
                            pid_file=params["pid_file"], error_log=params["error_log"], reload_timeout=params["reload_timeout"])

    # ---- reading

    def current(self) -> dict | None:
        return _nginx.plan_switch(self.layout, "blue", 100, self.params["preview"]).previous_weights

    def read(self, limit: int) -> dict:
        config = _nginx.read_config(self.layout, self.params["pid_file"])
        history = _history.report(self.params["state_dir"], self.layout.app, config["weights"], _nginx.LIVE_LINK, limit)
        says = (f"traffic split {json.dumps(config['weights'])}" if config["split"]
                else f"{_nginx.LIVE_LINK} -> {config['live_target'] or 'nothing'}")
        state = base.state(
            self,
            weights=config["weights"],
            sources_agree=not config["problems"],
            problems=config["problems"],
            says=says,
            colours={c: f"{len(config['servers'][c])} servers" for c in _validate.COLOURS},
            endpoints={c: [server["address"] for server in config["servers"][c]] for c in _validate.COLOURS},
            healthy=dict.fromkeys(_validate.COLOURS),  # nginx OSS has no active health checks to ask
            counters=None,
            counters_note=self.counts_note_for_read(),
            history=history,
            lock=base.read_lock(self.params),
        )
        return dict(config, **state)

    def counts_note_for_read(self) -> str:
        """Where the counts come from: nginx keeps no totals, the watch counts the lines of the app's counts log."""
        note = (f"nginx keeps no totals per colour: the watch after a switch counts each colour's requests and 5xx in "
                f"what nginx appends to the app's counts log, {self.counts_log}")
        if not os.path.exists(self.counts_log):
            note += f", which does not exist ({_PROVISION_AGAIN})"
        return note

    # ---- watching

    def sample(self, colour: str) -> dict | None:
        """The colour's requests and 5xx since the first sample of this call, from the app's counts log; None when the
        log does not exist then (the watch relies on its probes). A log that cannot be read fails the sample."""
        try:
            if self.counts is None:
                counts = _nginx_log.CountsLog(self.counts_log)
                if not counts.start():
                    self.counts_note = f"nginx writes no counts log at {self.counts_log} ({_PROVISION_AGAIN})"
                    return None
                self.counts = counts
            else:
                self.counts.read()
        except OSError as exc:
            raise _nginx.NginxError(f"the counts log {self.counts_log} cannot be read: {os_error_text(exc)}", "counts_log") from None
        self.counts_note = self.counts.note()
        return self.counts.counts(colour)

    # ---- changing

    def plan(self, colour: str, weights: dict) -> _nginx.SwitchPlan:
        return _nginx.plan_switch(self.layout, colour, weights[colour], self.params["preview"])

    def gate(self, plan: _nginx.SwitchPlan) -> dict:
        """Live traffic only moves to a colour with a server that accepts a connection, unless forced."""
        upstream = plan.upstreams[plan.colour]
        if self.params["force"]:
            return {"servers": [dict(server.summary(), reachable=None, error=None) for server in upstream.servers]}
        results = _nginx.probe_servers(upstream)
        if any(result["reachable"] for result in results):
            return {"servers": results}
        servers = _nginx.describe_unreachable(results)
        if plan.moves_live_traffic:
            raise base.Refused(
                f"refusing to route {plan.layout.app} to {plan.colour}: none of the {len(results)} servers of "
                f"{upstream.path} accepts a TCP connection ({servers}); start them, or use force=true to switch anyway",
                servers=results,
            )
        self.module.warn(f"{plan.layout.app} already routes to {plan.colour}, but none of its servers accepts a TCP connection ({servers})")
        return {"servers": results}

    def result(self, plan: _nginx.SwitchPlan, gate: dict) -> dict:
        return {
            "changed": plan.changed,
            "app": plan.layout.app,
            "colour": plan.colour,
            "weight": plan.weight,
            "weights": plan.weights,
            "live_target": plan.live_after,
            "previous": plan.summary_before(),
            "previous_colour": plan.previous_colour,
            "preview_colour": plan.preview_colour,
            "servers": gate["servers"],
            "reload": None,
            "history_entry": None,
        }

    def check(self, plan: _nginx.SwitchPlan) -> None:
        if self.nginx().master() is None:
            self.module.warn(f"nginx is not running (no live process in {self.params['pid_file']}): a real run would fail")

    def apply(self, plan: _nginx.SwitchPlan) -> dict:
        nginx = self.nginx()
        try:
            reload = _nginx.apply_switch(plan, nginx)
        except _nginx.SwitchFailed as exc:
            raise base.SwitchFailed(str(exc), attempted=exc.reload_attempted, restored=exc.restored) from None
        for warning in nginx.warnings:
            self.module.warn(warning)
        return {"reload": reload}

    def details(self, plan: _nginx.SwitchPlan, result: dict) -> dict:
        return {"reload_s": result["reload"]["seconds"] if result["reload"] else None}
