// The DSO's database (node:sqlite): registry, one-time ids, matches, trades, readings, ledger, bills; all SQL lives here.
import { getAddress } from "ethers";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import {
  CertifiedBidConflictError,
  CorruptRowError,
  DatabaseOpenError,
  IllegalTradeTransitionError,
  MachineRecordNotJsonError,
  MeterIdentityTakenError,
  MeterKeyMismatchError,
  OneTimeIdTakenError,
  OpeningConflictError,
  RowVanishedError,
  TermsConflictError,
  UnbalancedPostingsError,
  UnknownMeterError,
  UnknownTradeError,
  UnsafeAmountError,
  UnticketedOneTimeIdError,
} from "./errors.ts";
import { entriesSum, type DsoBook, type PostingKind } from "../../protocol/settlement.ts";
import { canBecome, type TradeStage } from "../../protocol/tradeLifecycle.ts";
import { DSO_MIGRATIONS, migrate, type Migration } from "./migrations.ts";
import { loadSqlite } from "./sqlite.ts";
import { type Address, type Hex, toHex } from "../../protocol/base/hex.ts";
import { tradeIdOf, type Opening, type SideCode } from "../../protocol/domain.ts";
import type { TradeTerms } from "../../protocol/clearing.ts";
import { type ClearingRule } from "../../protocol/marketConfig.ts";
import { dsoDefaults } from "../config/dso.ts";

// ---------------------------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------------------------

export type MeterRecord = {
  meterId: string;
  address: string;
  publicKey: string;
  name: string;
  inboxId: string;
  enrolledAt: number;
};

/** A bid the DSO certified (PROTOCOL §4 v2): the permanent id, the opening, and what the ticket signs. */
export type CertifiedBidRecord = {
  bidder: string;
  meterId: string;
  side: SideCode;
  slot: number;
  epoch: number;
  priceLevel: number;
  quantityWh: number;
  salt: Hex;
  seed: Hex;
  commitment: Hex;
  ciphertextRoot: Hex;
  notAfter: number;
  encryptAt: "dso" | "meter";
  certifiedAt: number;
};

export type OneTimeIdRecord = { bidder: string; meterId: string; side: SideCode; notAfter: number; issuedAt: number };

export type MatchInput = { buyId: string; sellId: string; txHash: string; blockNumber: number; logIndex: number; observedAt: number };
export type MatchRecord = MatchInput & { matchKey: string };

/** The terms a verified trade stores (protocol/clearing.ts); its bidders are the trade row's own columns. */
export type TradeTermsRecord = Pick<TradeTerms, "buyLevel" | "sellLevel" | "clearingRule" | "priceMicroPerKWh" | "quantityWh">;

export type TradeRecord = {
  tradeId: Hex;
  matchKey: string;
  /** Where the trade is in its lifecycle (protocol/tradeLifecycle.ts). */
  stage: TradeStage;
  buyId: Address;
  sellId: Address;
  buyerMeterId: string | null;
  sellerMeterId: string | null;
  buyOpening: Opening | null;
  sellOpening: Opening | null;
  terms: TradeTermsRecord | null;
  voidReason: string | null;
  dispute: { side: SideCode; reason: string } | null;
  createdAt: number;
  updatedAt: number;
  settledAt: number | null;
  /** When the outcome was published to both meters; null while the trade is in flight. */
  closedAt: number | null;
  /** The DSO machine's own record of the trade (opaque JSON), for resuming after a restart. */
  machineRecord: unknown;
};

export type ReadingInput = {
  tradeId: string;
  side: SideCode;
  meterId: string;
  bidder: string;
  energyWh: number;
  measuredAt: number;
  receivedAt: number;
};
export type ReadingRecord = ReadingInput;

/**
 * A ledger account as stored: a prosumer's bill by permanent id, or one of the DSO's books. A settlement's lines
 * name parties by one-time id (protocol/settlement.ts); the DSO maps each to `meter:<permanent id>` before posting.
 */
export type LedgerAccount = `meter:${string}` | DsoBook;

/** A line to post; amounts may be numbers, bigints or decimal strings. */
export type LedgerPostingInput = { account: LedgerAccount; kind: PostingKind; amountMicro: number | bigint | string; memo?: string };

export type LedgerEntry = {
  entryId: number;
  tradeId: string;
  account: LedgerAccount;
  meterId: string | null;
  kind: PostingKind;
  amountMicro: number;
  memo: string;
  period: string;
  postedAt: number;
};

export type Bill = { meterId: string; period: string; totalMicro: number; tradeCount: number; entries: LedgerEntry[] };

/** Every write reports whether it changed anything, so a redelivered message is recognised as a no-op. */
export type WriteResult<T> = { inserted: boolean; record: T };
export type TransitionResult = { changed: boolean; trade: TradeRecord };

