-- A record's bounty is awarded once its holder confirms the record (DESIGN section 5),
-- possibly blocks after the record: the block it started at. NULL on rows written
-- before confirmations, whose bounties started with their record.
ALTER TABLE speed_records ADD COLUMN bounty_awarded_block BIGINT;
