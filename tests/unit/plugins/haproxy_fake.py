# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake HAProxy runtime API and a module runner, shared by the HAProxy unit tests.

The fake is a real socket listener (unix or TCP on 127.0.0.1) that speaks the runtime API's
non-interactive protocol: read one line, answer, close. Its answers are the exact texts
HAProxy 2.6.12 (Debian 12) gives, captured from a real process:
  success of set/add/del map -> "\\n"; errors and listings end with a blank line ("...\\n\\n").
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import tempfile
import threading

from ansible_collections.bluegreen.core.tests.unit.plugins.modules.module_helpers import module_args

STAT_HEADER = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,"
    "bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,"
    "check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,"
    "req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,"
    "rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,"
    "agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,"
    "wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,"
    "idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,"
    "agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,"
    "h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,"
    "h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,"
    "h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,"
    "h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,"
)
STAT_COLUMNS = STAT_HEADER[2:].split(",")

# Exact error answers of HAProxy 2.6.12.
UNKNOWN_MAP = "Unknown map identifier. Please use #<id> or <file>.\n\n"
ENTRY_NOT_FOUND = "entry not found.\n\n"
KEY_NOT_FOUND = "Key not found.\n\n"
NO_SUCH_PROXY = "No such proxy.\n\n"
PERMISSION_DENIED = "Permission denied\n\n"
UNKNOWN_COMMAND = (
    "Unknown command, but maybe one of the following ones is a better match:\n"
    "  clear acl [@<ver>] <acl>                : clear the contents of this acl\n"
    "  get var <name>                          : retrieve contents of a process-wide variable\n"
    "  help [<command>]                        : list matching or all commands\n"
    "  quit                                    : disconnect\n\n"
)


def server(name: str, *, status: str = "UP", check_status: str = "L7OK", scur: int = 0, qcur: int = 0,
           addr: str = "127.0.0.1:8001", weight: int = 1, stot: int = 0, hrsp_2xx: int = 0, hrsp_5xx: int = 0) -> dict:
    """One fake server's counters, as they appear in show stat."""
    return {
        "svname": name, "status": status, "check_status": check_status, "scur": scur, "qcur": qcur, "addr": addr,
        "weight": weight, "stot": stot, "req_tot": stot, "hrsp_2xx": hrsp_2xx, "hrsp_5xx": hrsp_5xx,
        "check_desc": {"L7OK": "Layer7 check passed", "L4CON": "Layer4 connection problem"}.get(check_status, ""),
    }


def _csv_row(values: dict) -> str:
    return ",".join("" if values.get(column) is None else str(values.get(column, "")) for column in STAT_COLUMNS)


