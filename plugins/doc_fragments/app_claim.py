# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The options of an app's claim on a router that haproxy_app and nginx_app share (module_utils/_apps.py CLAIM_ARGUMENTS).
    DOCUMENTATION = r"""
options:
  app:
    description: The app. Letters, digits, C(_), C(-) and C(.), starting with a letter or digit.
    type: str
    required: true
  router:
    description: The router's name in messages (the inventory name). Defaults to the host name.
    type: str
  colour_header:
    description: Add C(X-Bluegreen-Colour) to every response.
    type: bool
    default: true
  bind_address:
    description: The address the app's listeners bind to.
    type: str
    default: "*"
  listen_port:
    description: The live listener's port, the app's own, or with O(hostnames) the shared one.
    type: int
    default: 80
  preview_port:
    description: The app's own preview listener (the idle colour); 0 for none, when O(preview_hostnames) are set.
    type: int
    default: 8080
  path_prefix:
    description: With O(hostnames), the path (and everything below it) the app serves on them; the longest prefix wins.
    type: str
    default: /
  tls_certificate:
    description: A PEM file on the router with the certificate (and its chain) and the private key.
    type: path
  tls_certificate_content:
    description: The same PEM as text, for a certificate kept in a vault; never logged or shown in a diff.
    type: str
  tls_redirect:
    description: Answer the app's plain HTTP requests with a 301 to HTTPS (path and query kept).
    type: bool
    default: false
"""
