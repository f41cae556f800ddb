"""Sphinx configuration of the docs site (scripts/docs.sh, `make docs`).

The site is built offline: no intersphinx. References that antsibull-docs writes into the Ansible docsite (its
common return values, ansible.builtin's modules, ...) are shown as plain text; every reference inside this
collection must resolve, or the build fails.

The guides (docs/*.md, copied into guides/) are read as Markdown by MyST (myst_parser), so the site shows what
GitHub shows: a link to another guide (``troubleshooting.md#anchor``) goes to its page and heading, a relative link
to any other file of the repository goes to that file on the repository's site, and a code block with no language
or one that Pygments does not know is plain text.
"""

from pathlib import Path
from urllib.parse import urlsplit

import yaml
from docutils import nodes
from pygments.lexers import find_lexer_class_by_name
from pygments.util import ClassNotFound
from sphinx import addnodes

ROOT = Path(__file__).resolve().parent.parent.parent
galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
collection = f"{galaxy['namespace']}.{galaxy['name']}"

project = collection
version = release = str(galaxy["version"])
copyright = galaxy["authors"][0]
html_title = f"{collection} {version}"

# Not myst_gfm_only: it makes every link external, so links between guides would not be checked.
extensions = ["sphinx_antsibull_ext", "myst_parser"]
myst_heading_anchors = 6  # GitHub's anchors for every heading

pygments_style = "ansible"
# antsibull-docs names the language of its code blocks; a guide's code block without one is plain text.
highlight_language = "text"
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


def _guide_links_and_code(app, doctree):
    """In a guide: a relative link that MyST leaves unresolved (not to a guide) goes to the file of the repository on
    its site, or stays for MyST to report when no such file exists; code in a language Pygments does not know is
    plain text."""
    if not doctree["source"].endswith(".md"):
        return
    for xref in list(doctree.findall(addnodes.pending_xref)):
        path, _hash, fragment = xref["reftarget"].partition("#")
        target = (ROOT / "docs" / path).resolve()
        if (xref.get("reftype") != "myst" or xref.get("refdomain") or not path or urlsplit(path).scheme
                or not target.is_relative_to(ROOT) or not target.exists()):
            continue
        url = "/".join([galaxy["repository"].rstrip("/"), "tree" if target.is_dir() else "blob", "main",
                        target.relative_to(ROOT).as_posix()]) + (f"#{fragment}" if fragment else "")
        text = xref.children if xref.astext() else [nodes.literal(path, path)]
        xref.replace_self(nodes.reference("", "", *text, refuri=url))
    for block in doctree.findall(nodes.literal_block):
        try:
            find_lexer_class_by_name(block.get("language", "text"))
        except ClassNotFound:
            block["language"] = "text"


def setup(app):
    app.connect("missing-reference", _ansible_docsite_reference)
    app.connect("doctree-read", _guide_links_and_code)