class FakeHAProxy:
    """State: ``maps`` {file: [[key, value], ...]}, ``backends`` {name: [server dicts]}, ``frontends``.

    ``commands`` records every line received. ``fail_next(prefix, answer)`` makes the next command
    starting with ``prefix`` get ``answer`` instead. ``hang`` accepts connections and never answers.
    ``ignore_sets`` acknowledges set map without changing anything. ``on_command`` is called with each
    command before it is answered (tests use it to move counters).
    """

    def __init__(self, maps: dict | None = None, backends: dict | None = None, tcp: bool = False) -> None:
        self.maps = {path: [list(entry) for entry in entries] for path, entries in (maps or {}).items()}
        self.backends = backends or {}
        self.frontends = ["live", "preview"]
        self.commands: list = []
        self.hang = False
        self.ignore_sets = False
        self.versions: dict = {}  # map file -> {version: entries} prepared and not yet committed
        self.next_version: dict = {}
        self.on_command = None
        self._failures: list = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list = []
        self._dir = tempfile.mkdtemp(prefix="bghap")
        if tcp:
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listener.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        else:
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.address = os.path.join(self._dir, "admin.sock")
            self._listener.bind(self.address)
        self._listener.listen(16)
        self._listener.settimeout(0.01)

    # ---- control

    def __enter__(self) -> FakeHAProxy:
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self._listener.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def fail_next(self, prefix: str, answer: str, count: int = 1) -> None:
        self._failures.append([prefix, answer, count])

    def sent(self, prefix: str) -> list:
        return [command for command in self.commands if command.startswith(prefix)]

    def writes(self) -> list:
        return [c for c in self.commands if c.split(" ", 1)[0] in ("set", "add", "del", "clear", "commit", "prepare")]

    def runtime(self, map_file: str) -> dict:
        return dict(self.maps.get(map_file, []))

    # ---- protocol

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._listener.accept()[0]
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            data = b""
            try:
                while b"\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                return
            command = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
            with self._lock:
                self.commands.append(command)
                if self.on_command is not None:
                    self.on_command(self, command)
                answer = None if self.hang else self._answer(command)
            if answer is None:
                self._stop.wait(10)
                return
            try:
                conn.sendall(answer.encode("utf-8"))
            except OSError:
                pass

    def _answer(self, command: str) -> str:
        for failure in self._failures:
            if command.startswith(failure[0]) and failure[2] > 0:
                failure[2] -= 1
                return failure[1]
        words = command.split(" ")
        handlers = {
            ("show", "map"): self._show_map, ("get", "map"): self._get_map, ("set", "map"): self._set_map,
            ("add", "map"): self._add_map, ("del", "map"): self._del_map, ("show", "stat"): self._show_stat,
            ("prepare", "map"): self._prepare_map, ("commit", "map"): self._commit_map,
        }
        handler = handlers.get(tuple(words[:2]))
        return handler(words[2:]) if handler else UNKNOWN_COMMAND

    def _show_map(self, args: list) -> str:
        if not args:
            lines = ["# id (file) description"]
            for number, path in enumerate(self.maps, start=2):
                lines.append(f"{number} ({path}) pattern loaded from file '{path}' used by map at file "
                             f"'/etc/haproxy/haproxy.cfg' line 20. curr_ver=0 next_ver=0 entry_cnt={len(self.maps[path])}")
            return "\n".join(lines) + "\n\n"
        if args[0] not in self.maps:
            return UNKNOWN_MAP
        entries = self.maps[args[0]]
        if not entries:
            return "\n"
        return "".join(f"0x{0x55d0c0ffee00 + 16 * i:012x} {key} {value}\n" for i, (key, value) in enumerate(entries)) + "\n"

    def _get_map(self, args: list) -> str:
        if args[0] not in self.maps:
            return UNKNOWN_MAP
        for key, value in self.maps[args[0]]:
            if key == args[1]:
                return f'type=str, case=sensitive, found=yes, idx=tree, key="{key}", value="{value}", type="str"\n\n'
        return "type=str, case=sensitive, found=no\n\n"

    def _set_map(self, args: list) -> str:
        if args[0] not in self.maps:
            return UNKNOWN_MAP
        found = [entry for entry in self.maps[args[0]] if entry[0] == args[1]]
        if not found:
            return ENTRY_NOT_FOUND
        if not self.ignore_sets:
            for entry in found:
                entry[1] = " ".join(args[2:])
        return "\n"

    def _add_map(self, args: list) -> str:
        if args[0].startswith("@"):
            version, path = int(args[0][1:]), args[1]
            if path not in self.maps:
                return UNKNOWN_MAP
            if version not in self.versions.get(path, {}):
                return "Version number in the future, please use 'prepare map' before.\n\n"
            self.versions[path][version].append([args[2], " ".join(args[3:])])
            return "\n"
        if args[0] not in self.maps:
            return UNKNOWN_MAP
        self.maps[args[0]].append([args[1], " ".join(args[2:])])
        return "\n"

    def _prepare_map(self, args: list) -> str:
        if args[0] not in self.maps:
            return UNKNOWN_MAP
        version = self.next_version.get(args[0], 0) + 1
        self.next_version[args[0]] = version
        self.versions.setdefault(args[0], {})[version] = []
        return f"New version created: {version}\n\n"

    def _commit_map(self, args: list) -> str:
        version, path = int(args[0][1:]), args[1]
        if path not in self.maps:
            return UNKNOWN_MAP
        if version not in self.versions.get(path, {}):
            return "Version number out of range.\n\n"
        if not self.ignore_sets:
            self.maps[path] = self.versions[path].pop(version)
        self.versions[path] = {}
        return "\n"

    def _del_map(self, args: list) -> str:
        if args[0] not in self.maps:
            return UNKNOWN_MAP
        before = len(self.maps[args[0]])
        self.maps[args[0]] = [entry for entry in self.maps[args[0]] if entry[0] != args[1]]
        return "\n" if len(self.maps[args[0]]) < before else KEY_NOT_FOUND

    def _show_stat(self, args: list) -> str:
        if args and args[0] not in self.backends and args[0] not in self.frontends:
            return NO_SUCH_PROXY
        names = [args[0]] if args else list(self.backends)
        rows = []
        for name in names:
            for srv in self.backends.get(name, []):
                rows.append(_csv_row(dict(srv, pxname=name)))
            if name in self.backends:
                rows.append(_csv_row(self._backend_row(name)))
        return STAT_HEADER + "\n" + "".join(row + "\n" for row in rows) + "\n"

    def _backend_row(self, name: str) -> dict:
        servers = self.backends[name]
        total = {key: sum(s[key] for s in servers) for key in ("scur", "qcur", "stot", "req_tot", "hrsp_2xx", "hrsp_5xx")}
        up = [s for s in servers if s["status"].startswith("UP")]
        rtime = max((s.get("rtime", 0) for s in servers), default=0)
        return dict(total, pxname=name, svname="BACKEND", status="UP" if up else "DOWN", weight=sum(s["weight"] for s in up),
                    rtime=rtime)


