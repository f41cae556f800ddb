# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Commands the modules run on a host (nginx, systemctl, journalctl): no shell, a bound on time, errors in words.

PRIVATE to the bluegreen.core collection: may change without notice.
"""

from __future__ import annotations

import os
import subprocess

from ansible_collections.bluegreen.core.plugins.module_utils._errors import BluegreenError

TIMEOUT = 120.0


def run(args: list, timeout: float = TIMEOUT, error: type = BluegreenError) -> tuple:
    """(rc, stdout, stderr) of a command run without a shell, in the C locale; a missing program, one that cannot be
    run, or one that does not finish within ``timeout`` seconds raises ``error``."""
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, check=False, env=dict(os.environ, LC_ALL="C"))
    except FileNotFoundError:
        raise error(f"{args[0]} was not found: is it installed, and on the PATH of the user the task runs as?") from None
    except PermissionError:
        raise error(f"{args[0]} cannot be run: permission denied") from None
    except subprocess.TimeoutExpired:
        raise error(f"`{' '.join(args)}` did not finish within {timeout:g}s") from None
    return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
