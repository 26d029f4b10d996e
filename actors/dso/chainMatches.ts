// PROTOCOL §5 trading step 1 from the record of truth: the DSO reads the market's Matched logs itself, from a cursor
// kept in its database, and makes every match it has not recorded a trade, whatever NATS lost on the way. The
// gateway's notices stay the fast path; this is the guarantee. Version 2 reads the slot market's `Matched` logs.
import type { JsonRpcProvider } from "ethers";
import { tradeIdOf } from "../../protocol/domain.ts";
import type { MatchEvent } from "../../protocol/wire/schemas.ts";
import { findDeploymentBlock } from "../chain/deploymentBlock.ts";
import { readLogRange, type MarketDesign } from "../chain/marketLog.ts";
import { dsoDefaults } from "../config/dso.ts";
import type { DsoDatabase } from "../db/dsoDatabase.ts";
import type { Logger } from "../telemetry/logger.ts";

/** The `dso_settings` key of the cursor: the next block to read, for one contract. */
export const CHAIN_MATCHES_CURSOR = "chainMatchesCursor";

type Cursor = { contractAddress: string; nextBlock: number };

export type ChainMatchesOptions = {
  provider: JsonRpcProvider;
  db: DsoDatabase;
  contractAddress: string;
  /** Which market's logs: version 1's GridveilMarket or version 2's SlotMarket (default v1). */
  design?: MarketDesign;
  logger: Logger;
  /** Whether the DSO already has this trade (recorded, or on its way into the machine). */
  knows(tradeId: string): boolean;
  /** Hands a match to the same path as a notice; resolves true once the machine recorded it. */
  record(event: MatchEvent): Promise<boolean>;
  intervalMs?: number;
  maxBlockRange?: number;
};

export type ChainMatches = {
  /** Reads up to the head once (for tests and for a stop that wants everything in). */
  catchUp(): Promise<void>;
  stop(): Promise<void>;
  /** Matches found on chain that no notice had brought. */
  recovered(): number;
};

export async function startChainMatches(options: ChainMatchesOptions): Promise<ChainMatches> {
  const { provider, db, contractAddress, logger } = options;
  const intervalMs = options.intervalMs ?? dsoDefaults.chainReconcileIntervalMs;
  const maxBlockRange = options.maxBlockRange ?? dsoDefaults.chainMaxBlockRange;
  const stored = db.getSetting(CHAIN_MATCHES_CURSOR) as Cursor | undefined;
  let next = stored?.contractAddress === contractAddress ? stored.nextBlock : await findDeploymentBlock(provider, contractAddress);
  let recovered = 0;
  let stopped = false;

  /** One read of at most `maxBlockRange` blocks; false when caught up or a match could not be recorded yet. */
  const readRange = async (): Promise<boolean> => {
    const range = await readLogRange(provider, contractAddress, next, maxBlockRange, options.design ?? "v1");
    if (range === null) return false;
    for (const event of range.events) {
      if (event.kind !== "matched") continue;
      const match: MatchEvent = {
        type: "market.matched",
        buyId: event.buyBidder,
        sellId: event.sellBidder,
        txHash: event.txHash,
        blockNumber: event.blockNumber,
        logIndex: event.logIndex,
        observedAt: Date.now(),
      };
      if (options.knows(tradeIdOf(match))) continue;
      logger.warn({ tradeId: tradeIdOf(match), block: match.blockNumber }, "a match on chain had no notice: recording it from the chain");
      // Not recorded in time: read this range again next time (the cursor stays), nothing is skipped.
      if (!(await options.record(match))) return false;
      recovered += 1;
    }
    next = range.toBlock + 1;
    db.setSetting(CHAIN_MATCHES_CURSOR, { contractAddress, nextBlock: next } satisfies Cursor);
    return range.toBlock < range.head;
  };

  // One read at a time: a tick while a read runs (a slow node, a match waiting for the machine) is skipped, so reads
  // never queue up behind each other and `stop()` waits for one read at most.
  let reading: Promise<void> | null = null;
  const catchUp = (): Promise<void> => {
    reading ??= (async () => {
      try {
        while (!stopped && (await readRange()));
      } catch (error) {
        logger.warn({ err: error }, "reading the market's matches from the chain failed; trying again later");
      } finally {
        reading = null;
      }
    })();
    return reading;
  };

  const timer = setInterval(() => void catchUp(), intervalMs);
  void catchUp();
  return {
    catchUp,
    recovered: () => recovered,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await reading;
    },
  };
}