def make_map(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def entries_from(text: str) -> list:
    return [line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]


DEFAULT_MAP = "shop shop_blue\nshop.preview shop_green\n"


def default_backends() -> dict:
    return {
        "shop_blue": [server("shop_blue_1", addr="10.0.0.1:8001"), server("shop_blue_2", addr="10.0.0.2:8001")],
        "shop_green": [server("shop_green_1", addr="10.0.0.1:8002"), server("shop_green_2", addr="10.0.0.2:8002")],
    }


# Two apps (and a third one's line) sharing one map, as on a router with many apps.
TWO_APPS_MAP = "shop shop_blue\nshop.preview shop_green\ncart cart_green\ncart.preview cart_blue\nother other_blue\n"


def two_apps_backends() -> dict:
    return dict(default_backends(), cart_blue=[server("c1", addr="10.0.0.1:8101")], cart_green=[server("c2", addr="10.0.0.1:8102")])


class Lab:
    """A fake HAProxy that knows one map file on disk, plus the state dir of the app ``shop``."""

    def __init__(self, root: str, map_text: str = DEFAULT_MAP, backends: dict | None = None, tcp: bool = False,
                 loaded: bool = True) -> None:
        self.map_file = os.path.join(root, "maps", "shop.map")
        self.state_dir = os.path.join(root, "state")
        make_map(self.map_file, map_text)
        maps = {self.map_file: entries_from(map_text)} if loaded else {}
        self.fake = FakeHAProxy(maps=maps, backends=default_backends() if backends is None else backends, tcp=tcp)

    def __enter__(self) -> Lab:
        self.fake.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.fake.__exit__(*exc_info)

    def args(self, **overrides: object) -> dict:
        args = {"app": "shop", "socket": self.fake.address, "map_file": self.map_file, "state_dir": self.state_dir,
                "timeout": 2.0}
        args.update(overrides)
        return args

    def map_text(self) -> str:
        with open(self.map_file, encoding="utf-8") as handle:
            return handle.read()

    def map_bytes(self) -> bytes:
        with open(self.map_file, "rb") as handle:
            return handle.read()

    def runtime(self) -> dict:
        return self.fake.runtime(self.map_file)

    def history_lines(self) -> list:
        path = os.path.join(self.state_dir, "shop", "history.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


class ModuleResult(dict):
    """The JSON a module printed, with ``failed``/``changed`` always present."""


def run_module(module: object, args: dict) -> ModuleResult:
    """Run a module's main() with ``args`` as its parameters; return what it printed (exit or fail).

    Warnings are collected where the module raises them: once controller-side Ansible code has been
    imported in the test process, ansible-core prints module warnings instead of returning them.
    """
    from unittest import mock

    from ansible.module_utils import basic

    warnings: list = []
    out = io.StringIO()
    with module_args(args), contextlib.redirect_stdout(out), mock.patch.object(
        basic.AnsibleModule, "warn", lambda self, warning, *unused, **kw: warnings.append(str(warning))
    ):
        try:
            module.main()  # type: ignore[attr-defined]
        except SystemExit:
            pass
    result = ModuleResult(json.loads(out.getvalue()))
    result.setdefault("failed", False)
    result.setdefault("changed", False)
    result["warnings"] = warnings
    return result


# ``show stat shop_blue 6 -1`` from a real HAProxy 2.6.12 after three requests, verbatim.
REAL_SHOW_STAT_SHOP_BLUE = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,a"
    "ct,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,"
    "check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_ra"
    "te,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,"
    "ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_hea"
    "lth,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon"
    ",dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,ei"
    "nt,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,a"
    "gg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,"
    "h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_str"
    "eam_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_stre"
    "ams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spli"
    "ced_bytes_in,h1_spliced_bytes_out,\n"
    "shop_blue,shop_blue_1,0,0,0,1,,1,82,119,,0,,0,0,0,0,UP,1,1,0,1,1,360,1,,1,4,1,,1,,2,0,,1,L7OK,200,2,0,1,0,0,0,"
    "0,,,,1,0,0,,,,,46,,,0,0,0,0,,,,Layer7 check passed,,2,3,4,,,,127.0.0.1:18101,,http,,,,,,,,0,1,0,,,0,,0,0,0,0,0"
    ",0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n"
    "shop_blue,shop_blue_2,0,0,0,1,,1,90,119,,0,,0,0,0,0,UP,1,1,0,0,0,361,0,,1,4,2,,1,,2,0,,1,L7OK,200,2,0,1,0,0,0,"
    "0,,,,1,0,0,,,,,52,,,0,0,4003,4003,,,,Layer7 check passed,,2,3,4,,,,127.0.0.1:18102,,http,,,,,,,,0,1,0,,,0,,0,0"
    ",4003,4003,0,0,0,0,2,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n"
    "shop_blue,BACKEND,0,0,0,1,1,2,172,238,0,0,,0,0,0,0,UP,2,2,0,,0,361,0,,1,4,0,,2,,1,0,,1,,,,0,2,0,0,0,0,,,,2,0,0"
    ",0,0,0,0,46,,,0,0,2002,2002,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,2,0,0,0,,,0,0,4003,4003,0,,,,,2,0,0,0,-,0,0,0"
    ",0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1439,1439,164123,34630,0,0,\n"
    "\n"
)
