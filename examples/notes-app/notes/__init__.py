# Copyright: bluegreen.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""notes: a small Flask app released in two colours, the second example app of bluegreen.core.

    GET /         the notes, newest first, and a form to add one
    POST /notes   adds one: a form field `text` (answers 303 to /) or JSON {"text": ...} (answers 201)
    GET /health   200 {"status": "ok", "version": ..., "colour": ...}

Served by waitress, from the release folder:  .venv/bin/python -m waitress --port=${PORT} --call notes:create_app
Environment: BLUEGREEN_VERSION and BLUEGREEN_COLOUR (set by the deploy), NOTES_SERVER_NAME (optional: the only
host name served, any other Host gets 404). Notes are appended to data/notes.jsonl under the working directory;
data/ must exist and be writable (the deploy links it to a directory kept across releases), or the app refuses
to start. With NOTES_DATABASE (an SQLite file, relative to the working directory), they are kept there instead,
in the schema of notes/migrations/ (notes/db.py): a release starts only on a database migrated to its schema
(python -m notes.migrate), and from schema 2 a note has an author (the form's or JSON's `author`).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import threading
import warnings

from flask import Flask, jsonify, redirect, render_template, request, url_for

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_NOTE = 1000  # characters
SHOWN = 200  # newest notes on the page

log = logging.getLogger("notes")


def _build_info() -> dict:
    """What build.py wrote into the artifact; nothing when run from a checkout."""
    try:
        with open(os.path.join(HERE, "build-info.json"), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


BUILD = _build_info()
if BUILD.get("broken") == "crash":
    raise RuntimeError("notes: broken build, refusing to start")


class Notes:
    """One JSON object a line, appended with one write each, so that both colours can share the file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640))
        except OSError as exc:
            raise RuntimeError(
                f"notes: cannot write {path}: {exc.strerror}; data/ must be a writable directory"
                " in the working directory (the deploy links it to one kept across releases)"
            ) from exc

    def add(self, note: dict) -> None:
        line = (json.dumps(note, ensure_ascii=False) + "\n").encode()
        with self.lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def newest(self, count: int) -> list[dict]:
        with open(self.path, encoding="utf-8") as handle:
            lines = handle.readlines()
        notes = []
        for line in reversed(lines):
            try:
                notes.append(json.loads(line))
            except ValueError:
                continue  # a line still being written by another process
            if len(notes) == count:
                break
        return notes


def create_app() -> Flask:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    version = os.environ.get("BLUEGREEN_VERSION") or BUILD.get("version", "dev")
    colour = os.environ.get("BLUEGREEN_COLOUR", "unknown")
    server_name = os.environ.get("NOTES_SERVER_NAME") or None
    database = os.environ.get("NOTES_DATABASE")
    if database:
        from notes import db

        notes = db.Notes(os.path.join(os.getcwd(), database))
    else:
        notes = Notes(os.path.join(os.getcwd(), "data", "notes.jsonl"))
    authors = getattr(notes, "authors", False)

    # With SERVER_NAME, Flask matches the Host header against it only when subdomain matching is on; other hosts
    # get 404, each also with a warning that would fill the journal with whatever Host headers clients send.
    warnings.filterwarnings("ignore", message="Current server name ", category=UserWarning)
    app = Flask(__name__, subdomain_matching=server_name is not None)
    app.config.update(SERVER_NAME=server_name, MAX_CONTENT_LENGTH=16 * 1024)

    @app.after_request
    def _identify(response):
        response.headers["X-App-Version"] = version
        response.headers["X-App-Colour"] = colour
        return response

    @app.get("/health")
    def health():
        return jsonify(status="ok", version=version, colour=colour)

    @app.get("/")
    def index():
        return render_template("index.html", notes=notes.newest(SHOWN), version=version, colour=colour,
                               max_note=MAX_NOTE, authors=authors)

    @app.post("/notes")
    def add_note():
        payload = request.get_json(silent=True) if request.is_json else request.form
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_NOTE:
            return jsonify(error=f"text must be 1 to {MAX_NOTE} characters"), 400
        note = {"text": text.strip(), "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "version": version, "colour": colour}
        if authors:
            author = payload.get("author") or "anonymous"
            if not isinstance(author, str) or len(author) > 100:
                return jsonify(error="author must be at most 100 characters"), 400
            note["author"] = author.strip() or "anonymous"
        notes.add(note)
        if request.is_json:
            return jsonify(note), 201
        return redirect(url_for("index"), 303)

    log.info("version %s (%s colour), notes in %s%s", version, colour, notes.path,
             f", serving host {server_name} only" if server_name else "")
    return app
