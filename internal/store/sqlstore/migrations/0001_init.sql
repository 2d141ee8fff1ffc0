-- The load balancer model (internal/octavia). Times are UTC text in a
-- fixed-width RFC 3339 form, so that text order is time order; durations
-- are integer milliseconds; tags and CIDR lists are JSON arrays. The
-- constraint names are store.Constraint* and are the same in every
-- implementation.

CREATE TABLE load_balancers (
    id                  TEXT PRIMARY KEY,
    project_id          TEXT NOT NULL DEFAULT '',
    name                TEXT NOT NULL DEFAULT '',
    description         TEXT NOT NULL DEFAULT '',
    admin_state_up      BOOLEAN NOT NULL,
    provisioning_status TEXT NOT NULL,
    operating_status    TEXT NOT NULL,
    tags                TEXT NOT NULL DEFAULT '[]',
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    vip_address         TEXT NOT NULL DEFAULT '',
    vip_port_id         TEXT NOT NULL DEFAULT '',
    vip_subnet_id       TEXT NOT NULL DEFAULT '',
    vip_network_id      TEXT NOT NULL DEFAULT '',
    vip_qos_policy_id   TEXT NOT NULL DEFAULT '',
    provider            TEXT NOT NULL DEFAULT '',
    flavor_id           TEXT NOT NULL DEFAULT '',
    availability_zone   TEXT NOT NULL DEFAULT ''
);

CREATE TABLE pools (
    id                  TEXT PRIMARY KEY,
    load_balancer_id    TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    project_id          TEXT NOT NULL DEFAULT '',
    name                TEXT NOT NULL DEFAULT '',
    description         TEXT NOT NULL DEFAULT '',
    admin_state_up      BOOLEAN NOT NULL,
    provisioning_status TEXT NOT NULL,
    operating_status    TEXT NOT NULL,
    tags                TEXT NOT NULL DEFAULT '[]',
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    protocol            TEXT NOT NULL,
    lb_algorithm        TEXT NOT NULL,
    session_persistence TEXT,
    fail_open           BOOLEAN NOT NULL DEFAULT FALSE,
    on_member_down      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX pools_load_balancer_id ON pools (load_balancer_id);

CREATE TABLE listeners (
    id                        TEXT PRIMARY KEY,
    load_balancer_id          TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    project_id                TEXT NOT NULL DEFAULT '',
    name                      TEXT NOT NULL DEFAULT '',
    description               TEXT NOT NULL DEFAULT '',
    admin_state_up            BOOLEAN NOT NULL,
    provisioning_status       TEXT NOT NULL,
    operating_status          TEXT NOT NULL,
    tags                      TEXT NOT NULL DEFAULT '[]',
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL,
    protocol                  TEXT NOT NULL,
    protocol_port             INTEGER NOT NULL,
    connection_limit          INTEGER NOT NULL,
    default_pool_id           TEXT REFERENCES pools (id) ON DELETE SET NULL,
    timeout_client_data_ms    INTEGER NOT NULL,
    timeout_member_connect_ms INTEGER NOT NULL,
    timeout_member_data_ms    INTEGER NOT NULL,
    timeout_tcp_inspect_ms    INTEGER NOT NULL,
    allowed_cidrs             TEXT NOT NULL DEFAULT '[]',
    bind_address              TEXT NOT NULL DEFAULT '',
    connection_log            BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT uq_listener_lb_protocol_port UNIQUE (load_balancer_id, protocol, protocol_port)
);
CREATE INDEX listeners_default_pool_id ON listeners (default_pool_id);

CREATE TABLE members (
    id                  TEXT PRIMARY KEY,
    pool_id             TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    project_id          TEXT NOT NULL DEFAULT '',
    name                TEXT NOT NULL DEFAULT '',
    admin_state_up      BOOLEAN NOT NULL,
    provisioning_status TEXT NOT NULL,
    operating_status    TEXT NOT NULL,
    tags                TEXT NOT NULL DEFAULT '[]',
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    address             TEXT NOT NULL,
    protocol_port       INTEGER NOT NULL,
    weight              INTEGER NOT NULL,
    backup              BOOLEAN NOT NULL,
    monitor_address     TEXT NOT NULL DEFAULT '',
    monitor_port        INTEGER NOT NULL DEFAULT 0,
    subnet_id           TEXT NOT NULL DEFAULT '',
    CONSTRAINT uq_member_pool_address_port UNIQUE (pool_id, address, protocol_port)
);

CREATE TABLE health_monitors (
    id                  TEXT PRIMARY KEY,
    pool_id             TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    project_id          TEXT NOT NULL DEFAULT '',
    name                TEXT NOT NULL DEFAULT '',
    admin_state_up      BOOLEAN NOT NULL,
    provisioning_status TEXT NOT NULL,
    operating_status    TEXT NOT NULL,
    tags                TEXT NOT NULL DEFAULT '[]',
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    type                TEXT NOT NULL,
    delay_ms            INTEGER NOT NULL,
    timeout_ms          INTEGER NOT NULL,
    max_retries         INTEGER NOT NULL,
    max_retries_down    INTEGER NOT NULL,
    http_method         TEXT NOT NULL DEFAULT '',
    url_path            TEXT NOT NULL DEFAULT '',
    expected_codes      TEXT NOT NULL DEFAULT '',
    http_version        TEXT NOT NULL DEFAULT '',
    domain_name         TEXT NOT NULL DEFAULT '',
    ca_file             TEXT NOT NULL DEFAULT '',
    db_user             TEXT NOT NULL DEFAULT '',
    password_file       TEXT NOT NULL DEFAULT '',
    password_env        TEXT NOT NULL DEFAULT '',
    db_name             TEXT NOT NULL DEFAULT '',
    db_query            TEXT NOT NULL DEFAULT '',
    sslmode             TEXT NOT NULL DEFAULT '',
    CONSTRAINT uq_healthmonitor_pool UNIQUE (pool_id)
);

-- revision counts committed writes; one row.
CREATE TABLE revision (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO revision (id, value) VALUES (1, 0);
