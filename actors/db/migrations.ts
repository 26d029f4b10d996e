// Versioned schema migrations of the DSO database: each applied once, in its own transaction, recorded in schema_migrations.
import type { DatabaseSync } from "node:sqlite";
import { MigrationError } from "./errors.ts";

export type Migration = { version: number; name: string; sql: string };

/**
 * The DSO's schema (PROTOCOL §4–§5). Unique keys are what make every handler idempotent: a redelivered message
 * hits `ON CONFLICT DO NOTHING` and the handler learns it was not new. Times are Unix ms; money is integer µ-units.
 * Never edit a released migration: add a new one.
 */
export const DSO_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "registry, trades, readings, ledger, bills",
    sql: `
      -- The meter registry: permanent id → long-term key (PROTOCOL §4).
      CREATE TABLE meters (
        meter_id    TEXT PRIMARY KEY,
        address     TEXT NOT NULL UNIQUE,
        public_key  TEXT NOT NULL,
        name        TEXT NOT NULL,
        inbox_id    TEXT NOT NULL UNIQUE,
        enrolled_at INTEGER NOT NULL
      ) STRICT;

      -- (permanent id, one-time id) pairs: only the DSO can link a bid to a meter.
      CREATE TABLE one_time_ids (
        bidder    TEXT PRIMARY KEY,
        meter_id  TEXT NOT NULL REFERENCES meters (meter_id),
        side      INTEGER NOT NULL CHECK (side IN (0, 1)),
        not_after INTEGER NOT NULL,
        issued_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX one_time_ids_by_meter ON one_time_ids (meter_id);

      -- Matched(buyId, sellId) events as seen on chain; the key makes a replayed event a no-op.
      CREATE TABLE matches (
        match_key    TEXT PRIMARY KEY,
        buy_id       TEXT NOT NULL,
        sell_id      TEXT NOT NULL,
        tx_hash      TEXT NOT NULL,
        block_number INTEGER NOT NULL,
        log_index    INTEGER NOT NULL,
        observed_at  INTEGER NOT NULL,
        UNIQUE (buy_id, sell_id, tx_hash)
      ) STRICT;

      -- One trade per match; its status walks open → verified → settled, or to voided / disputed.
      CREATE TABLE trades (
        trade_id            TEXT PRIMARY KEY,
        match_key           TEXT NOT NULL UNIQUE REFERENCES matches (match_key),
        status              TEXT NOT NULL CHECK (status IN ('open', 'verified', 'voided', 'disputed', 'settled')),
        buy_id              TEXT NOT NULL,
        sell_id             TEXT NOT NULL,
        buyer_meter_id      TEXT REFERENCES meters (meter_id),
        seller_meter_id     TEXT REFERENCES meters (meter_id),
        buy_opening         TEXT,
        sell_opening        TEXT,
        buy_level           INTEGER,
        sell_level          INTEGER,
        clearing_rule       TEXT,
        price_micro_per_kwh INTEGER,
        quantity_wh         INTEGER,
        void_reason         TEXT,
        disputed_by_side    INTEGER CHECK (disputed_by_side IN (0, 1)),
        dispute_reason      TEXT,
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL,
        settled_at          INTEGER,
        CHECK (status IN ('open', 'voided') OR (price_micro_per_kwh IS NOT NULL AND quantity_wh IS NOT NULL
               AND buyer_meter_id IS NOT NULL AND seller_meter_id IS NOT NULL))
      ) STRICT;
      CREATE INDEX trades_by_status ON trades (status);

      -- One reading per trade and party (side): a meter's repeated report is a no-op.
      CREATE TABLE readings (
        trade_id    TEXT NOT NULL REFERENCES trades (trade_id),
        side        INTEGER NOT NULL CHECK (side IN (0, 1)),
        meter_id    TEXT NOT NULL REFERENCES meters (meter_id),
        bidder      TEXT NOT NULL,
        energy_wh   INTEGER NOT NULL CHECK (energy_wh >= 0),
        measured_at INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (trade_id, side)
      ) STRICT;

      -- Double-entry ledger: positive = credit. Append-only; a trade's entries sum to zero (checked on insert).
      CREATE TABLE ledger_entries (
        entry_id     INTEGER PRIMARY KEY,
        trade_id     TEXT NOT NULL REFERENCES trades (trade_id),
        account      TEXT NOT NULL,
        meter_id     TEXT REFERENCES meters (meter_id),
        kind         TEXT NOT NULL,
        amount_micro INTEGER NOT NULL,
        memo         TEXT NOT NULL,
        period       TEXT NOT NULL,
        posted_at    INTEGER NOT NULL,
        UNIQUE (trade_id, account, kind),
        CHECK ((account LIKE 'meter:%') = (meter_id IS NOT NULL))
      ) STRICT;
      CREATE INDEX ledger_by_meter_period ON ledger_entries (meter_id, period);
      CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
        BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
      CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
        BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;

      -- A prosumer's bill: the sum of its entries per billing period.
      CREATE VIEW bills AS
        SELECT meter_id, period, SUM(amount_micro) AS total_micro, COUNT(*) AS entry_count,
               COUNT(DISTINCT trade_id) AS trade_count
        FROM ledger_entries WHERE meter_id IS NOT NULL
        GROUP BY meter_id, period;
    `,
  },
  {
    version: 2,
    name: "dso settings",
    sql: `
      -- Small durable facts of the DSO runtime (market description, contract address), JSON values.
      CREATE TABLE dso_settings (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: "trade machine records and closing",
    sql: `
      -- The DSO machine's own per-trade record (JSON, opaque here) so a restarted DSO resumes exactly where it was;
      -- the relational columns stay the source of truth for billing. closed_at: both meters were told the outcome.
      ALTER TABLE trades ADD COLUMN machine_record TEXT;
      ALTER TABLE trades ADD COLUMN closed_at INTEGER;
      CREATE INDEX trades_unclosed ON trades (closed_at) WHERE closed_at IS NULL;
    `,
  },
  {
    version: 4,
    name: "epoch keys",
    sql: `
      -- Each epoch's key (msk_e and its token key, PROTOCOL §5 v2), sealed with the vault key (AES-256-GCM): never in
      -- clear here. A destroyed key keeps its row (sealed NULL, destroyed_at set) so that it is never made again.
      CREATE TABLE epoch_keys (
        epoch        INTEGER PRIMARY KEY CHECK (epoch >= 0),
        sealed       BLOB,
        created_at   INTEGER NOT NULL,
        destroyed_at INTEGER,
        CHECK ((sealed IS NULL) = (destroyed_at IS NOT NULL))
      ) STRICT;
    `,
  },
  {
    version: 5,
    name: "certified bids",
    sql: `
      -- Every bid the DSO certified (PROTOCOL §4 v2): its permanent id, its whole opening and what the ticket signs.
      -- With the epoch's key the opening reproduces the ciphertext, so no ciphertext is kept. One row per one-time
      -- bidder, never changed: a second certification of the same bidder must be the same bid.
      CREATE TABLE certified_bids (
        bidder          TEXT PRIMARY KEY,
        meter_id        TEXT NOT NULL REFERENCES meters (meter_id),
        side            INTEGER NOT NULL CHECK (side IN (0, 1)),
        slot            INTEGER NOT NULL CHECK (slot >= 0),
        epoch           INTEGER NOT NULL CHECK (epoch >= 0),
        price_level     INTEGER NOT NULL CHECK (price_level >= 0),
        quantity_wh     INTEGER NOT NULL CHECK (quantity_wh > 0),
        salt            TEXT NOT NULL,
        seed            TEXT NOT NULL,
        commitment      TEXT NOT NULL,
        ciphertext_root TEXT NOT NULL,
        not_after       INTEGER NOT NULL,
        encrypt_at      TEXT NOT NULL CHECK (encrypt_at IN ('dso', 'meter')),
        certified_at    INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX certified_bids_by_slot ON certified_bids (slot);
      CREATE TRIGGER certified_bids_no_update BEFORE UPDATE ON certified_bids
        BEGIN SELECT RAISE(ABORT, 'certified bids are never changed'); END;
    `,
  },
];

export type MigrationReport = { applied: number[]; version: number };

/**
 * Applies the pending migrations in order, each in an IMMEDIATE transaction together with its schema_migrations
 * row, so a failing migration leaves nothing behind and a concurrent opener waits instead of applying it twice.
 * Re-running is a no-op. A database from a newer version (unknown migrations applied) is refused.
 */
export function migrate(db: DatabaseSync, migrations: readonly Migration[] = DSO_MIGRATIONS, now: () => number = Date.now): MigrationReport {
  const versions = migrations.map((m) => m.version);
  if (versions.some((v, i) => !Number.isInteger(v) || v <= 0 || (i > 0 && v <= versions[i - 1]))) {
    throw new MigrationError({ kind: "versions", versions });
  }
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT`);
  const known = versions.at(-1) ?? 0;
  const found = currentVersion(db);
  if (found > known) {
    throw new MigrationError({ kind: "newerSchema", database: found, program: known });
  }
  const applied: number[] = [];
  for (const migration of migrations) {
    db.exec("BEGIN IMMEDIATE");
    try {
      const done = db.prepare("SELECT 1 AS done FROM schema_migrations WHERE version = ?").get(migration.version);
      if (done === undefined) {
        db.exec(migration.sql);
        db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(migration.version, migration.name, now());
        applied.push(migration.version);
      }
      db.exec("COMMIT");
    } catch (cause) {
      db.exec("ROLLBACK");
      throw new MigrationError({ kind: "failed", version: migration.version, migrationName: migration.name, cause });
    }
  }
  return { applied, version: currentVersion(db) };
}

function currentVersion(db: DatabaseSync): number {
  const latest = db.prepare("SELECT MAX(version) AS version FROM schema_migrations").get();
  return typeof latest?.version === "number" ? latest.version : 0;
}
