// Faults in a market of processes (infra/market.ts), and the checks that say nothing was lost: one definition for the
// fault test (test/infra/faults.test.ts) and the soak benchmark (`gridveil bench soak`, bench/soak.ts).
// A fault cycle kills, in turn, each with SIGKILL and starts again: the gateway mid-batch (its state snapshot shows
// a batch in flight), the DSO mid-trade (a trade in its database has not ended), a meter mid-trade (one side of such
// a trade), then nats-server (its JetStream store kept). The checks read the chain, the streams and the DSO's SQLite
// file once the market is quiet.
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { JsonRpcProvider } from "ethers";
import { decodeMarketEvents, type MarketEvent } from "../contracts/client/index.ts";
import { tradeIdOf } from "../protocol/domain.ts";
import { stateSnapshotSchema } from "../protocol/wire/schemas.ts";
import { DURABLES, marketSubjects, streamNames } from "../protocol/wire/subjects.ts";
import { killProcess, restartProcess, type MarketFile } from "./market.ts";
import { provision } from "./provision.ts";
import { MarketStartError } from "./errors.ts";
import { loadSqlite } from "../actors/db/sqlite.ts";

/** A trade as the DSO's database records it. */
export type TradeRow = { trade_id: string; status: string; closed_at: number | null; buyer_meter_id: string | null; seller_meter_id: string | null };

