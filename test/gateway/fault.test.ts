// Faults (real nats-server, real EDR chain, real pairings, the gateway as a child process `gridveil gateway`):
// SIGKILL mid-stream and restart loses no bid and places none twice; SIGTERM stops gracefully and loses nothing.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it, onTestFailed } from "vitest";
import { decodeMarketEvents, getBidCount, getBidIdOf, type BidPlacedEvent } from "../../contracts/client/index.ts";
import { dedupIds } from "../../actors/nats/jetstream.ts";
import { createMarket, environmentPerFile, until, type Environment, type MadeBid, type Market } from "./fixture.ts";
import { tradeIdOf } from "../../protocol/domain.ts";

const CLI = join(import.meta.dirname, "..", "..", "bin", "gridveil.js");

let env: Environment;
environmentPerFile((started) => (env = started));

type GatewayProcess = { child: ChildProcess; lines: string[]; exited: Promise<number | null> };

/** `gridveil gateway …` under this Node (24, via npx): its own process, its own NATS connection and nonce. */
function spawnGateway(m: Market, dataDir: string): GatewayProcess {
  const child = spawn(
    process.execPath,
    [
      CLI,
      "gateway",
      "--nats", env.nats.url,
      "--rpc", env.chain.rpcUrl,
      "--market", m.marketId,
      "--key", env.chain.accountKeys[1] as string,
      "--contract", m.market.address,
      "--data-dir", dataDir,
      "--batch-size", "4",
      "--batch-delay", "100",
      "--ack-wait", "2000",
      "--poll-interval", "50",
    ],
    {
      env: { ...process.env, GRIDVEIL_LOG_LEVEL: "info", VITEST: "", OTEL_EXPORTER_OTLP_ENDPOINT: "" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const lines: string[] = [];
  let partial = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    const text = partial + chunk.toString("utf8");
    const parts = text.split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
  });
  const exited = once(child, "exit").then(([code]) => code as number | null);
  // A failing test shows what the gateway said (its JSON log lines on stderr).
  onTestFailed(() => {
    process.stderr.write(`--- gateway ${child.pid} stderr ---\n${[...lines, partial].join("\n")}\n`);
  });
  return { child, lines, exited };
}

/** Fails fast (with its stderr) when the gateway process died on its own instead of working. */
function alive(gateway: GatewayProcess): void {
  if (gateway.child.exitCode !== null || gateway.child.signalCode !== null) {
    throw new Error(`the gateway exited (${gateway.child.exitCode ?? gateway.child.signalCode}):\n${gateway.lines.join("\n")}`);
  }
}

function logged(process: GatewayProcess, message: string): Record<string, unknown> | undefined {
  for (const line of process.lines) {
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry["msg"] === message) return entry;
    } catch {
      // tsx/Node warnings are not JSON
    }
  }
  return undefined;
}

/** Buys and sells spread over the levels, so that some cross and match while others rest. */
async function makeBids(m: Market, count: number): Promise<MadeBid[]> {
  const bids: MadeBid[] = [];
  for (let i = 0; i < count; i += 1) {
    const side = (i % 2) as 0 | 1;
    bids.push(await m.makeBid({ side, priceLevel: side === 0 ? (i * 7) % 4 : 1 + ((i * 5) % 3), format: i % 3 === 0 ? "hex" : "words" }));
  }
  return bids;
}

/** Every bidder on chain exactly once; every placement and every match announced exactly once. */
async function expectExactlyOnce(m: Market, bids: readonly MadeBid[]): Promise<void> {
  expect(await getBidCount(m.market)).toBe(BigInt(bids.length));
  const ids = await Promise.all(bids.map((made) => getBidIdOf(m.market, made.submission.bidder)));
  expect(ids.every((id) => id !== undefined)).toBe(true);
  expect(new Set(ids.map(String)).size).toBe(bids.length);
  const logs = decodeMarketEvents(await env.provider.getLogs({ address: m.market.address, fromBlock: 0 }), m.market.address);
  const placedLogs = logs.filter((event): event is BidPlacedEvent => event.type === "BidPlaced");
  expect(new Set(placedLogs.map((event) => event.bidder)).size).toBe(bids.length);
  expect(placedLogs).toHaveLength(bids.length);
  const matchedLogs = logs.flatMap((event) => (event.type === "Matched" ? [event] : []));

  const records = await m.marketEvents();
  const placed = records.filter((r) => r.event.type === "market.placed");
  expect(placed).toHaveLength(bids.length);
  expect(new Set(placed.map((r) => r.msgId))).toEqual(new Set(bids.map((made) => dedupIds.marketEvent("placed", made.submission.bidder))));
  const matched = records.flatMap((r) => (r.event.type === "market.matched" ? [r.event] : []));
  expect(matched.length).toBeGreaterThan(0);
  expect(matched).toHaveLength(matchedLogs.length);
  const tradeIds = matched.map((event) => tradeIdOf({ buyId: event.buyId, sellId: event.sellId, txHash: event.txHash }));
  expect(new Set(tradeIds).size).toBe(matched.length);
  expect(new Set(matched.map((event) => `${event.buyId}:${event.sellId}`))).toEqual(
    new Set(matchedLogs.map((event) => `${event.buyBidder}:${event.sellBidder}`)),
  );
  expect(records.filter((r) => r.event.type === "market.rejected")).toEqual([]);
}

