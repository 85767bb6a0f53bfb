-- One row per query the validator made, success or failure.
CREATE TABLE IF NOT EXISTS queries (
    id BIGSERIAL PRIMARY KEY,
    miner_hotkey TEXT NOT NULL,
    uid BIGINT NOT NULL,
    circuit TEXT NOT NULL,
    profile TEXT NOT NULL,
    batch_size BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    failure_reason TEXT,
    quality DOUBLE PRECISION,
    seconds_per_item DOUBLE PRECISION,
    key_upload_seconds DOUBLE PRECISION,
    score DOUBLE PRECISION NOT NULL,
    block BIGINT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    finished_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS queries_by_miner ON queries (miner_hotkey, id);

-- Every weight setting attempt, so a restart respects the interval.
CREATE TABLE IF NOT EXISTS weight_settings (
    id BIGSERIAL PRIMARY KEY,
    block BIGINT NOT NULL,
    set_at_ms BIGINT NOT NULL,
    uids TEXT NOT NULL,
    weights TEXT NOT NULL,
    outcome TEXT NOT NULL
);
