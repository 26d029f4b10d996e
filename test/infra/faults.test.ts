// Faults in a market of processes (infra/market.ts: real nats-server with the generated permissions, `npx hardhat
// node`, the DSO, the gateway and four meters, each its own process). During trading, in turn, each with SIGKILL and
// started again: the gateway mid-batch (its state snapshot shows a batch in flight), the DSO mid-trade (a trade in its
// database has not ended), a meter mid-trade (one side of such a trade), then nats-server (its JetStream store kept).
// Once the market is quiet (the gateway holds no delivery), from the chain, the bids stream and the DSO's SQLite file:
// - every submission was placed on chain or rejected, and none twice;
// - every on-chain match is a trade that ended (settled, voided or disputed, both meters told), none stuck;
// - no trade is voided or disputed unless the killed meter was one of its two sides;
// - the ledger balances.
import { cp, mkdtemp, rm } from "node:fs/promises";
import { DatabaseSync } from "node:sqlite";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { JsonRpcProvider } from "ethers";
import { afterAll, describe, expect, it } from "vitest";
import { decodeMarketEvents } from "../../contracts/client/index.ts";
import { tradeIdOf } from "../../protocol/domain.ts";
import { DURABLES, marketSubjects, streamNames } from "../../protocol/wire/subjects.ts";
import { stateSnapshotSchema, type StateSnapshot } from "../../protocol/wire/schemas.ts";
import { killProcess, marketDown, marketUp, restartProcess, type MarketFile } from "../../infra/market.ts";
import { provision } from "../../infra/provision.ts";

type TradeRow = { trade_id: string; status: string; closed_at: number | null; buyer_meter_id: string | null; seller_meter_id: string | null };

