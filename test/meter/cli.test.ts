// `gridveil meter` as a process (bin/gridveil.js under this Node): usage errors exit 2; a running meter enrols, bids,
// and on SIGTERM withdraws its open bid and exits 0 (real nats-server and chain, DSO/gateway stand-ins).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BidStatus, getBid, getBidIdOf } from "../../contracts/client/index.ts";
import { parseBidFlag } from "../../actors/config/meter.ts";
import { createTestMarket, startEnvironment, until, type Environment } from "./harness.ts";

const BIN = join(import.meta.dirname, "../../bin/gridveil.js");

type Run = { code: number | null; stdout: string; stderr: string };

function gridveil(args: string[], env: Record<string, string> = {}) {
  // The meter's own variables come only from the test, never from the caller's shell.
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("GRIDVEIL_METER")));
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const output = { stdout: "", stderr: "" };
  child.stdout.on("data", (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()));
  const exited = new Promise<Run>((resolve) => child.on("exit", (code) => resolve({ code, ...output })));
  return { child, output, exited };
}

describe("gridveil meter (CLI)", () => {
  it("parses --bid side:level:wh and refuses anything else", () => {
    expect(parseBidFlag("sell:3:1200")).toEqual([{ planId: "bid-1", side: "sell", priceLevel: 3, quantityWh: 1200 }]);
    expect(parseBidFlag("buy:0:50", parseBidFlag("sell:1:10"))[1]).toMatchObject({ planId: "bid-2", side: "buy" });
    expect(() => parseBidFlag("hold:1:10")).toThrow(/side:level:wh/);
    expect(() => parseBidFlag("sell:1:0")).toThrow(/positive/);
  });

  it("exits 2 with a clear message on bad or missing flags", async () => {
    const key = Wallet.createRandom().privateKey;
    const [noKey, badBid, noId] = await Promise.all([
      gridveil(["meter", "--meter-id", "m-1"]).exited,
      gridveil(["meter", "--meter-id", "m-1", "--key", key, "--bid", "sell:x:1"]).exited,
      gridveil(["meter", "--key", key, "--delivery-ratio", "0.9"]).exited,
    ]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/long-term private key/);
    expect(badBid.code).toBe(2);
    expect(badBid.stderr).toMatch(/--bid must be side:level:wh/);
    expect(noId.code).toBe(2);
    expect(noId.stderr).toMatch(/permanent id/);
  });

  describe("a running meter process", () => {
    let env: Environment;
    beforeAll(async () => {
      env = await startEnvironment();
    });
    afterAll(async () => {
      await env?.close();
    });

    it("enrols, bids, and on SIGTERM withdraws its open bid and exits 0", async () => {
      const market = await createTestMarket(env);
      try {
        const meterKey = Wallet.createRandom();
        market.dso.register("pv-cli", meterKey.address);
        const run = gridveil(
          [
            "meter",
            "--meter-id",
            "pv-cli",
            "--market",
            market.subjects.marketId,
            "--nats",
            env.nats.url,
            "--rpc",
            env.chain.rpcUrl,
            "--data-dir",
            join(env.dir, "pv-cli"),
            "--bid",
            "sell:3:400",
          ],
          { GRIDVEIL_METER_KEY: meterKey.privateKey },
        );
        const bidder = await until(() => market.gateway.placed[0], 60_000, "the process's bid placed");
        expect(run.output.stdout).toContain(`"address":"${meterKey.address}"`);
        expect(run.output.stdout).toContain('"enrolled":true');
        run.child.kill("SIGTERM");
        const result = await run.exited;
        expect(result.code).toBe(0);
        const last = JSON.parse(result.stdout.trim().split("\n").at(-1) as string) as Record<string, unknown>;
        expect(last).toMatchObject({ meter: "pv-cli", stopped: "SIGTERM", bids: 1, cancelled: 1 });
        const bidId = await getBidIdOf(market.handle, bidder);
        expect((await getBid(market.handle, bidId as bigint)).status).toBe(BidStatus.Cancelled);
      } finally {
        await market.close();
      }
    });
  });
});
