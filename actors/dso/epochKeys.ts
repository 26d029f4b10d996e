// The DSO's epoch keys (PROTOCOL §5 v2, setup and epochs): per epoch a fresh msk_e (Setup(d)) and token key k, made
// before the epoch opens, kept in the DSO database sealed with the vault key (AES-256-GCM, the epoch and market bound
// in as associated data), and destroyed once the epoch's retention has passed. Never in the database in clear.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DsoDatabase } from "../db/dsoDatabase.ts";
import { decodeMsk, encodeMsk } from "../../protocol/fhipe/binary.ts";
import { setup, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { checkEpochCalendar, epochAt, epochsToDestroy, epochsToPrepare, firstSlotOf, retentionEndsAt, type EpochCalendar } from "../../protocol/epochs.ts";
import { EpochKeyError, VaultKeyError } from "./errors.ts";

/** One epoch's secret: the FHIPE master key and the block-token key (PROTOCOL §3.2). */
export type EpochKey = { epoch: number; msk: MasterSecretKey; tokenKey: Uint8Array };

const VAULT_KEY_BYTES = 32;
const TOKEN_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Sealed layout: version ‖ nonce ‖ tag ‖ AES-256-GCM(tokenKey ‖ encodeMsk(msk)). */
const SEALED_VERSION = 1;

/** The vault key the DSO makes for itself when none is given: in its data directory, like msk.bin. */
export const VAULT_KEY_FILE_NAME = "vault.key";
/** Owner read/write only. */
const SECRET_FILE_MODE = 0o600;

/**
 * The vault key (actors/config/dso.ts): `hex` (`GRIDVEIL_VAULT_KEY` / `--vault-key`, 64 hex characters), else `file`
 * (`--vault-key-file`: 32 raw bytes, or 64 hex characters), else `vault.key` in `dataDir`, made once (mode 0600, written
 * then renamed) and reused. Never stored in the database. Its value never appears in an error.
 */
export function loadVaultKey(source: { hex?: string | undefined; file?: string | undefined; dataDir?: string | undefined }): { key: Uint8Array; created: boolean } {
  if (source.hex !== undefined && source.file !== undefined) throw new VaultKeyError({ kind: "conflicting" });
  if (source.hex !== undefined) return { key: fromHex(source.hex.trim(), "GRIDVEIL_VAULT_KEY"), created: false };
  const file = source.file ?? (source.dataDir === undefined ? undefined : join(source.dataDir, VAULT_KEY_FILE_NAME));
  if (file === undefined) throw new VaultKeyError({ kind: "unreadable", path: "(no file, no data directory)", cause: undefined });
  if (source.file === undefined && !existsSync(file)) {
    mkdirSync(source.dataDir!, { recursive: true });
    const key = new Uint8Array(randomBytes(VAULT_KEY_BYTES));
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, key, { mode: SECRET_FILE_MODE, flag: "wx" });
    renameSync(temporary, file);
    return { key, created: true };
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (cause) {
    throw new VaultKeyError({ kind: "unreadable", path: file, cause });
  }
  // Its own file: tighten permissions if someone loosened them.
  if (source.file === undefined) chmodSync(file, SECRET_FILE_MODE);
  if (bytes.length === VAULT_KEY_BYTES) return { key: new Uint8Array(bytes), created: false };
  return { key: fromHex(bytes.toString("utf8").trim(), `file ${file}`), created: false };
}

function fromHex(text: string, source: string): Uint8Array {
  const hex = text.startsWith("0x") ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length !== 2 * VAULT_KEY_BYTES) {
    throw new VaultKeyError({ kind: "malformed", source, length: /^[0-9a-fA-F]*$/.test(hex) ? Math.floor(hex.length / 2) : text.length });
  }
  return new Uint8Array(Buffer.from(hex, "hex"));
}

export class EpochKeyVault {
  readonly #db: DsoDatabase;
  readonly #vaultKey: Uint8Array;
  readonly #marketId: string;
  readonly #dimension: number;
  readonly #calendar: EpochCalendar;
  readonly #cache = new Map<number, EpochKey>();

  constructor(options: { db: DsoDatabase; vaultKey: Uint8Array; marketId: string; dimension: number; calendar: EpochCalendar }) {
    if (options.vaultKey.length !== VAULT_KEY_BYTES) throw new VaultKeyError({ kind: "malformed", source: "the vault", length: options.vaultKey.length });
    this.#db = options.db;
    this.#vaultKey = options.vaultKey;
    this.#marketId = options.marketId;
    this.#dimension = options.dimension;
    this.#calendar = checkEpochCalendar(options.calendar);
  }