function query<T>(file: MarketFile, sql: string, ...params: (string | number)[]): T[] {
  try {
    const db = new DatabaseSync(file.dsoDatabase, { readOnly: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  } catch {
    return [];
  }
}

const trades = (file: MarketFile): TradeRow[] =>
  query<TradeRow>(file, "SELECT trade_id, status, closed_at, buyer_meter_id, seller_meter_id FROM trades");

async function until(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(250);
  }
}

describe("faults in a market of processes", () => {
  let root: string | undefined;
  afterAll(async () => {
    if (root) {
      await marketDown({ dir: join(root, "m"), graceMs: 5_000 }).catch(() => undefined);
      // GRIDVEIL_KEEP_FAULTS=DIR keeps the market directory (every party's log, the DSO database) for a post-mortem.
      if (process.env.GRIDVEIL_KEEP_FAULTS) await cp(root, process.env.GRIDVEIL_KEEP_FAULTS, { recursive: true });
      await rm(root, { recursive: true, force: true });
    }
  });

  it("loses nothing, places nothing twice and voids no trade of two live meters while parties are killed in turn", async () => {
    root = await mkdtemp(join(tmpdir(), "gridveil-faults-"));
    const dir = join(root, "m");
    const file = await marketUp({ dir, meters: 4 });
    const restart = async (name: string, pauseMs = 500): Promise<void> => {
      await killProcess(dir, name);
      await sleep(pauseMs);
      restartProcess(dir, name);
    };
    const watchUser = provision({ meters: 4 }).envFiles.watch;
    const observer = await connect({ servers: file.natsUrl, user: watchUser.NATS_USER, pass: watchUser.NATS_PASSWORD });
    const gatewaySnapshots: StateSnapshot[] = [];
    const subscription = observer.subscribe(marketSubjects(file.market).gateway.state, {
      callback: (_error, msg) => {
        gatewaySnapshots.push(stateSnapshotSchema.parse(msg.json()));
      },
    });
    const open = (rows: TradeRow[]): TradeRow[] => rows.filter((row) => row.closed_at === null);

    // The gateway mid-batch: its machine reports a batch in flight (a transaction sent, its receipt awaited).
    await until("a batch in flight", 120_000, () => gatewaySnapshots.some((snapshot) => Number(snapshot.summary.inFlight) > 0));
    await restart("gateway");
    subscription.unsubscribe();
    await observer.close();
    // The DSO mid-trade: a trade it recorded has not ended.
    await until("an open trade", 120_000, () => open(trades(file)).length > 0);
    await restart("dso");
    // A meter mid-trade: one side of a trade that has not ended (the DSO waits for its opening or its reading).
    let killedMeter = "";
    await until("an open trade of a meter", 120_000, () => {
      const trade = open(trades(file)).find((row) => row.buyer_meter_id !== null || row.seller_meter_id !== null);
      killedMeter = trade?.seller_meter_id ?? trade?.buyer_meter_id ?? "";
      return killedMeter !== "";
    });
    await restart(killedMeter);
    // nats-server, its JetStream store kept, while meters still bid and trade.
    await restart("nats", 1_000);

    // Quiet: every on-chain match is a trade, every trade has ended, nothing new for a while.
    const dso = provision({ meters: 4 }).envFiles.dso;
    const contract = (query<{ value: string }>(file, "SELECT value FROM dso_settings WHERE key = 'market.contract'")[0]?.value ?? "{}") as string;
    const address = (JSON.parse(contract) as { address?: string }).address as string;
    const provider = new JsonRpcProvider(file.rpcUrl, undefined, { staticNetwork: true });
    const chainEvents = async () => decodeMarketEvents(await provider.getLogs({ address, fromBlock: 0, toBlock: "latest" }), address);
    let stableSince = Date.now();
    let last = "";
    const nc = await connect({ servers: file.natsUrl, user: dso.NATS_USER, pass: dso.NATS_PASSWORD, waitOnFirstConnect: true });
    const jsm = await jetstreamManager(nc);
    const streams = streamNames(file.market);
    // Deliveries the gateway has not settled yet (undelivered or unacknowledged).
    const held = async (): Promise<number> => {
      const consumer = await jsm.consumers.info(streams.bids, DURABLES.gatewayBids);
      return consumer.num_pending + consumer.num_ack_pending;
    };
    try {
      await until("a quiet market", 180_000, async () => {
        const rows = trades(file);
        const matched = (await chainEvents()).filter((event) => event.type === "Matched").length;
        const unsettled = await held();
        const state = JSON.stringify([rows.map((row) => [row.trade_id, row.status, row.closed_at !== null]), matched, unsettled]);
        if (state !== last) {
          last = state;
          stableSince = Date.now();
        }
        return matched === rows.length && unsettled === 0 && rows.every((row) => row.closed_at !== null) && Date.now() - stableSince > 10_000;
      });

      const events = await chainEvents();
      const placed = events.flatMap((event) => (event.type === "BidPlaced" ? [event.bidder.toLowerCase()] : []));
      const matches = events.flatMap((event) => (event.type === "Matched" && event.transactionHash ? [event] : []));
      // Every match on chain is a trade that ended.
      const rows = new Map(trades(file).map((row) => [row.trade_id, row]));
      for (const match of matches) {
        const row = rows.get(tradeIdOf({ buyId: match.buyBidder, sellId: match.sellBidder, txHash: match.transactionHash! }));
        expect(row, `the trade of ${match.transactionHash}`).toBeDefined();
        expect(["settled", "voided", "disputed"]).toContain(row?.status);
      }
      expect(matches.length).toBeGreaterThan(0);
      // Only the killed meter's trades may fail; two live meters always settle.
      const failed = [...rows.values()].filter((row) => row.status !== "settled");
      process.stderr.write(
        `faults: ${matches.length} matches, ${placed.length} placed, ${failed.length} not settled (${failed.map((row) => row.status).join(", ")})\n`,
      );
      for (const row of failed) expect([row.buyer_meter_id, row.seller_meter_id], row.trade_id).toContain(killedMeter);
      // None placed twice, and every submission placed or rejected (the bids stream holds one message per bidder).
      expect(new Set(placed).size).toBe(placed.length);
      const submitted = (await jsm.streams.info(streams.bids)).state.messages;
      const rejectedSubject = marketSubjects(file.market).market.rejected;
      const rejected = (await jsm.streams.info(streams.matches, { subjects_filter: rejectedSubject })).state.subjects?.[rejectedSubject] ?? 0;
      process.stderr.write(`faults: ${submitted} submitted, ${placed.length} placed, ${rejected} rejected\n`);
      expect(placed.length + rejected).toBe(submitted);
      // The ledger balances.
      const [ledger] = query<{ sum: number | null; lines: number }>(file, "SELECT sum(amount_micro) AS sum, count(*) AS lines FROM ledger_entries");
      expect(ledger?.lines).toBeGreaterThan(0);
      expect(ledger?.sum).toBe(0);
    } finally {
      await nc.close();
      provider.destroy();
    }
  }, 420_000);
});
