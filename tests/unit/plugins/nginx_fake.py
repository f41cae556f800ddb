# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake nginx host in a temp dir, shared by the Nginx unit tests.

- The app's files, laid out as the nginx role renders them (``conf/shop/...``), with the
  colours' servers on loopback ports that really listen (or really refuse).
- A fake ``/proc`` (``proc/``): a master PID in ``nginx.pid`` and its worker processes, each with
  ``stat``, ``cmdline`` and the master's ``task/<pid>/children``; the module reads it through
  ``_nginx.PROC_ROOT``.
- ``bin/nginx``: ``-t -c <conf>`` reads the conf's ``include`` lines and fails, with the texts
  nginx 1.22.1 prints, when an included file is missing or holds ``BROKEN``.
- ``bin/reload``: does what ``reload-plan`` says next (``ok`` by default): ``ok`` starts two new
  workers and marks the old ones as shutting down, and records which files it "loaded";
  ``stuck`` does nothing; ``emerg`` logs a bind() failure as the master, like a real reload that
  cannot apply its config; ``fail`` exits 1; ``ok-alert`` is ``ok`` plus an alert from an old worker.

This file imports only the standard library: the fake executables import it by path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import time

MASTER = 1000
HZ = os.sysconf("SC_CLK_TCK")
UPTIME = 1000.0
_INCLUDE_RE = re.compile(r"^\s*include\s+(\S+);")


def _now() -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S")


# --------------------------------------------------------------------------- fake /proc


