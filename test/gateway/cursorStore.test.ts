// The gateway's cursor file: atomic saves, scoped to one market/contract, a corrupted file is an error (not a restart).
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CURSOR_FILE_NAME, cursorStore } from "../../actors/gateway/cursorStore.ts";
import { CursorFileError } from "../../actors/gateway/errors.ts";

const scope = { marketId: "m1", chainId: 31337, contractAddress: "0x5FbDB2315678afecb367f032d93F642f64180aa3" };
const dirs: string[] = [];
const freshDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), "gridveil-cursor-"));
  dirs.push(dir);
  return dir;
};
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("gateway cursor store", () => {
  it("has no cursor at first, then returns the last saved block, leaving no temporary file", async () => {
    const dir = await freshDir();
    const store = cursorStore(dir, scope);
    expect(await store.load()).toEqual({ lastProcessedBlock: null, foreign: null });
    await store.save(12);
    await store.save(15);
    expect(await cursorStore(dir, scope).load()).toEqual({ lastProcessedBlock: 15, foreign: null });
    expect(await readdir(dir)).toEqual([CURSOR_FILE_NAME]);
  });

  it("ignores a cursor saved for another contract or market (and says whose it was)", async () => {
    const dir = await freshDir();
    await cursorStore(dir, scope).save(40);
    const other = { ...scope, contractAddress: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512" };
    expect(await cursorStore(dir, other).load()).toEqual({ lastProcessedBlock: null, foreign: scope });
    expect((await cursorStore(dir, { ...scope, marketId: "m2" }).load()).lastProcessedBlock).toBeNull();
  });

  it("refuses a corrupted file instead of silently re-following from the start", async () => {
    const dir = await freshDir();
    await writeFile(join(dir, CURSOR_FILE_NAME), "{\"version\":1,\"lastProcessed");
    await expect(cursorStore(dir, scope).load()).rejects.toBeInstanceOf(CursorFileError);
  });
});
