-- Parsing commits in segments (so matching starts while a big file is still being read):
-- the last file line whose rows, errors and chunks are committed. A re-run of an
-- interrupted ingest parses the file again and writes only what comes after this line.
SET LOCAL client_min_messages = warning;

ALTER TABLE batch ADD COLUMN lines_parsed integer NOT NULL DEFAULT 0 CHECK (lines_parsed >= 0);
