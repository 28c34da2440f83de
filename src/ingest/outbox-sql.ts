/**
 * The SQL of the PostgreSQL outbox: the schema (docs/integrations.md prints it for a DBA who sets
 * `migrate: false`; a test checks the two agree) and the statements the consumer runs.
 *
 * Ordering: rows are spread over OUTBOX_PARTITIONS partitions by a hash of their channel, and one
 * claimer at a time owns a partition, by a transaction-scoped advisory lock taken before it claims
 * (outbox.ts explains why). The partition of a row is `hashtext(channel) & 15`, indexed together
 * with `id`, so claiming the oldest rows of one partition is an index range scan.
 */

/** Partitions of an outbox: at most this many claimers (over all nodes) work at once. Fixed by the index. */
export const OUTBOX_PARTITIONS = 16;

/** `${table}_dead`, where poison rows go. */
export function deadTable(table: string): string {
  return `${table}_dead`;
}

/**
 * The migration: tables, the partition index and the NOTIFY trigger, each created only when
 * absent (so it is safe to run at every start, on every node, and never takes a lock an
 * application's inserts would wait for once the objects exist). `table` must be a plain lower-case
 * identifier (options.ts checks it).
 */
export function outboxSchemaSql(table: string): string {
  const dead = deadTable(table);
  return `CREATE TABLE IF NOT EXISTS ${table} (
  id bigserial PRIMARY KEY,
  channel text NOT NULL,
  data jsonb NOT NULL,
  idempotency_key text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ${table}_partition_idx ON ${table} ((hashtext(channel) & ${OUTBOX_PARTITIONS - 1}), id);
CREATE TABLE IF NOT EXISTS ${dead} (
  id bigint PRIMARY KEY,
  channel text NOT NULL,
  data jsonb NOT NULL,
  idempotency_key text,
  created_at timestamptz NOT NULL,
  reason text NOT NULL,
  error text NOT NULL,
  dead_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION switchboard_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_TABLE_NAME, '');
  RETURN NULL;
END $$;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '${table}_notify' AND tgrelid = '${table}'::regclass) THEN
    CREATE TRIGGER ${table}_notify AFTER INSERT ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION switchboard_outbox_notify();
  END IF;
END $$;
`;
}

/** The partition expression of a row, as in the index. */
const PART = `(hashtext(channel) & ${OUTBOX_PARTITIONS - 1})`;

/**
 * "Row is in partition `p`", written as a range (`>= p AND <= p`) and paired with
 * `ORDER BY partition, id`. Why not `= p ORDER BY id`: the planner then treats the partition as a
 * constant, sees that the primary key gives `id` order too, and — when most rows are in one
 * partition — scans the primary key with a filter, i.e. the whole table for every other partition
 * (measured: 20 ms instead of 0.4 ms per probe, a quarter of the single-channel rate). With a range
 * only the partition index yields that order, so it is used whatever the statistics say.
 */
function inPartition(p: string): string {
  return `${PART} >= ${p} AND ${PART} <= ${p}`;
}

/** Longest channel text read back; a longer channel is invalid anyway (maxChannelLength ≤ this). */
export const MAX_CHANNEL_READ = 1024;
/** Longest idempotency_key read back; a longer one is hashed from what was read plus its length. */
export const MAX_KEY_READ = 1024;

export interface OutboxStatements {
  /** Serializes concurrent migrations (two nodes starting together). Param: none. */
  migrateLock: string;
  /** Every partition that has rows, by its oldest row first (one index probe per partition). */
  candidates: string;
  /** Takes a partition for this transaction, or answers false. Params: partition. */
  tryLock: string;
  /** The oldest `$2` rows of partition `$1`, locked; data as text unless over `$3` bytes. */
  claim: string;
  /** Moves rows `$1` (ids) with reasons `$2` and errors `$3` to the dead table. */
  bury: string;
  /** Deletes the delivered (and buried) rows `$1`. */
  remove: string;
  /** Age in seconds of the oldest row, and the backlog counted up to `$1`. */
  lag: string;
}

/** The statements for one outbox table. The advisory lock's first key is the table's hash, so outboxes do not contend. */
export function outboxStatements(table: string): OutboxStatements {
  const dead = deadTable(table);
  return {
    migrateLock: `SELECT pg_advisory_xact_lock(hashtext('switchboard_migrate:' || '${table}'))`,
    candidates: `SELECT p AS part FROM generate_series(0, ${OUTBOX_PARTITIONS - 1}) p
CROSS JOIN LATERAL (SELECT id FROM ${table} WHERE ${inPartition('p')} ORDER BY ${PART}, id LIMIT 1) oldest ORDER BY oldest.id`,
    tryLock: `SELECT pg_try_advisory_xact_lock(hashtext('${table}'), $1::int) AS ok`,
    // `o.id`, not `id`: that would name the text output column and sort "10" before "2".
    claim: `SELECT o.id::text AS id, left(channel, ${MAX_CHANNEL_READ}) AS channel, octet_length(channel) AS channel_bytes,
  CASE WHEN octet_length(data::text) <= $3 THEN data::text END AS data, octet_length(data::text) AS data_bytes,
  left(idempotency_key, ${MAX_KEY_READ}) AS key, octet_length(idempotency_key) AS key_bytes
FROM ${table} o WHERE ${inPartition('$1::int')} ORDER BY ${PART}, o.id LIMIT $2 FOR UPDATE SKIP LOCKED`,
    bury: `INSERT INTO ${dead} (id, channel, data, idempotency_key, created_at, reason, error)
SELECT t.id, t.channel, t.data, t.idempotency_key, t.created_at, d.reason, d.error
FROM ${table} t JOIN unnest($1::bigint[], $2::text[], $3::text[]) AS d(id, reason, error) ON d.id = t.id
ON CONFLICT (id) DO UPDATE SET reason = EXCLUDED.reason, error = EXCLUDED.error, dead_at = now()`,
    remove: `DELETE FROM ${table} WHERE id = ANY($1::bigint[])`,
    lag: `SELECT (SELECT extract(epoch FROM now() - created_at)::float8 FROM ${table} ORDER BY id LIMIT 1) AS lag,
  (SELECT count(*)::int FROM (SELECT 1 FROM ${table} LIMIT $1) s) AS backlog`,
  };
}