/**
 * How a stage is stored: the codes migration 1 gave the `status` column (a stored value never changes meaning). The
 * lifecycle itself, which stage may follow which, is protocol/tradeLifecycle.ts.
 */
const STORED_STAGE: Readonly<Record<TradeStage, string>> = {
  awaitingOpenings: "open",
  termsFixed: "verified",
  settled: "settled",
  voided: "voided",
  disputed: "disputed",
};
const STAGE_OF_STORED = new Map(Object.entries(STORED_STAGE).map(([stage, stored]) => [stored, stage as TradeStage]));

function stageOf(stored: string): TradeStage {
  const stage = STAGE_OF_STORED.get(stored);
  if (stage === undefined) throw new CorruptRowError({ kind: "status", stored });
  return stage;
}

// ---------------------------------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------------------------------

export type OpenDsoDatabaseOptions = {
  /** Migrations to apply (default: DSO_MIGRATIONS); tests pass extra ones. */
  migrations?: readonly Migration[];
  /** Clock for `*_at` columns written by the database itself. */
  now?: () => number;
  /** How long a writer waits for a lock held by another connection. */
  busyTimeoutMs?: number;
};


/**
 * Opens (creating if needed) the DSO database at `path` (`:memory:` for tests), applies pending migrations and
 * returns the repository. File databases use WAL with full sync: a settled trade survives a crash.
 */
