// `gridveil market up|down` (infra/market.ts): the parties as separate processes from generated provisioning — a
// real nats-server with the generated users and least-privilege permissions, `npx hardhat node`, the DSO, the
// gateway and two meters, each its own process. Trades settle (read from the DSO's SQLite file), the ledger balances,
// and `down` leaves no process behind.
import { mkdtemp, rm } from "node:fs/promises";
import { DatabaseSync } from "node:sqlite";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { marketDown, marketUp, readMarketFile } from "../../infra/market.ts";
import { MarketNotRunningError } from "../../infra/errors.ts";

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("a market of processes", () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) {
      await marketDown({ dir: join(dir, "m") }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("starts every party as a process, settles trades with a balanced ledger, and stops them all", async () => {
    dir = await mkdtemp(join(tmpdir(), "gridveil-market-"));
    const started = await marketUp({ dir: join(dir, "m"), meters: 2 });
    expect(started.processes.map((entry) => entry.name)).toEqual(["nats", "chain", "dso", "gateway", "meter-01", "meter-02"]);
    expect(readMarketFile(join(dir, "m"))).toEqual(started);

    let settled = 0;
    let ledger: { sum: number | null; lines: number } = { sum: null, lines: 0 };
    for (let waited = 0; settled < 2 && waited < 120_000; waited += 500) {
      await sleep(500);
      try {
        const db = new DatabaseSync(started.dsoDatabase, { readOnly: true });
        try {
          settled = Number((db.prepare("SELECT count(*) AS n FROM trades WHERE status = 'settled'").get() as { n: number }).n);
          ledger = db.prepare("SELECT sum(amount_micro) AS sum, count(*) AS lines FROM ledger_entries").get() as typeof ledger;
        } finally {
          db.close();
        }
      } catch {
        // The DSO has not created its database yet.
      }
    }
    expect(settled).toBeGreaterThanOrEqual(2);
    expect(ledger.lines).toBeGreaterThan(0);
    expect(ledger.sum).toBe(0);

    const stopped = await marketDown({ dir: join(dir, "m") });
    expect(stopped).toEqual(["meter-02", "meter-01", "gateway", "dso", "chain", "nats"]);
    expect(started.processes.filter((entry) => alive(entry.pid)).map((entry) => entry.name)).toEqual([]);

    // Up again from the same directory: a new chain, so a new DSO database and streams; the DSO serves again.
    const again = await marketUp({ dir: join(dir, "m"), meters: 2 });
    expect(again.processes.every((entry) => alive(entry.pid))).toBe(true);
    await marketDown({ dir: join(dir, "m") });
    expect(again.processes.filter((entry) => alive(entry.pid))).toEqual([]);
  }, 240_000);

  it("says so when no market was started from a directory", async () => {
    await expect(marketDown({ dir: join(tmpdir(), "gridveil-no-market-here") })).rejects.toThrow(MarketNotRunningError);
  });
});
