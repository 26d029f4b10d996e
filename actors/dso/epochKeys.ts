// The DSO's epoch keys (PROTOCOL §5 v2, setup and epochs): per epoch a fresh msk_e (Setup(d)) and token key k, made
// before the epoch opens, kept in the DSO database sealed with the vault key (AES-256-GCM, the epoch and market bound
// in as associated data), and destroyed once the epoch's retention has passed. Never in the database in clear.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { DsoDatabase } from "../db/dsoDatabase.ts";
import { decodeMsk, encodeMsk } from "../../protocol/fhipe/binary.ts";
import { setup, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { checkEpochCalendar, epochsToDestroy, epochsToPrepare, type EpochCalendar } from "../../protocol/epochs.ts";
import { EpochKeyError, VaultKeyError } from "./errors.ts";

/** One epoch's secret: the FHIPE master key and the block-token key (PROTOCOL §3.2). */
export type EpochKey = { epoch: number; msk: MasterSecretKey; tokenKey: Uint8Array };

const VAULT_KEY_BYTES = 32;
const TOKEN_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Sealed layout: version ‖ nonce ‖ tag ‖ AES-256-GCM(tokenKey ‖ encodeMsk(msk)). */
const SEALED_VERSION = 1;

/**
 * The vault key: `GRIDVEIL_DSO_VAULT_KEY` (64 hex characters) or a file (32 raw bytes, or 64 hex characters). Its
 * value never appears in an error.
 */
export function loadVaultKey(source: { env?: NodeJS.ProcessEnv; file?: string }): Uint8Array {
  if (source.file !== undefined) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(source.file);
    } catch (cause) {
      throw new VaultKeyError({ kind: "unreadable", path: source.file, cause });
    }
    if (bytes.length === VAULT_KEY_BYTES) return new Uint8Array(bytes);
    return fromHex(bytes.toString("utf8").trim(), `file ${source.file}`);
  }
  const hex = source.env?.GRIDVEIL_DSO_VAULT_KEY;
  if (hex === undefined || hex === "") throw new VaultKeyError({ kind: "missing" });
  return fromHex(hex.trim(), "GRIDVEIL_DSO_VAULT_KEY");
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
   * whose retention has passed is destroyed. Returns what it did.
   */
  maintain(now: number): { prepared: number[]; destroyed: number[] } {
    const prepared = epochsToPrepare(now, this.#calendar).filter((epoch) => {
      const before = this.#db.epochKey(epoch);
      this.prepare(epoch);
      return before === undefined;
    });
    const kept = this.#db.liveEpochKeys().map((record) => record.epoch);
    const destroyed = epochsToDestroy(kept, now, this.#calendar).filter((epoch) => this.destroy(epoch));
    return { prepared, destroyed };
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
