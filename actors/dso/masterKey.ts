// The DSO's FHIPE master secret key on disk (PROTOCOL §2 Setup, §5 setup): created once, owner-only, reused forever.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeMsk, encodeMsk } from "../../protocol/fhipe/binary.ts";
import { setup, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { MasterKeyError } from "./errors.ts";

export const MSK_FILE_NAME = "msk.bin";
/** Owner read/write only: the key decrypts every bid of the market. */
const SECRET_FILE_MODE = 0o600;

export function masterKeyPath(dataDir: string): string {
  return join(dataDir, MSK_FILE_NAME);
}

/**
 * Loads `msk` from the data directory, or runs `Setup(d)` and stores it (write to a temporary file with mode 0600,
 * then rename, so a crash never leaves a half-written key). Never replaces an existing key: enrolled meters hold it.
 * The curve must be initialised (`initCurve`).
 */
export function loadOrCreateMasterKey(dataDir: string, dimension: number): { msk: MasterSecretKey; created: boolean } {
  const path = masterKeyPath(dataDir);
  if (existsSync(path)) {
    // Tighten permissions if someone loosened them; the key itself is still the market's key.
    chmodSync(path, SECRET_FILE_MODE);
    let msk: MasterSecretKey;
    try {
      msk = decodeMsk(readFileSync(path));
    } catch (cause) {
      throw new MasterKeyError({ path, cause });
    }
    if (msk.dim !== dimension) {
      throw new MasterKeyError({ path, keyDimension: msk.dim, marketDimension: dimension });
    }
    return { msk, created: false };
  }
  mkdirSync(dataDir, { recursive: true });
  const msk = setup(dimension);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, encodeMsk(msk), { mode: SECRET_FILE_MODE, flag: "wx" });
  renameSync(temporary, path);
  return { msk, created: true };
}
