"""Sphinx configuration of the docs site (scripts/docs.sh, `make docs`).

The site is built offline: no intersphinx. References that antsibull-docs writes into the Ansible docsite (its
common return values, ansible.builtin's modules, ...) are shown as plain text; every reference inside this
collection must resolve, or the build fails.
"""

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
ROOT = HERE.parent.parent
galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
collection = f"{galaxy['namespace']}.{galaxy['name']}"

project = collection
version = release = str(galaxy["version"])
copyright = galaxy["authors"][0]
html_title = f"{collection} {version}"

extensions = ["sphinx_antsibull_ext", "markdown_guides"]
markdown_repository_root = str(ROOT)
markdown_repository_url = galaxy["repository"]

pygments_style = "ansible"
highlight_language = "YAML+Jinja"
html_theme = "alabaster"
html_show_sphinx = False
html_copy_source = False
html_use_index = False
default_role = "any"
nitpicky = True

# Labels of the Ansible docsite that antsibull-docs refers to (reached by intersphinx in a full docsite).
ANSIBLE_DOCSITE_LABELS = {"action_plugins", "ansible_configuration_settings", "callback_plugins", "collections_keyword",
                          "common_return_values", "list_of_callback_plugins"}


def _ansible_docsite_reference(app, env, node, contnode):
    """A reference into the Ansible docsite, which this site does not hold: its text, without a link."""
    target = node.get("reftarget", "")
    if node.get("refdomain") == "std" and node.get("reftype") == "ref" and (
            target in ANSIBLE_DOCSITE_LABELS
            or (target.startswith("ansible_collections.") and not target.startswith(f"ansible_collections.{collection}."))):
        return contnode
    return None


def setup(app):
    app.connect("missing-reference", _ansible_docsite_reference)
