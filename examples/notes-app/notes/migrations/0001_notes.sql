-- The notes table, as release 1 of the database schema has it.
CREATE TABLE notes (
    id      INTEGER PRIMARY KEY,
    text    TEXT NOT NULL,
    time    TEXT NOT NULL,
    version TEXT,
    colour  TEXT
);
