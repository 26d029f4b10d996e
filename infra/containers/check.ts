// What the container market must have done, read from outside the containers: the DSO's SQLite file in its data
// volume (node:sqlite, read-only, as test/infra/faults.test.ts reads it) and the market contract's logs on the chain
// container. The market has settled when every on-chain match is a trade that ended (both meters told) and nothing
// changed for a while; then the ledger must balance.
import { existsSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { setTimeout as sleep } from "node:timers/promises";
import { JsonRpcProvider } from "ethers";
import { decodeMarketEvents } from "../../contracts/client/index.ts";
import { CONTRACT_SETTING } from "../../actors/dso/contract.ts";
import { tradeIdOf } from "../../protocol/domain.ts";
import { ContainersCheckError } from "../errors.ts";
import type { Progress } from "./podman.ts";

type TradeRow = { trade_id: string; status: string; closed_at: number | null };

export type MarketOutcome = {
  bidsPlaced: number;
  matches: number;
  trades: Record<"open" | "verified" | "settled" | "voided" | "disputed", number>;
  /** Matches on chain without a trade that ended, by transaction. */
  matchesNotEnded: string[];
  ledger: { lines: number; sumMicro: number };
};

function readDatabase<T>(file: string, read: (db: DatabaseSync) => T): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  } catch {
    return undefined; // created or migrated right now: read again at the next poll
  }
}

/** One look at the market: the DSO's trades and ledger, the contract's placements and matches. */
export async function observeMarket(dsoDatabase: string, provider: JsonRpcProvider): Promise<MarketOutcome | undefined> {
  const dso = readDatabase(dsoDatabase, (db) => ({
    contract: (db.prepare("SELECT value FROM dso_settings WHERE key = ?").get(CONTRACT_SETTING) as { value: string } | undefined)?.value,
    trades: db.prepare("SELECT trade_id, status, closed_at FROM trades").all() as TradeRow[],
    ledger: db.prepare("SELECT count(*) AS lines, coalesce(sum(amount_micro), 0) AS sumMicro FROM ledger_entries").get() as { lines: number; sumMicro: number },
  }));
  const address = dso?.contract ? (JSON.parse(dso.contract) as { address?: string }).address : undefined;
  if (!dso || !address) return undefined;
  const events = decodeMarketEvents(await provider.getLogs({ address, fromBlock: 0, toBlock: "latest" }), address);
  const trades = new Map(dso.trades.map((row) => [row.trade_id, row]));
  const matches = events.flatMap((event) => (event.type === "Matched" && event.transactionHash ? [{ ...event, transactionHash: event.transactionHash }] : []));
  const counts: MarketOutcome["trades"] = { open: 0, verified: 0, settled: 0, voided: 0, disputed: 0 };
  for (const row of dso.trades) counts[row.status as keyof MarketOutcome["trades"]] += 1;
  const ended = new Set(["settled", "voided", "disputed"]);
  const matchesNotEnded = matches
    .filter((match) => {
      const row = trades.get(tradeIdOf({ buyId: match.buyBidder, sellId: match.sellBidder, txHash: match.transactionHash }));
      return !row || !ended.has(row.status) || row.closed_at === null;
    })
    .map((match) => match.transactionHash);
  return {
    bidsPlaced: events.filter((event) => event.type === "BidPlaced").length,
    matches: matches.length,
    trades: counts,
    matchesNotEnded,
    ledger: { lines: Number(dso.ledger.lines), sumMicro: Number(dso.ledger.sumMicro) },
  };
}

function describe(outcome: MarketOutcome): string {
  const { trades } = outcome;
  return (
    `${outcome.bidsPlaced} bids placed, ${outcome.matches} matches; trades ${trades.settled} settled, ${trades.voided} voided, ` +
    `${trades.disputed} disputed, ${trades.open + trades.verified} in progress; ${outcome.matchesNotEnded.length} matches not ended`
  );
}

/**
 * Waits until at least `minSettled` trades settled, every on-chain match is a trade that ended, and nothing changed for
 * `quietMs`; then checks that the ledger balances. Prints each change of the market's state.
 */
export async function waitForSettledMarket(options: {
  dsoDatabase: string;
  rpcUrl: string;
  minSettled: number;
  quietMs: number;
  timeoutMs: number;
  logs: string;
  progress: Progress;
}): Promise<MarketOutcome> {
  const provider = new JsonRpcProvider(options.rpcUrl, undefined, { staticNetwork: true });
  const started = Date.now();
  let last = "";
  let lastChange = Date.now();
  let settledOutcome: MarketOutcome | undefined;
  try {
    while (!settledOutcome) {
      const outcome = await observeMarket(options.dsoDatabase, provider);
      const state = outcome ? describe(outcome) : "the DSO has not deployed the market yet";
      if (state !== last) {
        options.progress(`  after ${Math.round((Date.now() - started) / 1000)} s: ${state}`);
        last = state;
        lastChange = Date.now();
      }
      const settled = outcome && outcome.trades.settled >= options.minSettled && outcome.matchesNotEnded.length === 0;
      if (settled && Date.now() - lastChange >= options.quietMs) {
        settledOutcome = outcome;
        break;
      }
      if (Date.now() - started > options.timeoutMs) {
        throw new ContainersCheckError({
          check: "trades settle",
          detail: `not within ${options.timeoutMs / 1000} s (wanted ≥ ${options.minSettled} settled, every match ended): ${state}`,
          logs: options.logs,
        });
      }
      await sleep(1_000);
    }
  } finally {
    provider.destroy();
  }
  const outcome = settledOutcome;
  if (outcome.ledger.lines === 0) throw new ContainersCheckError({ check: "ledger", detail: "no ledger entries", logs: options.logs });
  if (outcome.ledger.sumMicro !== 0) {
    throw new ContainersCheckError({ check: "ledger", detail: `entries sum to ${outcome.ledger.sumMicro} µ, not 0`, logs: options.logs });
  }
  return outcome;
}