  /**
   * The epoch's key, made and stored first if it has none (durable before it is returned; a second call, or a
   * restart, returns the same key). A destroyed epoch is refused. The curve must be initialised (`initCurve`).
   */
  prepare(epoch: number): EpochKey {
    const existing = this.#db.epochKey(epoch);
    if (existing === undefined) {
      const key: EpochKey = { epoch, msk: setup(this.#dimension), tokenKey: new Uint8Array(randomBytes(TOKEN_KEY_BYTES)) };
      const { inserted } = this.#db.insertEpochKey(epoch, this.#seal(key));
      // Another DSO process may have made it first: then its key is the epoch's.
      if (inserted) {
        this.#cache.set(epoch, key);
        return key;
      }
    }
    return this.load(epoch);
  }

  /** The epoch's key as stored (never made here). */
  load(epoch: number): EpochKey {
    const cached = this.#cache.get(epoch);
    if (cached !== undefined) return cached;
    const record = this.#db.epochKey(epoch);
    if (record === undefined) throw new EpochKeyError({ kind: "missing", epoch });
    if (record.sealed === null) throw new EpochKeyError({ kind: "destroyed", epoch, destroyedAt: record.destroyedAt ?? 0 });
    const key = this.#open(epoch, record.sealed);
    if (key.msk.dim !== this.#dimension) throw new EpochKeyError({ kind: "dimension", epoch, keyDimension: key.msk.dim, marketDimension: this.#dimension });
    this.#cache.set(epoch, key);
    return key;
  }

  /**
   * The epoch routine at `now` (Unix seconds): keys for the current and the next epoch exist, and every kept key
   * whose retention has passed is destroyed. Returns what it did, and when it has something to do again (`nextAt`,
   * Unix seconds: the next epoch's start or the next kept key's retention end, whichever comes first).
   */
  maintain(now: number): { prepared: number[]; destroyed: number[]; nextAt: number } {
    const prepared = epochsToPrepare(now, this.#calendar).filter((epoch) => {
      const before = this.#db.epochKey(epoch);
      this.prepare(epoch);
      return before === undefined;
    });
    const kept = this.#db.liveEpochKeys().map((record) => record.epoch);
    const destroyed = epochsToDestroy(kept, now, this.#calendar).filter((epoch) => this.destroy(epoch));
    const nextEpochStarts = firstSlotOf(epochAt(now, this.#calendar) + 1, this.#calendar) * this.#calendar.slotSeconds;
    const retentionEnds = kept.filter((epoch) => !destroyed.includes(epoch)).map((epoch) => retentionEndsAt(epoch, this.#calendar));
    return { prepared, destroyed, nextAt: Math.min(nextEpochStarts, ...retentionEnds) };
  }

  /** Destroys the epoch's key (in the database and in this process); false when none was kept. */
  destroy(epoch: number): boolean {
    this.#cache.delete(epoch);
    return this.#db.destroyEpochKey(epoch);
  }

  #associatedData(epoch: number): Buffer {
    return Buffer.from(`gridveil/epoch-key/v${SEALED_VERSION}|${this.#marketId}|${epoch}`, "utf8");
  }

  #seal(key: EpochKey): Uint8Array {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#vaultKey, nonce);
    cipher.setAAD(this.#associatedData(key.epoch));
    const body = Buffer.concat([cipher.update(Buffer.from(key.tokenKey)), cipher.update(Buffer.from(encodeMsk(key.msk))), cipher.final()]);
    return new Uint8Array(Buffer.concat([Buffer.from([SEALED_VERSION]), nonce, cipher.getAuthTag(), body]));
  }

  #open(epoch: number, sealed: Uint8Array): EpochKey {
    const bytes = Buffer.from(sealed);
    if (bytes[0] !== SEALED_VERSION) throw new EpochKeyError({ kind: "unsealable", epoch });
    try {
      const nonce = bytes.subarray(1, 1 + NONCE_BYTES);
      const tag = bytes.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES);
      const decipher = createDecipheriv("aes-256-gcm", this.#vaultKey, nonce);
      decipher.setAAD(this.#associatedData(epoch));
      decipher.setAuthTag(tag);
      const plain = Buffer.concat([decipher.update(bytes.subarray(1 + NONCE_BYTES + TAG_BYTES)), decipher.final()]);
      return { epoch, tokenKey: new Uint8Array(plain.subarray(0, TOKEN_KEY_BYTES)), msk: decodeMsk(plain.subarray(TOKEN_KEY_BYTES)) };
    } catch {
      throw new EpochKeyError({ kind: "unsealable", epoch });
    }
  }
}