export function openDsoDatabase(path: string, options: OpenDsoDatabaseOptions = {}): DsoDatabase {
  const { DatabaseSync } = loadSqlite();
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (cause) {
    throw new DatabaseOpenError({ path, cause });
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.floor(options.busyTimeoutMs ?? dsoDefaults.databaseBusyTimeoutMs)}`);
    db.exec("PRAGMA foreign_keys = ON");
    if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    // Deleted content is overwritten, not left in free pages: a destroyed epoch key is gone from the file.
    db.exec("PRAGMA secure_delete = ON");
    const report = migrate(db, options.migrations ?? DSO_MIGRATIONS, options.now);
    return new DsoDatabase(db, report.version, options.now ?? Date.now);
  } catch (error) {
    db.close();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Row decoding: node:sqlite returns loosely typed rows; each field is checked, so a schema drift fails loudly.
// ---------------------------------------------------------------------------------------------------------------

type Row = Record<string, unknown>;

function str(row: Row, key: string): string {
  const value = row[key];
  if (typeof value !== "string") throw new CorruptRowError({ kind: "notText", column: key, value });
  return value;
}
function num(row: Row, key: string): number {
  const value = row[key];
  if (typeof value !== "number") throw new CorruptRowError({ kind: "notInteger", column: key, value });
  return value;
}
function optStr(row: Row, key: string): string | null {
  return row[key] === null ? null : str(row, key);
}
function optNum(row: Row, key: string): number | null {
  return row[key] === null ? null : num(row, key);
}
function side(value: number): SideCode {
  if (value !== 0 && value !== 1) throw new CorruptRowError({ kind: "side", value });
  return value;
}

function certifiedBidOf(row: Row): CertifiedBidRecord {
  const encryptAt = str(row, "encrypt_at");
  if (encryptAt !== "dso" && encryptAt !== "meter") throw new CorruptRowError({ kind: "encryptAt", value: encryptAt });
  return {
    bidder: str(row, "bidder"),
    meterId: str(row, "meter_id"),
    side: side(num(row, "side")),
    slot: num(row, "slot"),
    epoch: num(row, "epoch"),
    priceLevel: num(row, "price_level"),
    quantityWh: num(row, "quantity_wh"),
    salt: str(row, "salt") as Hex,
    seed: str(row, "seed") as Hex,
    commitment: str(row, "commitment") as Hex,
    ciphertextRoot: str(row, "ciphertext_root") as Hex,
    notAfter: num(row, "not_after"),
    encryptAt,
    certifiedAt: num(row, "certified_at"),
  };
}

function oneTimeIdOf(row: Row): OneTimeIdRecord {
  return { bidder: str(row, "bidder"), meterId: str(row, "meter_id"), side: side(num(row, "side")), notAfter: num(row, "not_after"), issuedAt: num(row, "issued_at") };
}

/** Stored form of an opening: fixed key order, so equal openings are equal strings. */
function openingJson(opening: Opening): string {
  const { priceLevel, quantityWh, salt, alpha, beta } = opening;
  return JSON.stringify({ priceLevel, quantityWh, salt: toHex(salt), alpha, beta });
}
function parseOpening(text: string | null): Opening | null {
  return text === null ? null : (JSON.parse(text) as Opening);
}

function safeAmount(value: number | bigint | string): number {
  const amount = typeof value === "number" ? value : Number(BigInt(value));
  if (!Number.isSafeInteger(amount)) throw new UnsafeAmountError({ amount: value });
  return amount;
}

/** One line per (account, kind), amounts summed, memos joined; order of first appearance kept. */
function mergePostings(postings: readonly LedgerPostingInput[]): { account: LedgerAccount; kind: PostingKind; amountMicro: number; memo: string }[] {
  const merged = new Map<string, { account: LedgerAccount; kind: PostingKind; amountMicro: number; memo: string }>();
  for (const posting of postings) {
    const key = `${posting.account}\u0000${posting.kind}`;
    const amount = safeAmount(posting.amountMicro);
    const existing = merged.get(key);
    if (existing) {
      existing.amountMicro = safeAmount(existing.amountMicro + amount);
      if (posting.memo) existing.memo = existing.memo ? `${existing.memo}; ${posting.memo}` : posting.memo;
    } else {
      merged.set(key, { account: posting.account, kind: posting.kind, amountMicro: amount, memo: posting.memo ?? "" });
    }
  }
  return [...merged.values()];
}

function address(value: string): string {
  return getAddress(value);
}

function matchKeyOf(match: { buyId: string; sellId: string; txHash: string }): string {
  return `${address(match.buyId)}:${address(match.sellId)}:${toHex(match.txHash)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Repository
// ---------------------------------------------------------------------------------------------------------------

export class DsoDatabase {
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #statements = new Map<string, StatementSync>();
  /** The schema version after migrations. */
  readonly schemaVersion: number;

  constructor(db: DatabaseSync, schemaVersion: number, now: () => number) {
    this.#db = db;
    this.#now = now;
    this.schemaVersion = schemaVersion;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /**
   * Runs `work` in one IMMEDIATE transaction (nested calls join the outer one). Runtimes use it to make a
   * handler's several writes atomic, e.g. record an opening and verify the trade.
   */
  transaction<T>(work: () => T): T {
    if (this.#db.isTransaction) return work();
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = work();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  #stmt(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#stmt(sql).get(...params) as Row | undefined;
  }
  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#stmt(sql).all(...params) as Row[];
  }
  #run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#stmt(sql).run(...params).changes);
  }

  // --- meters -------------------------------------------------------------------------------------------------

  /**
   * Registers a meter (PROTOCOL §5 Setup). Enrolling again with the same long-term key is a no-op that returns
   * the stored record (its original inbox id); a different key for the id, or a key already used by another
   * meter, is a `ConflictError`.
   */
  enrolMeter(input: Omit<MeterRecord, "enrolledAt"> & { enrolledAt?: number }): WriteResult<MeterRecord> {
    return this.transaction(() => {
      const meter: MeterRecord = { ...input, address: address(input.address), publicKey: toHex(input.publicKey), enrolledAt: input.enrolledAt ?? this.#now() };
      const inserted =
        this.#run(
          `INSERT INTO meters (meter_id, address, public_key, name, inbox_id, enrolled_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT DO NOTHING`,
          meter.meterId,
          meter.address,
          meter.publicKey,
          meter.name,
          meter.inboxId,
          meter.enrolledAt,
        ) === 1;
      const stored = this.getMeter(meter.meterId);
      if (!stored) {
        throw new MeterIdentityTakenError({ meterId: meter.meterId, address: meter.address, inboxId: meter.inboxId });
      }
      if (stored.address !== meter.address || stored.publicKey !== meter.publicKey) {
        throw new MeterKeyMismatchError({ meterId: meter.meterId });
      }
      return { inserted, record: stored };
    });
  }

  getMeter(meterId: string): MeterRecord | undefined {
    const row = this.#get("SELECT * FROM meters WHERE meter_id = ?", meterId);
    return row && this.#meter(row);
  }

  findMeterByAddress(addr: string): MeterRecord | undefined {
    const row = this.#get("SELECT * FROM meters WHERE address = ?", address(addr));
    return row && this.#meter(row);
  }

  listMeters(): MeterRecord[] {
    return this.#all("SELECT * FROM meters ORDER BY meter_id").map((row) => this.#meter(row));
  }

  #meter(row: Row): MeterRecord {
    return {
      meterId: str(row, "meter_id"),
      address: str(row, "address"),
      publicKey: str(row, "public_key"),
      name: str(row, "name"),
      inboxId: str(row, "inbox_id"),
      enrolledAt: num(row, "enrolled_at"),
    };
  }

  // --- one-time ids -------------------------------------------------------------------------------------------

  /**
   * Records `(permanent id, one-time id)` when a ticket is issued (PROTOCOL §4). The same meter asking again for the
   * same bidder is a no-op returning the first record; a bidder claimed by another meter is a `ConflictError`.
   */
  recordOneTimeId(input: Omit<OneTimeIdRecord, "issuedAt"> & { issuedAt?: number }): WriteResult<OneTimeIdRecord> {
    return this.transaction(() => {
      if (!this.getMeter(input.meterId)) throw new UnknownMeterError({ meterId: input.meterId });
      const record: OneTimeIdRecord = { ...input, bidder: address(input.bidder), issuedAt: input.issuedAt ?? this.#now() };
      const inserted =
        this.#run(
          "INSERT INTO one_time_ids (bidder, meter_id, side, not_after, issued_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
          record.bidder,
          record.meterId,
          record.side,
          record.notAfter,
          record.issuedAt,
        ) === 1;
      const stored = this.lookupOneTimeId(record.bidder);
      if (!stored || stored.meterId !== record.meterId) {
        throw new OneTimeIdTakenError({ bidder: record.bidder });
      }
      return { inserted, record: stored };
    });
  }

  lookupOneTimeId(bidder: string): OneTimeIdRecord | undefined {
    const row = this.#get("SELECT * FROM one_time_ids WHERE bidder = ?", address(bidder));
    return row && oneTimeIdOf(row);
  }

  /** Every one-time id the DSO issued a ticket for, optionally of one meter, in issue order. */
  listOneTimeIds(filter: { meterId?: string } = {}): OneTimeIdRecord[] {
    const rows =
      filter.meterId === undefined
        ? this.#all("SELECT * FROM one_time_ids ORDER BY issued_at, bidder")
        : this.#all("SELECT * FROM one_time_ids WHERE meter_id = ? ORDER BY issued_at, bidder", filter.meterId);
    return rows.map(oneTimeIdOf);
  }

  // --- matches and trades -------------------------------------------------------------------------------------

  /**
   * Records a `Matched` event and opens its trade (id = `tradeIdOf(match)`), atomically. A replayed event returns
   * the existing trade with `inserted: false`. Buyer and seller meters are filled in when their one-time ids are known.
   */
  recordMatch(input: MatchInput): { inserted: boolean; match: MatchRecord; trade: TradeRecord } {
    return this.transaction(() => {
      const match: MatchRecord = {
        ...input,
        buyId: address(input.buyId),
        sellId: address(input.sellId),
        txHash: toHex(input.txHash),
        matchKey: matchKeyOf(input),
      };
      const inserted =
        this.#run(
          `INSERT INTO matches (match_key, buy_id, sell_id, tx_hash, block_number, log_index, observed_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
          match.matchKey,
          match.buyId,
          match.sellId,
          match.txHash,
          match.blockNumber,
          match.logIndex,
          match.observedAt,
        ) === 1;
      const tradeId = tradeIdOf(match);
      if (inserted) {
        const now = this.#now();
        this.#run(
          `INSERT INTO trades (trade_id, match_key, status, buy_id, sell_id, buyer_meter_id, seller_meter_id, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          tradeId,
          match.matchKey,
          STORED_STAGE.awaitingOpenings,
          match.buyId,
          match.sellId,
          this.lookupOneTimeId(match.buyId)?.meterId ?? null,
          this.lookupOneTimeId(match.sellId)?.meterId ?? null,
          now,
          now,
        );
      }
      const stored = this.#get("SELECT * FROM matches WHERE match_key = ?", match.matchKey);
      if (!stored) throw new RowVanishedError({ row: "match", key: match.matchKey });
      return { inserted, match: this.#match(stored), trade: this.#requireTrade(tradeId) };
    });
  }

  #match(row: Row): MatchRecord {
    return {
      matchKey: str(row, "match_key"),
      buyId: str(row, "buy_id"),
      sellId: str(row, "sell_id"),
      txHash: str(row, "tx_hash"),
      blockNumber: num(row, "block_number"),
      logIndex: num(row, "log_index"),
      observedAt: num(row, "observed_at"),
    };
  }

  getTrade(tradeId: string): TradeRecord | undefined {
    const row = this.#get("SELECT * FROM trades WHERE trade_id = ?", toHex(tradeId));
    return row && this.#trade(row);
  }

  /** Trades by stage, oldest first: what a restarted DSO resumes (`awaitingOpenings`, `termsFixed`, `disputed`). */
  listTrades(filter: { stage?: TradeStage | readonly TradeStage[] } = {}): TradeRecord[] {
    const stages = filter.stage === undefined ? undefined : typeof filter.stage === "string" ? [filter.stage] : filter.stage;
    const statuses = stages?.map((stage) => STORED_STAGE[stage]);
    const rows =
      statuses === undefined
        ? this.#all("SELECT * FROM trades ORDER BY created_at, trade_id")
        : this.#all(
            `SELECT * FROM trades WHERE status IN (SELECT value FROM json_each(?)) ORDER BY created_at, trade_id`,
            JSON.stringify(statuses),
          );
    return rows.map((row) => this.#trade(row));
  }

  #requireTrade(tradeId: string): TradeRecord {
    const trade = this.getTrade(tradeId);
    if (!trade) throw new UnknownTradeError({ tradeId });
    return trade;
  }

  #trade(row: Row): TradeRecord {
    const price = optNum(row, "price_micro_per_kwh");
    const disputedBy = optNum(row, "disputed_by_side");
    return {
      tradeId: str(row, "trade_id") as Hex,
      matchKey: str(row, "match_key"),
      stage: stageOf(str(row, "status")),
      buyId: str(row, "buy_id") as Address,
      sellId: str(row, "sell_id") as Address,
      buyerMeterId: optStr(row, "buyer_meter_id"),
      sellerMeterId: optStr(row, "seller_meter_id"),
      buyOpening: parseOpening(optStr(row, "buy_opening")),
      sellOpening: parseOpening(optStr(row, "sell_opening")),
      terms:
        price === null
          ? null
          : {
              buyLevel: num(row, "buy_level"),
              sellLevel: num(row, "sell_level"),
              clearingRule: str(row, "clearing_rule") as ClearingRule,
              priceMicroPerKWh: price,
              quantityWh: num(row, "quantity_wh"),
            },
      voidReason: optStr(row, "void_reason"),
      dispute: disputedBy === null ? null : { side: side(disputedBy), reason: str(row, "dispute_reason") },
      createdAt: num(row, "created_at"),
      updatedAt: num(row, "updated_at"),
      settledAt: optNum(row, "settled_at"),
      closedAt: optNum(row, "closed_at"),
      machineRecord: row.machine_record === null ? null : (JSON.parse(str(row, "machine_record")) as unknown),
    };
  }

  /**
   * Stores the DSO machine's record of a trade (any JSON) next to the relational row, replacing the previous one:
   * what `loadInFlightTrades` gives back to a restarted DSO. It never changes status, terms or the ledger.
   */
  saveMachineRecord(tradeId: string, record: unknown): TradeRecord {
    const json = JSON.stringify(record);
    if (json === undefined) throw new MachineRecordNotJsonError({ type: typeof record });
    if (this.#run("UPDATE trades SET machine_record = ?, updated_at = ? WHERE trade_id = ?", json, this.#now(), toHex(tradeId)) !== 1) {
      throw new UnknownTradeError({ tradeId });
    }
    return this.#requireTrade(tradeId);
  }

  /** Marks a trade's outcome as delivered to both meters (idempotent: the first time wins). */
  markClosed(tradeId: string, closedAt: number = this.#now()): TransitionResult {
    return this.transaction(() => {
      const changed = this.#run("UPDATE trades SET closed_at = ?, updated_at = ? WHERE trade_id = ? AND closed_at IS NULL", closedAt, this.#now(), toHex(tradeId)) === 1;
      return { changed, trade: this.#requireTrade(tradeId) };
    });
  }

  /** Trades not yet closed, oldest first: what a restarted DSO resumes. */
  listUnclosedTrades(): TradeRecord[] {
    return this.#all("SELECT * FROM trades WHERE closed_at IS NULL ORDER BY created_at, trade_id").map((row) => this.#trade(row));
  }

  /**
   * Stores a side's opening as received (PROTOCOL §5 trading step 2), before or after verification. The same opening again
   * is a no-op; a different one for the same side is a `ConflictError` (a bid has exactly one opening).
   */
  recordOpening(tradeId: string, bidSide: SideCode, opening: Opening): { inserted: boolean; trade: TradeRecord } {
    return this.transaction(() => {
      const column = bidSide === 0 ? "buy_opening" : "sell_opening";
      const json = openingJson(opening);
      const inserted =
        this.#run(`UPDATE trades SET ${column} = ?, updated_at = ? WHERE trade_id = ? AND ${column} IS NULL`, json, this.#now(), toHex(tradeId)) === 1;
      const trade = this.#requireTrade(tradeId);
      const stored = bidSide === 0 ? trade.buyOpening : trade.sellOpening;
      if (!inserted && (stored === null || openingJson(stored) !== json)) {
        throw new OpeningConflictError({ tradeId, side: bidSide });
      }
      return { inserted, trade };
    });
  }

  #transition(tradeId: string, to: TradeStage, set: string, params: SQLInputValue[]): TransitionResult {
    return this.transaction(() => {
      const current = this.#requireTrade(tradeId);
      if (current.stage === to) return { changed: false, trade: current };
      if (!canBecome(current.stage, to)) {
        throw new IllegalTradeTransitionError({ tradeId, stage: current.stage, to });
      }
      this.#run(
        `UPDATE trades SET status = ?, updated_at = ?${set ? `, ${set}` : ""} WHERE trade_id = ? AND status = ?`,
        STORED_STAGE[to],
        this.#now(),
        ...params,
        current.tradeId,
        STORED_STAGE[current.stage],
      );
      return { changed: true, trade: this.#requireTrade(tradeId) };
    });
  }

  /**
   * Fixes a verified trade's terms (PROTOCOL §5 trading step 2). Both one-time ids must be known (tickets issued by this
   * DSO), so the trade is bound to the two permanent ids that will be billed.
   */
  markVerified(tradeId: string, terms: TradeTermsRecord): TransitionResult {
    return this.transaction(() => {
      const trade = this.#requireTrade(tradeId);
      const buyer = this.lookupOneTimeId(trade.buyId);
      const seller = this.lookupOneTimeId(trade.sellId);
      if (!buyer || !seller) {
        throw new UnticketedOneTimeIdError({ buyId: buyer ? undefined : trade.buyId, sellId: seller ? undefined : trade.sellId });
      }
      if (trade.stage === "termsFixed" && trade.terms && JSON.stringify(trade.terms) !== JSON.stringify(terms)) {
        throw new TermsConflictError({ stored: trade.terms, given: terms });
      }
      return this.#transition(
        tradeId,
        "termsFixed",
        "buyer_meter_id = ?, seller_meter_id = ?, buy_level = ?, sell_level = ?, clearing_rule = ?, price_micro_per_kwh = ?, quantity_wh = ?",
        [buyer.meterId, seller.meterId, terms.buyLevel, terms.sellLevel, terms.clearingRule, terms.priceMicroPerKWh, terms.quantityWh],
      );
    });
  }

  /** Voids a trade (no opening in time, an opening that does not verify, or an upheld dispute; PROTOCOL §5 trading step 3). */
  voidTrade(tradeId: string, reason: string): TransitionResult {
    return this.#transition(tradeId, "voided", "void_reason = ?", [reason]);
  }

  /** Records a meter's dispute of a verified trade (PROTOCOL §5 trading step 3). */
  disputeTrade(tradeId: string, dispute: { side: SideCode; reason: string }): TransitionResult {
    return this.#transition(tradeId, "disputed", "disputed_by_side = ?, dispute_reason = ?", [dispute.side, dispute.reason]);
  }

  // --- readings -----------------------------------------------------------------------------------------------

  /** Stores a meter's measurement for a trade (PROTOCOL §5 trading step 5); one per trade and side, the first one wins. */
  recordReading(input: ReadingInput): WriteResult<ReadingRecord> {
    return this.transaction(() => {
      const reading: ReadingInput = { ...input, tradeId: toHex(input.tradeId), bidder: address(input.bidder) };
      const inserted =
        this.#run(
          `INSERT INTO readings (trade_id, side, meter_id, bidder, energy_wh, measured_at, received_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
          reading.tradeId,
          reading.side,
          reading.meterId,
          reading.bidder,
          reading.energyWh,
          reading.measuredAt,
          reading.receivedAt,
        ) === 1;
      const stored = this.readingsOf(reading.tradeId)[reading.side === 0 ? "buy" : "sell"];
      if (!stored) throw new RowVanishedError({ row: "reading", key: reading });
      return { inserted, record: stored };
    });
  }

  readingsOf(tradeId: string): { buy?: ReadingRecord; sell?: ReadingRecord } {
    const result: { buy?: ReadingRecord; sell?: ReadingRecord } = {};
    for (const row of this.#all("SELECT * FROM readings WHERE trade_id = ?", toHex(tradeId))) {
      const reading: ReadingRecord = {
        tradeId: str(row, "trade_id"),
        side: side(num(row, "side")),
        meterId: str(row, "meter_id"),
        bidder: str(row, "bidder"),
        energyWh: num(row, "energy_wh"),
        measuredAt: num(row, "measured_at"),
        receivedAt: num(row, "received_at"),
      };
      result[reading.side === 0 ? "buy" : "sell"] = reading;
    }
    return result;
  }

  // --- ledger -------------------------------------------------------------------------------------------------

  /**
   * Posts a trade's settlement (PROTOCOL §5 trading step 6) and marks it settled, in one transaction. The postings must sum to zero;
   * lines with the same account and kind are merged (a meter on both sides of a trade). Settling again is a no-op
   * (`inserted: false`) returning the stored entries.
   */
  settleTrade(
    tradeId: string,
    settlement: { postings: readonly LedgerPostingInput[]; period: string; settledAt: number },
  ): { inserted: boolean; entries: LedgerEntry[] } {
    return this.transaction(() => {
      const trade = this.#requireTrade(tradeId);
      if (trade.stage === "settled") return { inserted: false, entries: this.ledgerEntries({ tradeId }) };
      if (!canBecome(trade.stage, "settled")) {
        throw new IllegalTradeTransitionError({ tradeId, stage: trade.stage, to: "settled" });
      }
      const postings = mergePostings(settlement.postings);
      const sum = entriesSum(postings);
      if (sum !== 0n) throw new UnbalancedPostingsError({ sum });
      for (const posting of postings) {
        const meterId = posting.account.startsWith("meter:") ? posting.account.slice("meter:".length) : null;
        this.#run(
          `INSERT INTO ledger_entries (trade_id, account, meter_id, kind, amount_micro, memo, period, posted_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
          trade.tradeId,
          posting.account,
          meterId,
          posting.kind,
          posting.amountMicro,
          posting.memo,
          settlement.period,
          settlement.settledAt,
        );
      }
      this.#run("UPDATE trades SET status = ?, settled_at = ?, updated_at = ? WHERE trade_id = ?", STORED_STAGE.settled, settlement.settledAt, this.#now(), trade.tradeId);
      return { inserted: true, entries: this.ledgerEntries({ tradeId }) };
    });
  }

  ledgerEntries(filter: { tradeId?: string; meterId?: string; period?: string } = {}): LedgerEntry[] {
    return this.#all(
      `SELECT * FROM ledger_entries
       WHERE (?1 IS NULL OR trade_id = ?1) AND (?2 IS NULL OR meter_id = ?2) AND (?3 IS NULL OR period = ?3)
       ORDER BY entry_id`,
      (filter.tradeId === undefined ? null : toHex(filter.tradeId)),
      filter.meterId ?? null,
      filter.period ?? null,
    ).map((row) => ({
      entryId: num(row, "entry_id"),
      tradeId: str(row, "trade_id"),
      account: str(row, "account") as LedgerAccount,
      meterId: optStr(row, "meter_id"),
      kind: str(row, "kind") as PostingKind,
      amountMicro: num(row, "amount_micro"),
      memo: str(row, "memo"),
      period: str(row, "period"),
      postedAt: num(row, "posted_at"),
    }));
  }

  /** A prosumer's bill for a period (from the `bills` view), with its entries. Zero when it did not trade. */
  bill(meterId: string, period: string): Bill {
    const row = this.#get("SELECT * FROM bills WHERE meter_id = ? AND period = ?", meterId, period);
    return {
      meterId,
      period,
      totalMicro: row ? num(row, "total_micro") : 0,
      tradeCount: row ? num(row, "trade_count") : 0,
      entries: this.ledgerEntries({ meterId, period }),
    };
  }

  /** Every bill (optionally of one period), by meter id. */
  bills(period?: string): Bill[] {
    return this.#all("SELECT meter_id, period FROM bills WHERE (?1 IS NULL OR period = ?1) ORDER BY meter_id, period", period ?? null).map((row) =>
      this.bill(str(row, "meter_id"), str(row, "period")),
    );
  }

  /** Sum of every entry: 0 in a balanced ledger. */
  ledgerTotal(): number {
    const row = this.#get("SELECT COALESCE(SUM(amount_micro), 0) AS total FROM ledger_entries");
    return row ? num(row, "total") : 0;
  }

  /** Trades whose entries do not sum to zero (always empty unless the database was edited by hand). */
  unbalancedTrades(): string[] {
    return this.#all("SELECT trade_id FROM ledger_entries GROUP BY trade_id HAVING SUM(amount_micro) <> 0").map((row) => str(row, "trade_id"));
  }

  // --- settings -----------------------------------------------------------------------------------------------

  setSetting(key: string, value: unknown): void {
    this.#run(
      `INSERT INTO dso_settings (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      key,
      JSON.stringify(value),
      this.#now(),
    );
  }

  getSetting(key: string): unknown {
    const row = this.#get("SELECT value FROM dso_settings WHERE key = ?", key);
    return row ? (JSON.parse(str(row, "value")) as unknown) : undefined;
  }

  // --- certified bids (v2) ----------------------------------------------------------------------------------------

  /**
   * Stores a certified bid and, with it, the pair (permanent id, bidder) as a ticket does (PROTOCOL §4: the DSO alone
   * links them; trades, readings and bills find the meter of a bidder there). The same bid again (a lost reply) is a
   * no-op returning the first record; another bid under the same bidder, or the bidder of another meter, is a
   * `CertifiedBidConflictError` and changes nothing.
   */
  recordCertifiedBid(input: Omit<CertifiedBidRecord, "certifiedAt"> & { certifiedAt?: number }): WriteResult<CertifiedBidRecord> {
    return this.transaction(() => {
      if (!this.getMeter(input.meterId)) throw new UnknownMeterError({ meterId: input.meterId });
      const record: CertifiedBidRecord = { ...input, bidder: address(input.bidder), salt: toHex(input.salt), seed: toHex(input.seed), commitment: toHex(input.commitment), ciphertextRoot: toHex(input.ciphertextRoot), certifiedAt: input.certifiedAt ?? this.#now() };
      const inserted =
        this.#run(
          `INSERT INTO certified_bids (bidder, meter_id, side, slot, epoch, price_level, quantity_wh, salt, seed, commitment, ciphertext_root, not_after, encrypt_at, certified_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bidder) DO NOTHING`,
          record.bidder,
          record.meterId,
          record.side,
          record.slot,
          record.epoch,
          record.priceLevel,
          record.quantityWh,
          record.salt,
          record.seed,
          record.commitment,
          record.ciphertextRoot,
          record.notAfter,
          record.encryptAt,
          record.certifiedAt,
        ) === 1;
      const stored = this.certifiedBid(record.bidder)!;
      if (!inserted) {
        const same = (["meterId", "side", "slot", "priceLevel", "quantityWh", "salt", "seed", "commitment", "ciphertextRoot"] as const).every((key) => stored[key] === record[key]);
        if (!same) throw new CertifiedBidConflictError({ bidder: record.bidder });
      }
      this.#run(
        "INSERT INTO one_time_ids (bidder, meter_id, side, not_after, issued_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        stored.bidder,
        stored.meterId,
        stored.side,
        stored.notAfter,
        stored.certifiedAt,
      );
      // A bidder a version 1 ticket gave to another meter is that meter's: nothing is stored (the transaction rolls back).
      if (this.lookupOneTimeId(stored.bidder)?.meterId !== stored.meterId) throw new CertifiedBidConflictError({ bidder: stored.bidder });
      return { inserted, record: stored };
    });
  }

  certifiedBid(bidder: string): CertifiedBidRecord | undefined {
    const row = this.#get("SELECT * FROM certified_bids WHERE bidder = ?", address(bidder));
    return row && certifiedBidOf(row);
  }

  /** The certified bids of one slot, in certification order. */
  certifiedBidsOfSlot(slot: number): CertifiedBidRecord[] {
    return this.#all("SELECT * FROM certified_bids WHERE slot = ? ORDER BY certified_at, bidder", slot).map(certifiedBidOf);
  }

  // --- epoch keys (sealed: actors/dso/epochKeys.ts) ------------------------------------------------------------

  /** Stores an epoch's sealed key unless the epoch has one (or had one): the stored row either way. */
  insertEpochKey(epoch: number, sealed: Uint8Array, createdAt: number = this.#now()): WriteResult<EpochKeyRecord> {
    const inserted = this.#run("INSERT INTO epoch_keys (epoch, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (epoch) DO NOTHING", epoch, sealed, createdAt);
    return { inserted: inserted > 0, record: this.epochKey(epoch)! };
  }

  epochKey(epoch: number): EpochKeyRecord | undefined {
    const row = this.#get("SELECT epoch, sealed, created_at, destroyed_at FROM epoch_keys WHERE epoch = ?", epoch);
    return row === undefined ? undefined : epochKeyRecord(row);
  }

  /** Epochs with a key still kept, oldest first. */
  liveEpochKeys(): EpochKeyRecord[] {
    return this.#all("SELECT epoch, sealed, created_at, destroyed_at FROM epoch_keys WHERE destroyed_at IS NULL ORDER BY epoch").map(epochKeyRecord);
  }

  /**
   * Destroys an epoch's key: its sealed bytes are overwritten (secure_delete) and the row keeps only the fact, so
   * the epoch never gets a key again. Then a WAL checkpoint, so that no copy stays in the log. False if none was kept.
   */
  destroyEpochKey(epoch: number, destroyedAt: number = this.#now()): boolean {
    const changed = this.#run("UPDATE epoch_keys SET sealed = NULL, destroyed_at = ? WHERE epoch = ? AND destroyed_at IS NULL", destroyedAt, epoch);
    this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return changed > 0;
  }
}

export type EpochKeyRecord = { epoch: number; sealed: Uint8Array | null; createdAt: number; destroyedAt: number | null };

function epochKeyRecord(row: Row): EpochKeyRecord {
  const sealed = row.sealed;
  if (sealed !== null && !(sealed instanceof Uint8Array)) throw new CorruptRowError({ kind: "notBlob", column: "sealed" });
  return { epoch: num(row, "epoch"), sealed: sealed === null ? null : new Uint8Array(sealed), createdAt: num(row, "created_at"), destroyedAt: optNum(row, "destroyed_at") };
}