class FakeProc:
    """Processes as /proc shows them; ``age`` makes a process look started that many seconds ago."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)
        if not os.path.exists(os.path.join(root, "uptime")):
            with open(os.path.join(root, "uptime"), "w", encoding="utf-8") as handle:
                handle.write(f"{UPTIME:.2f} 1999.00\n")

    def add(self, pid: int, ppid: int, title: str, age: float = 0.0) -> None:
        directory = os.path.join(self.root, str(pid))
        os.makedirs(os.path.join(directory, "task", str(pid)), exist_ok=True)
        ticks = int((UPTIME - age) * HZ)
        with open(os.path.join(directory, "stat"), "w", encoding="utf-8") as handle:
            handle.write(f"{pid} (nginx) S {ppid} " + "0 " * 17 + f"{ticks} 0 0\n")
        self.set_title(pid, title)
        self._write_children(pid)
        self._write_children(ppid)

    def set_title(self, pid: int, title: str) -> None:
        # nginx overwrites its argv with the title and pads with NULs.
        with open(os.path.join(self.root, str(pid), "cmdline"), "w", encoding="utf-8") as handle:
            handle.write(title + "\x00" * 8)

    def remove(self, pid: int) -> None:
        parent = self.parent(pid)
        shutil.rmtree(os.path.join(self.root, str(pid)), ignore_errors=True)
        if parent is not None:
            self._write_children(parent)

    def pids(self) -> list:
        return sorted(int(entry) for entry in os.listdir(self.root) if entry.isdigit())

    def parent(self, pid: int) -> int | None:
        try:
            with open(os.path.join(self.root, str(pid), "stat"), encoding="utf-8") as handle:
                return int(handle.read().split(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return None

    def title(self, pid: int) -> str:
        with open(os.path.join(self.root, str(pid), "cmdline"), encoding="utf-8") as handle:
            return handle.read().strip("\x00")

    def children(self, pid: int) -> list:
        return [child for child in self.pids() if self.parent(child) == pid]

    def _write_children(self, pid: int) -> None:
        task = os.path.join(self.root, str(pid), "task", str(pid))
        if os.path.isdir(task):
            with open(os.path.join(task, "children"), "w", encoding="utf-8") as handle:
                handle.write("".join(f"{child} " for child in self.children(pid)))

    def workers(self, master: int = MASTER) -> dict:
        result: dict = {"active": [], "shutting_down": []}
        for child in self.children(master):
            title = self.title(child)
            if title == "nginx: worker process":
                result["active"].append(child)
            elif title == "nginx: worker process is shutting down":
                result["shutting_down"].append(child)
        return result


# --------------------------------------------------------------------------- the fake executables


def _includes(conf: str) -> list:
    found = []
    with open(conf, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            match = _INCLUDE_RE.match(line)
            if match:
                found.append((match.group(1), number))
    return found


def _config_error(conf: str) -> str | None:
    """The error nginx -t would print first, or None when the config is fine."""
    pid = os.getpid()
    for path, number in _includes(conf):
        if not os.path.exists(path):
            return f'{_now()} [emerg] {pid}#{pid}: open() "{path}" failed (2: No such file or directory) in {conf}:{number}'
        with open(path, encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if "BROKEN" in line:
                    return f'{_now()} [emerg] {pid}#{pid}: unknown directive "BROKEN" in {path}:{line_number}'
                bad = re.search(r"\bweight=0\b", line)
                if bad:
                    return f'{_now()} [emerg] {pid}#{pid}: invalid parameter "weight=0" in {path}:{line_number}'
    return None


def fake_nginx(lab: str, argv: list) -> int:
    with open(os.path.join(lab, "nginx-calls.log"), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(argv) + "\n")
    if argv[:2] != ["-t", "-c"] or len(argv) != 3:
        print(f"fake nginx: unsupported arguments {argv}", file=sys.stderr)
        return 2
    conf = argv[2]
    error = _config_error(conf)
    if error:
        print(error, file=sys.stderr)
        print(f"nginx: configuration file {conf} test failed", file=sys.stderr)
        return 1
    print(f"nginx: the configuration file {conf} syntax is ok", file=sys.stderr)
    print(f"nginx: configuration file {conf} test is successful", file=sys.stderr)
    return 0


def _next_outcome(lab: str) -> str:
    path = os.path.join(lab, "reload-plan")
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle if line.strip()]
    except FileNotFoundError:
        return "ok"
    if not lines:
        return "ok"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines[1:]))
    return lines[0]


def _log(lab: str, line: str) -> None:
    with open(os.path.join(lab, "error.log"), "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def fake_reload(lab: str, argv: list) -> int:
    outcome = _next_outcome(lab)
    with open(os.path.join(lab, "reload-calls.log"), "a", encoding="utf-8") as handle:
        handle.write(outcome + "\n")
    proc = FakeProc(os.path.join(lab, "proc"))
    if outcome == "fail":
        print("Job for nginx.service failed because the control process exited with error code.", file=sys.stderr)
        return 1
    if outcome == "stuck":
        return 0
    if outcome == "emerg":
        _log(lab, f"{_now()} [emerg] {MASTER}#{MASTER}: bind() to 127.0.0.1:80 failed (98: Address already in use)")
        return 0
    if _config_error(os.path.join(lab, "nginx.conf")):
        _log(lab, f"{_now()} [emerg] {MASTER}#{MASTER}: the configuration does not load")
        return 0
    workers = proc.workers()
    for pid in workers["shutting_down"]:
        proc.remove(pid)
    for pid in workers["active"]:
        proc.set_title(pid, "nginx: worker process is shutting down")
    first = max(proc.pids()) + 1
    for pid in (first, first + 1):
        proc.add(pid, MASTER, "nginx: worker process")
    if outcome == "ok-alert" and workers["active"]:
        old = workers["active"][0]
        _log(lab, f"{_now()} [alert] {old}#{old}: *12 open socket #15 left in connection 3")
    loaded = {path: os.path.realpath(path) for path, _number in _includes(os.path.join(lab, "nginx.conf"))}
    with open(os.path.join(lab, "loaded.json"), "w", encoding="utf-8") as handle:
        json.dump(loaded, handle)
    return 0


def _script(lab: str, entry: str) -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    return (
        f"#!{sys.executable}\n"
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('nginx_fake', {os.path.join(here, 'nginx_fake.py')!r})\n"
        "fake = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(fake)\n"
        f"sys.exit(fake.{entry}({lab!r}, sys.argv[1:]))\n"
    )


# --------------------------------------------------------------------------- the lab


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """One app, ``shop``, blue live with two servers per colour; all paths under ``root``."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.conf_dir = os.path.join(root, "conf")
        self.app_dir = os.path.join(self.conf_dir, "shop")
        self.state_dir = os.path.join(root, "state")
        self.proc_root = os.path.join(root, "proc")
        self.nginx_conf = os.path.join(root, "nginx.conf")
        self.pid_file = os.path.join(root, "nginx.pid")
        self.error_log = os.path.join(root, "error.log")
        self.bin = os.path.join(root, "bin")
        self.listeners = [_listener() for _index in range(4)]
        self.ports = {
            "blue": [sock.getsockname()[1] for sock in self.listeners[:2]],
            "green": [sock.getsockname()[1] for sock in self.listeners[2:]],
        }
        os.makedirs(self.app_dir)
        os.makedirs(self.bin)
        for colour in ("blue", "green"):
            self.write_upstream(colour)
            servers = "".join(f"server 127.0.0.1:{port}; " for port in self.ports[colour])
            self.write(f"preview-{colour}.conf", f"upstream shop_preview {{ {servers}}}\n")
        os.symlink("upstream-blue.conf", self.path("live.conf"))
        os.symlink("preview-green.conf", self.path("preview.conf"))
        # Rendered before nginx started (its workers are 60 s old): nginx has loaded these links.
        rendered = time.time() - 120
        for link in ("live.conf", "preview.conf"):
            os.utime(self.path(link), (rendered, rendered), follow_symlinks=False)
        with open(self.nginx_conf, "w", encoding="utf-8") as handle:
            handle.write(
                "# the http context of a real nginx.conf\n"
                f"include {self.path('live.conf')};\n"
                f"include {self.path('preview.conf')};\n"
            )
        with open(self.pid_file, "w", encoding="utf-8") as handle:
            handle.write(f"{MASTER}\n")
        with open(self.error_log, "w", encoding="utf-8") as handle:
            handle.write(f"{_now()} [notice] {MASTER}#{MASTER}: start worker processes\n")
        self.proc = FakeProc(self.proc_root)
        self.proc.add(MASTER, 1, "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;", age=60)
        self.proc.add(MASTER + 1, MASTER, "nginx: worker process", age=60)
        self.proc.add(MASTER + 2, MASTER, "nginx: worker process", age=60)
        for name, entry in (("nginx", "fake_nginx"), ("reload", "fake_reload")):
            path = os.path.join(self.bin, name)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(_script(root, entry))
            os.chmod(path, 0o755)

    def close(self) -> None:
        for sock in self.listeners:
            sock.close()

    def path(self, name: str) -> str:
        return os.path.join(self.app_dir, name)

    def write(self, name: str, text: str) -> None:
        with open(self.path(name), "w", encoding="utf-8") as handle:
            handle.write(text)

    def write_upstream(self, colour: str, servers: list | None = None, extra: str = "keepalive 32;") -> None:
        """upstream-<colour>.conf as the role renders it; ``servers`` are full server-line bodies."""
        servers = servers or [f"127.0.0.1:{port}" for port in self.ports[colour]]
        body = "".join(f"    server {server};\n" for server in servers)
        self.write(f"upstream-{colour}.conf", f"# {colour}: rendered by the nginx role\nupstream shop_live {{\n{body}    {extra}\n}}\n")

    def args(self, **overrides: object) -> dict:
        args = {
            "app": "shop",
            "conf_dir": self.conf_dir,
            "nginx_binary": os.path.join(self.bin, "nginx"),
            "nginx_conf": self.nginx_conf,
            "reload_command": [os.path.join(self.bin, "reload")],
            "pid_file": self.pid_file,
            "error_log": self.error_log,
            "state_dir": self.state_dir,
            "reload_timeout": 3.0,
        }
        args.update(overrides)
        return args

    def link(self, name: str) -> str | None:
        try:
            return os.readlink(self.path(name))
        except FileNotFoundError:
            return None

    def read(self, name: str) -> str | None:
        try:
            with open(self.path(name), encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def snapshot(self) -> dict:
        """Every entry of the app's folder: a link's target or a file's bytes."""
        state = {}
        for entry in sorted(os.listdir(self.app_dir)):
            path = self.path(entry)
            if os.path.islink(path):
                state[entry] = ("link", os.readlink(path))
            else:
                with open(path, "rb") as handle:
                    state[entry] = ("file", handle.read())
        return state

    def plan_reloads(self, *outcomes: str) -> None:
        with open(os.path.join(self.root, "reload-plan"), "w", encoding="utf-8") as handle:
            handle.write("".join(outcome + "\n" for outcome in outcomes))

    def reloads(self) -> list:
        return self._lines("reload-calls.log")

    def nginx_calls(self) -> list:
        return [json.loads(line) for line in self._lines("nginx-calls.log")]

    def loaded(self) -> dict | None:
        """What the fake nginx's last successful reload loaded: include path -> resolved file."""
        try:
            with open(os.path.join(self.root, "loaded.json"), encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None

    def loaded_live(self) -> str | None:
        loaded = self.loaded()
        return os.path.basename(loaded[self.path("live.conf")]) if loaded else None

    def history_lines(self) -> list:
        return [json.loads(line) for line in self._lines(os.path.join(self.state_dir, "shop", "history.jsonl"))]

    def _lines(self, name: str) -> list:
        try:
            with open(os.path.join(self.root, name), encoding="utf-8") as handle:
                return [line.rstrip("\n") for line in handle if line.strip()]
        except FileNotFoundError:
            return []
