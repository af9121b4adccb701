-- Base migration: the database starts here. (gen_random_uuid() is built into
-- PostgreSQL 13+, so no extension is needed; the embedded server ships none.)
SET LOCAL client_min_messages = warning;
