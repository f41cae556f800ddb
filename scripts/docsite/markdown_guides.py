"""Sphinx reads the guides (docs/*.md) as Markdown, so they have one source: the site shows what GitHub shows.

A small CommonMark reader (markdown-it-py, with GitHub's tables) that turns a guide into docutils nodes: sections from
the headings (the first one is the page's title), paragraphs, lists, tables, code blocks, block quotes and inline
markup. A link to another guide (``troubleshooting.md#anchor``) goes to that guide's page; a relative link to any
other file of the repository goes to the file on the repository's web site (``markdown_repository_url``, branch
main), and one to a file that does not exist is reported. So is Markdown it does not know: a warning fails the build
(``sphinx-build -W``).
"""

from __future__ import annotations

import os
import posixpath
import re
from urllib.parse import urlsplit

from docutils import nodes
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from pygments.lexers import find_lexer_class_by_name
from pygments.util import ClassNotFound
from sphinx.parsers import Parser

# Where the guides are in the repository: their relative links start there.
GUIDES_DIR = "docs"


class MarkdownParser(Parser):
    supported = ("markdown",)

    def parse(self, inputstring, document):
        self.setup_parse(inputstring, document)
        _Converter(document).convert(inputstring)
        self.finish_parse()


class _Converter:
    def __init__(self, document):
        self.document = document
        env = document.settings.env
        self.repository = env.config.markdown_repository_url.rstrip("/")
        self.root = env.config.markdown_repository_root
        self.docs, self.site_dir = env.found_docs, posixpath.dirname(env.docname)

    def convert(self, text):
        md = MarkdownIt("commonmark").enable("table")
        # Sections nest by heading level: (level, node), the document at level 0.
        self.sections = [(0, self.document)]
        self.line = None
        for child in SyntaxTreeNode(md.parse(text)).children:
            element = self.block(child)
            if element is not None:
                self.sections[-1][1].append(element)

    def warn(self, message):
        self.document.reporter.warning(message, line=self.line)

    def block(self, node):
        """The docutils node of a block (None for a heading, which opens a section)."""
        self.line = node.map[0] + 1 if node.map else self.line
        element = self._block(node)
        if element is not None:
            element.source, element.line = self.document["source"], self.line
        return element

    def _block(self, node):
        kind = node.type
        if kind == "heading":
            self.heading(node)
            return None
        if kind == "paragraph":
            return self.paragraph(node)
        if kind in ("bullet_list", "ordered_list"):
            result = nodes.bullet_list(bullet=node.markup) if kind == "bullet_list" else nodes.enumerated_list(enumtype="arabic", prefix="", suffix=".")
            if kind == "ordered_list" and int(node.attrs.get("start", 1)) != 1:
                result["start"] = int(node.attrs["start"])
            for item in node.children:
                result += nodes.list_item("", *self.blocks(item))
            return result
        if kind in ("fence", "code_block"):
            result = nodes.literal_block(node.content, node.content)
            result["language"] = _language(node.info)
            return result
        if kind == "blockquote":
            return nodes.block_quote("", *self.blocks(node))
        if kind == "table":
            return self.table(node)
        if kind == "hr":
            return nodes.transition()
        if kind == "html_block":
            return nodes.raw("", node.content, format="html")
        self.warn(f"Markdown block {kind!r} is not supported by scripts/docsite/markdown_guides.py")
        return None

    def blocks(self, node):
        return [element for element in map(self.block, node.children) if element is not None]

    def heading(self, node):
        level = int(node.tag[1:])
        while self.sections[-1][0] >= level:
            self.sections.pop()
        title = nodes.title("", "", *self.inline(node.children[0]))
        section = nodes.section()
        section += title
        section["names"].append(nodes.fully_normalize_name(title.astext()))
        self.sections[-1][1].append(section)
        self.document.note_implicit_target(section, section)
        # GitHub's anchor for the heading too, so links written for GitHub (guide.md#anchor) find it.
        slug = re.sub(r"[^\w\- ]", "", title.astext().lower()).replace(" ", "-")
        if slug and slug not in self.document.ids:
            section["ids"].append(slug)
            self.document.ids[slug] = section
        self.sections.append((level, section))

    def table(self, node):
        # thead (a table always has its header row), then tbody when it has more rows.
        columns = len(node.children[0].children[0].children)
        group = nodes.tgroup(cols=columns)
        group.extend(nodes.colspec(colwidth=1) for column in range(columns))
        for part in node.children:
            rows = nodes.thead() if part.type == "thead" else nodes.tbody()
            for row in part.children:
                rows += nodes.row("", *(nodes.entry("", self.paragraph(cell)) for cell in row.children))
            group += rows
        return nodes.table("", group)

    def paragraph(self, node):
        return nodes.paragraph("", "", *self.inline(node.children[0]))

    def inline(self, node):
        """The docutils nodes of an inline node's children."""
        result = []
        for child in node.children:
            kind = child.type
            if kind == "text":
                result.append(nodes.Text(child.content))
            elif kind == "softbreak":
                result.append(nodes.Text("\n"))
            elif kind == "hardbreak":
                result.append(nodes.raw("", "<br />", format="html"))
            elif kind == "code_inline":
                result.append(nodes.literal(child.content, child.content))
            elif kind == "strong":
                result.append(nodes.strong("", "", *self.inline(child)))
            elif kind == "em":
                result.append(nodes.emphasis("", "", *self.inline(child)))
            elif kind == "link":
                result.append(nodes.reference("", "", *self.inline(child), refuri=self.link(child, "href")))
            elif kind == "image":
                result.append(nodes.image(uri=self.link(child, "src", raw=True), alt=child.content))
            elif kind == "html_inline":
                result.append(nodes.raw("", child.content, format="html"))
            else:
                self.warn(f"Markdown inline {kind!r} is not supported by scripts/docsite/markdown_guides.py")
        return result

    def link(self, node, attr, raw=False):
        """Where a link (or image) of a guide goes in the site."""
        url = node.attrs[attr]
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path:
            return url
        path = posixpath.normpath(posixpath.join(GUIDES_DIR, parts.path))
        if not os.path.exists(os.path.join(self.root, path)):
            self.warn(f"the link {url!r} goes to {path}, which is not in the repository")
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        name, suffix = posixpath.splitext(posixpath.basename(path))
        if posixpath.dirname(path) == GUIDES_DIR and suffix == ".md" and posixpath.join(self.site_dir, name) in self.docs:
            return f"{name}.html{fragment}"
        return f"{self.repository}/{'raw' if raw else 'blob'}/main/{path}{fragment}"


def _language(info):
    """The language of a code block: as GitHub does, shown as plain text when it names none (diagrams, file trees:
    not highlighted as YAML, the site's default) or one that Pygments does not know."""
    language = info.split()[0] if info.strip() else "text"
    try:
        find_lexer_class_by_name(language)
    except ClassNotFound:
        return "text"
    return language


def setup(app):
    app.add_config_value("markdown_repository_url", "", "env", types=[str])
    app.add_config_value("markdown_repository_root", "", "env", types=[str])
    app.add_source_suffix(".md", "markdown")
    app.add_source_parser(MarkdownParser)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
