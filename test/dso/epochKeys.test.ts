// Epoch keys at rest (PROTOCOL §5 v2): a real SQLite file and real Setup. Made once, the same after a restart,
// never in the file in clear, refused under another vault key with nothing changed, destroyed for good.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { openDsoDatabase, type DsoDatabase } from "../../actors/db/dsoDatabase.ts";
import { EpochKeyVault, VAULT_KEY_FILE_NAME, loadVaultKey } from "../../actors/dso/epochKeys.ts";
import { EpochKeyError, VaultKeyError } from "../../actors/dso/errors.ts";
import { encodeMsk } from "../../protocol/fhipe/binary.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { retentionEndsAt, type EpochCalendar } from "../../protocol/epochs.ts";

const calendar: EpochCalendar = { slotSeconds: 900, gateClosureSeconds: 300, slotsPerEpoch: 96, retentionSeconds: 86_400 };
const dimension = 3;
let dir: string;
const open: DsoDatabase[] = [];

beforeAll(async () => {
  await initCurve();
});

afterEach(() => {
  for (const db of open.splice(0)) db.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function database(): DsoDatabase {
  const db = openDsoDatabase(join(dir, "dso.sqlite"));
  open.push(db);
  return db;
}

/** Every byte the database keeps on disk (the file, its WAL and shared memory). */
function onDisk(): Buffer {
  return Buffer.concat(readdirSync(dir).filter((name) => name.startsWith("dso.sqlite")).map((name) => readFileSync(join(dir, name))));
}

const vault = (db: DsoDatabase, vaultKey: Uint8Array) => new EpochKeyVault({ db, vaultKey, marketId: "m1", dimension, calendar });

describe("epoch keys", () => {
  it("makes an epoch's key once, returns the same after a restart, and never writes it in clear", () => {
    dir = mkdtempSync(join(tmpdir(), "gridveil-epochs-"));
    const vaultKey = new Uint8Array(randomBytes(32));
    const first = vault(database(), vaultKey).prepare(7);
    expect(first.msk.dim).toBe(dimension);
    // Idempotent in the same process.
    expect(encodeMsk(vault(open[0]!, vaultKey).prepare(7).msk)).toEqual(encodeMsk(first.msk));
    open.splice(0).forEach((db) => db.close());
    // A restart: the same key, from the sealed row.
    const again = vault(database(), vaultKey).load(7);
    expect(Buffer.from(encodeMsk(again.msk))).toEqual(Buffer.from(encodeMsk(first.msk)));
    expect(Buffer.from(again.tokenKey)).toEqual(Buffer.from(first.tokenKey));
    // Neither the key nor any 32-byte word of it is on disk in clear.
    const disk = onDisk();
    expect(disk.includes(Buffer.from(first.tokenKey))).toBe(false);
    const msk = Buffer.from(encodeMsk(first.msk));
    for (let offset = 8; offset + 32 <= msk.length; offset += 32) expect(disk.includes(msk.subarray(offset, offset + 32))).toBe(false);
  });

  it("refuses another vault key with a named error and changes nothing", () => {
    dir = mkdtempSync(join(tmpdir(), "gridveil-epochs-"));
    const db = database();
    const right = new Uint8Array(randomBytes(32));
    const made = vault(db, right).prepare(3);
    const before = db.epochKey(3);
    const wrong = vault(db, new Uint8Array(randomBytes(32)));
    expect(() => wrong.load(3)).toThrow(EpochKeyError);
    expect(() => wrong.prepare(3)).toThrow(/does not open with the vault key/);
    expect(db.epochKey(3)).toEqual(before);
    // The epoch is bound in: a row copied to another epoch does not open either.
    db.insertEpochKey(4, before!.sealed!);
    expect(() => vault(db, right).load(4)).toThrow(/does not open/);
    expect(encodeMsk(vault(db, right).load(3).msk)).toEqual(encodeMsk(made.msk));
  });

  it("keeps the current and next epochs' keys and destroys a key after its retention, for good", () => {
    dir = mkdtempSync(join(tmpdir(), "gridveil-epochs-"));
    const db = database();
    const keys = vault(db, new Uint8Array(randomBytes(32)));
    const day0 = 20_000 * 86_400;
    // Next due: epoch 20,001 starts (then 20,002's key is needed).
    expect(keys.maintain(day0)).toEqual({ prepared: [20_000, 20_001], destroyed: [], nextAt: day0 + 86_400 });
    expect(keys.maintain(day0 + 3_600)).toEqual({ prepared: [], destroyed: [], nextAt: day0 + 86_400 });
    const sealed = Buffer.from(db.epochKey(20_000)!.sealed!);
    // A day later epoch 20,002 is needed; epoch 20,000's retention (one day after its end) is not over yet.
    expect(keys.maintain(day0 + 86_400)).toEqual({ prepared: [20_002], destroyed: [], nextAt: retentionEndsAt(20_000, calendar) });
    expect(keys.maintain(retentionEndsAt(20_000, calendar))).toEqual({ prepared: [20_003], destroyed: [20_000], nextAt: retentionEndsAt(20_001, calendar) });
    expect(() => keys.load(20_000)).toThrow(/destroyed after its retention/);
    expect(() => keys.prepare(20_000)).toThrow(EpochKeyError);
    expect(db.liveEpochKeys().map((record) => record.epoch)).toEqual([20_001, 20_002, 20_003]);
    // Gone from the file and its log, not left in a free page.
    expect(onDisk().includes(sealed)).toBe(false);
    expect(onDisk().includes(sealed.subarray(1, 29))).toBe(false);
  });

  it("reads the vault key from the environment or a file, else makes one in the data directory, and names what is wrong without showing it", () => {
    dir = mkdtempSync(join(tmpdir(), "gridveil-epochs-"));
    const key = randomBytes(32);
    expect(Buffer.from(loadVaultKey({ hex: key.toString("hex") }).key)).toEqual(key);
    writeFileSync(join(dir, "raw"), key);
    writeFileSync(join(dir, "hex"), `0x${key.toString("hex")}\n`);
    expect(Buffer.from(loadVaultKey({ file: join(dir, "raw") }).key)).toEqual(key);
    expect(Buffer.from(loadVaultKey({ file: join(dir, "hex") }).key)).toEqual(key);
    expect(() => loadVaultKey({ hex: key.toString("hex"), file: join(dir, "raw") })).toThrow(VaultKeyError);
    const short = key.subarray(0, 16).toString("hex");
    let message = "";
    try {
      loadVaultKey({ hex: short });
    } catch (error) {
      message = String(error);
    }
    expect(message).toMatch(/not 32 bytes/);
    expect(message).not.toContain(short);
    expect(() => loadVaultKey({ file: join(dir, "absent") })).toThrow(/cannot read the vault key file/);
    // None given: made once in the data directory, owner-only, and the same key afterwards.
    const own = join(dir, "data");
    const made = loadVaultKey({ dataDir: own });
    expect(made.created).toBe(true);
    expect(statSync(join(own, VAULT_KEY_FILE_NAME)).mode & 0o777).toBe(0o600);
    const again = loadVaultKey({ dataDir: own });
    expect(again.created).toBe(false);
    expect(Buffer.from(again.key)).toEqual(Buffer.from(made.key));
  });

});
