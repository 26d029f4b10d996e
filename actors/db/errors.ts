// Errors of the DSO database (dsoDatabase.ts, migrations.ts, sqlite.ts): one class per condition, each building its
// message from the facts of the failure (protocol/base/errors.ts). Classes that answer a NATS request carry its code.
import { GridveilError, errorClass, faultErrorClass } from "../../protocol/base/errors.ts";
import { type ErrorCode } from "../../protocol/wire/schemas.ts";
import { type SideCode } from "../../protocol/domain.ts";
import { type TradeStage } from "../../protocol/tradeLifecycle.ts";

/** `node:sqlite` could not be loaded (too old a Node.js). */
export class SqliteUnavailableError extends errorClass(GridveilError, (params: { nodeVersion: string; cause?: unknown }) => [
  "node:sqlite is not available",
  {
    value: params.nodeVersion,
    hint: "Run with Node.js 22.13+ or 24 (npx tsx / npm scripts use the project's Node 24).",
    cause: params.cause,
  },
]) {}

/** Migrations out of order, a database from a newer program, or a migration that failed (and was rolled back). */
export class MigrationError extends faultErrorClass(GridveilError, {
  versions: (f: { versions: readonly number[] }) => ["migrations must have strictly increasing positive integer versions", { value: f.versions }],
  newerSchema: (f: { database: number; program: number }) => [
    "database schema is newer than this program",
    { value: { database: f.database, program: f.program }, hint: "Upgrade gridveil, or use a database created by this version." },
  ],
  failed: (f: { version: number; migrationName: string; cause: unknown }) => [
    `migration ${f.version} (${f.migrationName}) failed`,
    { cause: f.cause },
  ],
}) {}

/** The family of the DSO database's errors; throw one of the classes below. */
export class DatabaseError extends GridveilError {}

/** The database file cannot be opened. */
export class DatabaseOpenError extends errorClass(DatabaseError, (params: { path: string; cause: unknown }) => [
  "cannot open the DSO database",
  { value: params.path, hint: "Does the directory exist and is it writable?", cause: params.cause },
]) {}

/** A row read back does not have the shape the schema promises (schema drift or a hand-edited database). */
export class CorruptRowError extends faultErrorClass(DatabaseError, {
  status: (f: { stored: string }) => ["a trade row has an unknown status", { value: f.stored }],
  notText: (f: { column: string; value: unknown }) => [`column ${f.column} is not text`, { value: f.value }],
  notInteger: (f: { column: string; value: unknown }) => [`column ${f.column} is not an integer`, { value: f.value }],
  notBlob: (f: { column: string }) => [`column ${f.column} is not a blob`, { value: f.column }],
  side: (f: { value: number }) => ["side is not 0 or 1", { value: f.value }],
  encryptAt: (f: { value: string }) => ["encrypt_at is not dso or meter", { value: f.value }],
}) {}

/** A row just written could not be read back in the same transaction. */
export class RowVanishedError extends errorClass(DatabaseError, (params: { row: "match" | "reading"; key: unknown }) => [
  `${params.row} vanished after insert`,
  { value: params.key },
]) {}

/** A ledger amount that does not fit a JavaScript safe integer. */
export class UnsafeAmountError extends errorClass(DatabaseError, (params: { amount: number | bigint | string }) => [
  "ledger amount is not a safe integer of µ-units",
  { value: params.amount },
]) {}

/** A machine record that JSON.stringify cannot render (a function, a symbol, undefined). */
export class MachineRecordNotJsonError extends errorClass(DatabaseError, (params: { type: string }) => [
  "machine record is not JSON",
  { value: params.type },
]) {}

/** A settlement's lines do not sum to zero: nothing is posted. */
export class UnbalancedPostingsError extends errorClass(DatabaseError, (params: { sum: bigint }) => [
  "postings do not sum to zero",
  { value: params.sum, hint: "every line needs its mirror line (protocol/settlement.ts)" },
]) {}

// --- conflicts: a write contradicts what is stored under the same unique key (not a harmless repeat) -----------

/** The family of conflicting writes; answers a request with `conflict`. */
export class ConflictError extends DatabaseError {
  readonly replyCode: ErrorCode = "conflict";
}

/** Enrolling a meter whose key or inbox id another meter already has. */
export class MeterIdentityTakenError extends errorClass(ConflictError, (params: { meterId: string; address: string; inboxId: string }) => [
  "this key or inbox id already belongs to another meter",
  {
    value: { meterId: params.meterId, address: params.address, inboxId: params.inboxId },
  },
]) {}

/** Enrolling a meter id again with a different key. */
export class MeterKeyMismatchError extends errorClass(ConflictError, (params: { meterId: string }) => [
  "meter id is registered with another key",
  { value: { meterId: params.meterId } },
]) {}

/** A one-time id (bidder) recorded for a meter is already recorded for another. */
export class OneTimeIdTakenError extends errorClass(ConflictError, (params: { bidder: string }) => [
  "one-time id already belongs to another meter",
  { value: params.bidder },
]) {}

/** A one-time id already certified for another bid (another opening, or another meter). */
export class CertifiedBidConflictError extends errorClass(ConflictError, (params: { bidder: string }) => [
  "one-time id already certified for another bid",
  { value: params.bidder },
]) {}

/** A side of a trade sent a second, different opening. */
export class OpeningConflictError extends errorClass(ConflictError, (params: { tradeId: string; side: SideCode }) => [
  "a different opening is already stored for this side",
  { value: { tradeId: params.tradeId, side: params.side } },
]) {}

/** A trade verified again with terms other than the stored ones. */
export class TermsConflictError extends errorClass(ConflictError, (params: { stored: unknown; given: unknown }) => [
  "trade already verified with other terms",
  { value: { stored: params.stored, given: params.given } },
]) {}

/** The trade is in a state from which this step is not allowed (e.g. settling a voided trade). */
export class IllegalTradeTransitionError extends DatabaseError {
  readonly replyCode: ErrorCode = "conflict";
  constructor(params: { tradeId: string; stage: TradeStage; to: TradeStage }) {
    super(`trade is ${params.stage}, cannot ${params.to === "settled" ? "be settled" : `become ${params.to}`}`, { value: params.tradeId });
  }
}

// --- not found ------------------------------------------------------------------------------------------------

/** The family of lookups that found nothing; answers a request with `not-found`. */
export class NotFoundError extends DatabaseError {
  readonly replyCode: ErrorCode = "not-found";
}

/** No trade has this id. */
export class UnknownTradeError extends errorClass(NotFoundError, (params: { tradeId: string }) => ["unknown trade", { value: params.tradeId }]) {}

/** No meter is enrolled under this permanent id. */
export class UnknownMeterError extends errorClass(NotFoundError, (params: { meterId: string }) => [
  "unknown meter",
  { value: params.meterId, hint: "Enrol first." },
]) {}

/** A matched one-time id was never issued a ticket by this DSO, so the trade cannot be billed to a meter. */
export class UnticketedOneTimeIdError extends errorClass(NotFoundError, (params: { buyId?: string; sellId?: string }) => [
  "a matched one-time id was not issued a ticket by this DSO",
  { value: { buyId: params.buyId, sellId: params.sellId } },
]) {}
