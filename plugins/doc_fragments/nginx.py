# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Where the Nginx modules find an app's include links and upstream files, and nginx's master process.
    DOCUMENTATION = r"""
options:
  conf_dir:
    description:
      - Directory on the router host that holds one folder per app with its nginx include files, as rendered
        by the C(bluegreen.core.nginx) role.
      - In C(<conf_dir>/<app>/), C(upstream-blue.conf) and C(upstream-green.conf) each define the upstream
        C(<app>_live) with one colour's servers, C(preview-blue.conf) and C(preview-green.conf) define
        C(<app>_preview), and the symlinks C(live.conf) and C(preview.conf), which nginx includes, point at
        one of each. C(upstream-weighted.conf) is written by M(bluegreen.core.nginx_traffic) for a weighted step.
    type: path
    default: /etc/nginx/bluegreen
  pid_file:
    description:
      - The pid file of nginx's master process (the C(pid) directive of C(nginx.conf)). Its worker processes
        are read from C(/proc).
    type: path
    default: /run/nginx.pid
  counts_log:
    description:
      - The app's counts log, the file its live locations log every request to (C(bluegreen.core.nginx_app)'s
        C(counts_log)), from which the watch of M(bluegreen.core.nginx_traffic) counts each colour's requests and 5xx
        responses. Empty or omitted, C(/var/log/nginx/bluegreen-<app>.log).
      - When it does not exist as the watch begins, the watch has only O(bluegreen.core.nginx_traffic#module:watch.checks),
        and is refused before anything changes if there are none.
    type: path
notes:
  - Nginx OSS has no runtime API, so every switch is a change of the include links followed by a graceful
    reload. A reload drops no new connection, but nginx before 1.27.4 can reset idle keep-alive client
    connections while old workers shut down; clients that retry (browsers, most HTTP libraries for GET)
    do not notice, a non-retrying client sending on such a connection sees a reset.
  - Set C(worker_shutdown_timeout) in C(nginx.conf) so that long-lived connections (WebSockets, streams)
    cannot keep old workers, and the old colour's upstream, in use for ever.
seealso:
  - name: nginx upstream module
    description: The C(server) parameters (C(weight), C(backup), C(down)...) kept in the weighted upstream.
    link: https://nginx.org/en/docs/http/ngx_http_upstream_module.html
  - name: Controlling nginx
    description: What a reload does, and how old worker processes finish.
    link: https://nginx.org/en/docs/control.html
"""
