// The gateway's chain cursor on disk: the last block whose notices are published, written atomically (PROTOCOL §6).
import { mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { CursorFileError } from "./errors.ts";
import { sameAddress } from "../../protocol/base/hex.ts";

export const CURSOR_FILE_NAME = "gateway-cursor.json";

/**
 * The cursor names the market it belongs to: a data directory reused for another contract (a new deployment on a
 * fresh chain) must not make the follower skip that contract's first blocks.
 */
const cursorFileSchema = z.strictObject({
  version: z.literal(1),
  marketId: z.string().min(1),
  chainId: z.number().int().positive(),
  contractAddress: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  lastProcessedBlock: z.number().int().nonnegative(),
  savedAt: z.number().int().nonnegative(),
});
type CursorFile = z.infer<typeof cursorFileSchema>;

export type CursorScope = { marketId: string; chainId: number; contractAddress: string };

export type CursorStore = {
  path: string;
  /** The saved block, or null when none is saved for this market (or the file belongs to another contract). */
  load(): Promise<{ lastProcessedBlock: number | null; foreign: CursorScope | null }>;
  save(lastProcessedBlock: number): Promise<void>;
};

export function cursorStore(dataDir: string, scope: CursorScope): CursorStore {
  const path = join(dataDir, CURSOR_FILE_NAME);
  let sequence = 0;
  return {
    path,
    async load() {
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return { lastProcessedBlock: null, foreign: null };
        throw error;
      }
      let parsed: CursorFile;
      try {
        parsed = cursorFileSchema.parse(JSON.parse(text));
      } catch (cause) {
        // Never silently restart from the deployment block: that would republish everything (harmless, deduplicated)
        // but hide a broken disk. The operator decides (delete the file to re-follow from the start).
        throw new CursorFileError({ path, cause });
      }
      const sameScope =
        parsed.marketId === scope.marketId &&
        parsed.chainId === scope.chainId &&
        sameAddress(parsed.contractAddress, scope.contractAddress);
      if (!sameScope) {
        return {
          lastProcessedBlock: null,
          foreign: { marketId: parsed.marketId, chainId: parsed.chainId, contractAddress: parsed.contractAddress },
        };
      }
      return { lastProcessedBlock: parsed.lastProcessedBlock, foreign: null };
    },
    async save(lastProcessedBlock) {
      await mkdir(dataDir, { recursive: true });
      const record: CursorFile = {
        version: 1,
        marketId: scope.marketId,
        chainId: scope.chainId,
        contractAddress: scope.contractAddress,
        lastProcessedBlock,
        savedAt: Date.now(),
      };
      // Write a temporary file, fsync it, rename over the old one, fsync the directory: a crash leaves either the
      // old cursor or the new one, never a torn file.
      const temporary = `${path}.${process.pid}.${++sequence}.tmp`;
      const file = await open(temporary, "w");
      try {
        await file.writeFile(`${JSON.stringify(record)}\n`);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temporary, path);
      const directory = await open(dataDir, "r");
      try {
        await directory.sync();
      } finally {
        await directory.close();
      }
    },
  };
}
