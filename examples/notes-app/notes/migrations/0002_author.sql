-- Expand: a column the releases that know it fill, and the releases before them leave NULL. Adding a column that may
-- be NULL breaks no release that does not name it, so a rollback to one of them works on this schema.
ALTER TABLE notes ADD COLUMN author TEXT;