describe("gateway faults", () => {
  it("killed (SIGKILL) mid-stream and restarted: no bid lost, none placed twice, every notice once", async () => {
    const m = await createMarket(env, "kill");
    const dataDir = await m.dataDir();
    const bids = await makeBids(m, 40);
    const first = spawnGateway(m, dataDir);
    try {
      // Paced like meters; the first half goes out while the gateway works on it.
      for (const made of bids.slice(0, 20)) {
        await m.publish(made.submission);
        await sleep(25);
      }
      await until(async () => (alive(first), (await getBidCount(m.market)) >= 8n), 60_000, "the first placements");
      first.child.kill("SIGKILL");
      expect(await first.exited).toBeNull();
      const atKill = await getBidCount(m.market);
      expect(atKill).toBeLessThan(40n);
      // The rest arrives while no gateway runs: the durable queue keeps it.
      for (const made of bids.slice(20)) await m.publish(made.submission);
    } finally {
      first.child.kill("SIGKILL");
    }

    const second = spawnGateway(m, dataDir);
    try {
      await until(async () => (alive(second), (await getBidCount(m.market)) === 40n), 90_000, "all 40 placements");
      await until(() => m.bidsIdle(), 30_000, "every delivery acked");
      await until(async () => (await m.marketEvents()).filter((r) => r.event.type === "market.placed").length >= 40, 30_000, "40 placed notices");
      await sleep(500); // any late duplicate notice would land now
      await expectExactlyOnce(m, bids);
      second.child.kill("SIGTERM");
      expect(await second.exited).toBe(0);
    } finally {
      second.child.kill("SIGKILL");
      await m.cleanup();
    }
  });

  it("stopped with SIGTERM mid-stream: exits 0, acks what it placed, hands back the rest; the next gateway loses nothing", async () => {
    const m = await createMarket(env, "term");
    const dataDir = await m.dataDir();
    const bids = await makeBids(m, 24);
    const first = spawnGateway(m, dataDir);
    try {
      await until(() => (alive(first), logged(first, "gateway running")), 60_000, "the gateway to start");
      for (const made of bids.slice(0, 16)) {
        await m.publish(made.submission);
        await sleep(20);
      }
      await until(async () => (alive(first), (await getBidCount(m.market)) >= 4n), 60_000, "the first placements");
      first.child.kill("SIGTERM");
      expect(await first.exited).toBe(0);
      const stopped = logged(first, "gateway stopped");
      expect(stopped).toBeDefined();
      // Nothing is left in limbo: every delivery was acked or handed back (no ack wait to sit out).
      const info = await env.jsm.consumers.info(m.streams.bids, "gateway-bids");
      expect(info.num_ack_pending).toBe(0);
      expect(info.ack_floor.stream_seq).toBeGreaterThan(0);
      for (const made of bids.slice(16)) await m.publish(made.submission);
    } finally {
      first.child.kill("SIGKILL");
    }

    // The next gateway (in this process, to read its counters) places the rest and finds no duplicate: every bid
    // placed by the first one was acked before it exited.
    const second = await m.startGateway(dataDir, { ackWaitMs: 2_000 });
    try {
      await until(async () => (await getBidCount(m.market)) === 24n, 90_000, "all 24 placements");
      await until(() => m.bidsIdle(), 30_000, "every delivery acked");
      await until(async () => (await m.marketEvents()).filter((r) => r.event.type === "market.placed").length >= 24, 30_000, "24 placed notices");
      await sleep(500);
      await expectExactlyOnce(m, bids);
      expect(second.counters().duplicates).toBe(0);
    } finally {
      await second.stop();
      await m.cleanup();
    }
  });
});
