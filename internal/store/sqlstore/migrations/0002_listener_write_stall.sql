-- timeout_write_stall (vitals' own listener field): a session in which one
-- side takes none of the data waiting for it for this long is ended.
ALTER TABLE listeners ADD COLUMN timeout_write_stall_ms INTEGER NOT NULL DEFAULT 300000;
