-- identity_check.batch_id gets the foreign key 050 could not declare (the batch tables
-- come later, in 060).
--
-- ON DELETE RESTRICT: nothing deletes a batch. Retention (`vbs purge`) erases the stored
-- file and any leftover batch rows and keeps the batch record, and keeps every check's
-- outcome with its batch_id and batch_row; deleting a batch whose checks exist is refused
-- rather than cascading to those outcomes (review items, alerts and notifications refer
-- to the checks with no cascade) or nulling batch_id (identity_check_batch_pair would
-- fail). A batch with no checks yet (received, failed while parsing) can still be deleted.
-- The existing UNIQUE (batch_id, batch_row) index serves the key's look-ups.
SET LOCAL client_min_messages = warning;

ALTER TABLE identity_check
    ADD CONSTRAINT identity_check_batch_fk FOREIGN KEY (batch_id)
    REFERENCES batch (id) ON DELETE RESTRICT;
