-- Speed records per circuit, newest last, each with the bounty it earned: none for a
-- circuit's first record (a baseline), else running until bounty_expires_block unless
-- forfeited by a failed query at bounty_forfeited_block.
CREATE TABLE IF NOT EXISTS speed_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    circuit TEXT NOT NULL,
    miner_hotkey TEXT NOT NULL,
    seconds_per_item DOUBLE PRECISION NOT NULL,
    previous_seconds_per_item DOUBLE PRECISION,
    block BIGINT NOT NULL,
    set_at_ms BIGINT NOT NULL,
    bounty_expires_block BIGINT,
    bounty_forfeited_block BIGINT
);
CREATE INDEX IF NOT EXISTS speed_records_by_circuit ON speed_records (circuit, id);