/** Reads the DSO's database (read-only; nothing yet when it does not exist). */
export function queryDso<T>(file: MarketFile, sql: string, ...params: (string | number)[]): T[] {
  try {
    const db = new (loadSqlite().DatabaseSync)(file.dsoDatabase, { readOnly: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  } catch {
    return [];
  }
}

export const tradesOf = (file: MarketFile): TradeRow[] =>
  queryDso<TradeRow>(file, "SELECT trade_id, status, closed_at, buyer_meter_id, seller_meter_id FROM trades");

/** The credentials `market up` generated for this market (its meter count and seed). */
function provisioningOf(file: MarketFile, seed: string | undefined) {
  const meters = file.processes.filter((entry) => entry.name.startsWith("meter-")).length;
  return provision({ meters, ...(seed === undefined ? {} : { seed }) });
}

const openTrades = (file: MarketFile): TradeRow[] => tradesOf(file).filter((row) => row.closed_at === null);

async function until(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, state?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new MarketStartError({ step: what, detail: `not within ${timeoutMs} ms${state ? ` (last seen: ${state()})` : ""}` });
    await sleep(250);
  }
}

/** SIGKILL, a pause, then the same process again (as `market up` started it). */
export async function killAndRestart(file: MarketFile, name: string, pauseMs = 500): Promise<void> {
  await killProcess(file.dir, name);
  await sleep(pauseMs);
  restartProcess(file.dir, name);
}

export type FaultCycleOptions = {
  /** How long to wait for each moment (a batch in flight, an open trade) before giving up. */
  momentTimeoutMs?: number;
  /** The provisioning's seed (the observer's NATS credentials); default the development seed. */
  seed?: string | undefined;
  onProgress?: (line: string) => void;
};

/** One fault cycle; resolves with the meter it killed (only that meter's trades may fail). */
export async function runFaultCycle(file: MarketFile, options: FaultCycleOptions = {}): Promise<{ killedMeter: string }> {
  const momentTimeoutMs = options.momentTimeoutMs ?? 120_000;
  const progress = options.onProgress ?? (() => undefined);
  const watchUser = provisioningOf(file, options.seed).envFiles.watch;

  // The gateway mid-batch: its machine reports a batch in flight (a transaction sent, its receipt awaited).
  const observer: NatsConnection = await connect({ servers: file.natsUrl, user: watchUser.NATS_USER, pass: watchUser.NATS_PASSWORD, waitOnFirstConnect: true });
  let batchInFlight = false;
  const subscription = observer.subscribe(marketSubjects(file.market).gateway.state, {
    callback: (_error, msg) => {
      const snapshot = stateSnapshotSchema.safeParse(msg.json());
      if (snapshot.success && Number(snapshot.data.summary.inFlight) > 0) batchInFlight = true;
    },
  });
  try {
    await until("a batch in flight", momentTimeoutMs, () => batchInFlight);
  } finally {
    subscription.unsubscribe();
    await observer.close();
  }
  progress("killing the gateway mid-batch");
  await killAndRestart(file, "gateway");

  // The DSO mid-trade: a trade it recorded has not ended.
  await until("an open trade", momentTimeoutMs, () => openTrades(file).length > 0);
  progress("killing the DSO mid-trade");
  await killAndRestart(file, "dso");

  // A meter mid-trade: one side of a trade that has not ended (the DSO waits for its opening or its reading).
  let killedMeter = "";
  await until("an open trade of a known meter", momentTimeoutMs, () => {
    const trade = openTrades(file).find((row) => row.buyer_meter_id !== null || row.seller_meter_id !== null);
    killedMeter = trade?.seller_meter_id ?? trade?.buyer_meter_id ?? "";
    return killedMeter !== "";
  });
  progress(`killing ${killedMeter} mid-trade`);
  await killAndRestart(file, killedMeter);

  // nats-server, its JetStream store kept, while meters still bid and trade.
  progress("killing nats-server (store kept)");
  await killAndRestart(file, "nats", 1_000);
  return { killedMeter };
}

/** What the chain, the streams and the DSO's database say once the market is quiet. */
export type MarketCheck = {
  /** Messages on the bids stream (one per bidder: submissions are deduplicated by their bidder). */
  submitted: number;
  placed: number;
  /** `market.rejected` notices: submissions the gateway or the contract refused. */
  rejected: number;
  /** Submitted, yet neither placed nor rejected. */
  lost: number;
  placedTwice: number;
  matches: number;
  /** On-chain matches with no trade that ended in the DSO's database. */
  matchesNotEnded: number;
  settled: number;
  /** Trades voided or disputed, with their meters. */
  failed: TradeRow[];
  ledgerLines: number;
  /** The sum of every ledger line (µ-units): 0 when the ledger balances. */
  ledgerSum: number;
};

type MarketReaders = {
  chainEvents(): Promise<MarketEvent[]>;
  held(): Promise<number>;
  close(): Promise<void>;
  jsm: JetStreamManager;
};

async function readersOf(file: MarketFile, seed: string | undefined): Promise<MarketReaders> {
  const dso = provisioningOf(file, seed).envFiles.dso;
  const contract = queryDso<{ value: string }>(file, "SELECT value FROM dso_settings WHERE key = 'market.contract'")[0]?.value ?? "{}";
  const address = (JSON.parse(contract) as { address?: string }).address;
  if (address === undefined) throw new MarketStartError({ step: "check", detail: "the DSO has recorded no market contract yet" });
  const provider = new JsonRpcProvider(file.rpcUrl, undefined, { staticNetwork: true });
  const nc = await connect({ servers: file.natsUrl, user: dso.NATS_USER, pass: dso.NATS_PASSWORD, waitOnFirstConnect: true });
  const jsm = await jetstreamManager(nc);
  const streams = streamNames(file.market);
  return {
    jsm,
    chainEvents: async () => decodeMarketEvents(await provider.getLogs({ address, fromBlock: 0, toBlock: "latest" }), address),
    // Deliveries the gateway has not settled yet (undelivered or unacknowledged).
    held: async () => {
      const consumer = await jsm.consumers.info(streams.bids, DURABLES.gatewayBids);
      return consumer.num_pending + consumer.num_ack_pending;
    },
    close: async () => {
      await nc.close().catch(() => undefined);
      provider.destroy();
    },
  };
}

/**
 * Waits until the market is quiet — every on-chain match is a trade that ended, the gateway holds no delivery, and
 * nothing changed for `stableMs` — and checks it.
 */
export async function checkQuietMarket(
  file: MarketFile,
  options: { timeoutMs?: number; stableMs?: number; seed?: string | undefined } = {},
): Promise<MarketCheck> {
  const readers = await readersOf(file, options.seed);
  try {
    let stableSince = Date.now();
    let last = "";
    let seen = "";
    await until("a quiet market", options.timeoutMs ?? 240_000, async () => {
      const rows = tradesOf(file);
      const matched = (await readers.chainEvents()).filter((event) => event.type === "Matched").length;
      const unsettled = await readers.held();
      const state = JSON.stringify([rows.map((row) => [row.trade_id, row.status, row.closed_at !== null]), matched, unsettled]);
      if (state !== last) {
        last = state;
        stableSince = Date.now();
      }
      const open = rows.filter((row) => row.closed_at === null).map((row) => `${row.trade_id.slice(0, 10)}:${row.status}`);
      seen = `${matched} matches on chain, ${rows.length} trades, open ${open.length ? open.join(" ") : "none"}, ${unsettled} deliveries held by the gateway`;
      return matched === rows.length && unsettled === 0 && rows.every((row) => row.closed_at !== null) && Date.now() - stableSince > (options.stableMs ?? 10_000);
    }, () => seen);

    const events = await readers.chainEvents();
    const placed = events.flatMap((event) => (event.type === "BidPlaced" ? [event.bidder.toLowerCase()] : []));
    const matches = events.flatMap((event) => (event.type === "Matched" && event.transactionHash ? [event] : []));
    const rows = new Map(tradesOf(file).map((row) => [row.trade_id, row]));
    const ended = new Set(["settled", "voided", "disputed"]);
    const matchesNotEnded = matches.filter((match) => {
      const row = rows.get(tradeIdOf({ buyId: match.buyBidder, sellId: match.sellBidder, txHash: match.transactionHash! }));
      return row === undefined || !ended.has(row.status);
    }).length;
    const { jsm } = readers;
    const streams = streamNames(file.market);
    const submitted = (await jsm.streams.info(streams.bids)).state.messages;
    const rejectedSubject = marketSubjects(file.market).market.rejected;
    const rejected = (await jsm.streams.info(streams.matches, { subjects_filter: rejectedSubject })).state.subjects?.[rejectedSubject] ?? 0;
    const [ledger] = queryDso<{ sum: number | null; lines: number }>(file, "SELECT sum(amount_micro) AS sum, count(*) AS lines FROM ledger_entries");
    return {
      submitted,
      placed: placed.length,
      rejected,
      lost: submitted - new Set(placed).size - rejected,
      placedTwice: placed.length - new Set(placed).size,
      matches: matches.length,
      matchesNotEnded,
      settled: [...rows.values()].filter((row) => row.status === "settled").length,
      failed: [...rows.values()].filter((row) => row.status !== "settled"),
      ledgerLines: ledger?.lines ?? 0,
      ledgerSum: ledger?.sum ?? 0,
    };
  } finally {
    await readers.close();
  }
}
