-- The nodes sharing this store (vitals lb --db postgres://…): each one's
-- last report, and the operating statuses it observes. Node reports do
-- not bump the configuration revision.
CREATE TABLE nodes (
    name             TEXT PRIMARY KEY,
    last_seen        TEXT NOT NULL,
    applied_revision INTEGER NOT NULL DEFAULT 0,
    failed_revision  INTEGER NOT NULL DEFAULT 0,
    apply_error      TEXT NOT NULL DEFAULT '',
    vrrp_role        TEXT NOT NULL DEFAULT '',
    serving          BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE node_statuses (
    node             TEXT NOT NULL REFERENCES nodes (name) ON DELETE CASCADE,
    object_id        TEXT NOT NULL,
    operating_status TEXT NOT NULL,
    PRIMARY KEY (node, object_id)
);
