# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # How the HAProxy modules reach HAProxy's runtime API and which names an app's routing uses.
    DOCUMENTATION = r"""
options:
  socket:
    description:
      - HAProxy's admin socket (the C(stats socket) line of C(haproxy.cfg), which needs C(level admin)).
      - Either an absolute unix socket path, or C(host:port) / C(ipv4@host:port) for a TCP stats socket.
      - The module runs on the router host, so the path is on that host. Reading a unix socket created
        with C(mode 660) needs root (C(become=true)) or membership of the socket's group.
    type: str
    default: /run/haproxy/admin.sock
  timeout:
    description:
      - Seconds allowed for each runtime API command, from connecting to the end of HAProxy's answer.
      - A socket that accepts the connection but never answers fails the task after this time.
    type: float
    default: 5.0
  map_file:
    description:
      - The map file the app's frontends look up, exactly as written in the C(map()) converter of
        C(haproxy.cfg). HAProxy identifies runtime maps by this path.
      - Defaults to C(/etc/haproxy/maps/<app>.map), as rendered by the C(bluegreen.core.haproxy) role.
    type: path
  backends:
    description:
      - The HAProxy backend of each colour.
      - Defaults to C(<app>_blue) and C(<app>_green).
    type: dict
    suboptions:
      blue:
        description: Backend that serves the blue colour. Defaults to C(<app>_blue).
        type: str
      green:
        description: Backend that serves the green colour. Defaults to C(<app>_green).
        type: str
  conf_dir:
    description:
      - The folder of the app's HAProxy file, C(<conf_dir>/<app>.cfg), as C(bluegreen.core.haproxy_app) writes it
        (the C(bluegreen_haproxy_conf_dir) of the roles).
      - Only read, for the sticky setting the file records (the router state's C(step_probe_headers)); a file that
        cannot be read gives none.
    type: path
    default: /etc/haproxy/bluegreen.d
notes:
  - The map file holds two lines per app, C(<app> <app>_<live colour>) for the live frontend and
    C(<app>.preview <app>_<idle colour>) for the preview frontend.
seealso:
  - name: HAProxy 2.6 management guide, runtime API
    description: The C(show map), C(set map), C(get map) and C(show stat) commands used here.
    link: https://docs.haproxy.org/2.6/management.html#9.3
"""
