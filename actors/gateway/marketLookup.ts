// Which contract the gateway serves: `--contract`, or the DSO's public market description (PROTOCOL §5 setup).
import type { NatsConnection } from "@nats-io/transport-node";
import { gatewayDefaults } from "../config/gateway.ts";
import type { JsonRpcProvider } from "ethers";
import { setTimeout as sleep } from "node:timers/promises";
import { ChainMismatchError } from "../../contracts/client/errors.ts";
import { ForeignMarketDescriptionError, StartAbortedError } from "./errors.ts";
import { call } from "../nats/rpc.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import { marketSubjects } from "../../protocol/wire/subjects.ts";
import type { Logger } from "../telemetry/logger.ts";
import { type MarketDescription } from "../../protocol/domain.ts";

export type MarketLookupOptions = {
  logger: Logger;
  signal?: AbortSignal | undefined;
  requestTimeoutMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
};

/**
 * Asks the DSO (`dso.market`) until it answers: the gateway may start before the DSO has deployed the contract. Every
 * failed attempt is logged, so an operator sees what it is waiting for.
 */
export async function askMarketDescription(nc: NatsConnection, marketId: string, options: MarketLookupOptions): Promise<MarketDescription> {
  const subjects = marketSubjects(marketId);
  const base = options.retryBaseMs ?? gatewayDefaults.marketLookupRetryBaseMs;
  const max = options.retryMaxMs ?? gatewayDefaults.marketLookupRetryMaxMs;
  for (let attempt = 1; ; attempt += 1) {
    if (options.signal?.aborted) throw new StartAbortedError();
    try {
      const reply = await call(nc, subjects, endpoints.marketInfo, { type: "market.info.request" }, {
        timeoutMs: options.requestTimeoutMs ?? gatewayDefaults.marketLookupTimeoutMs,
      });
      if (reply.market.marketId !== marketId) {
        throw new ForeignMarketDescriptionError({ describedMarketId: reply.market.marketId });
      }
      return reply.market;
    } catch (error) {
      if (error instanceof ForeignMarketDescriptionError) throw error;
      const delay = Math.min(max, base * 2 ** Math.min(attempt - 1, 10));
      options.logger.info({ attempt, retryInMs: delay, reason: (error as Error).message?.split("\n")[0] }, "waiting for the DSO's market description");
      try {
        await sleep(delay, undefined, options.signal ? { signal: options.signal } : {});
      } catch {
        throw new StartAbortedError();
      }
    }
  }
}

/** The RPC endpoint must serve the chain the market lives on (a wrong `--rpc` would send bids to nowhere). */
export async function checkChainId(provider: JsonRpcProvider, expected: number, rpcUrl: string): Promise<void> {
  const actual = Number((await provider.getNetwork()).chainId);
  if (actual !== expected) {
    throw new ChainMismatchError({ party: "gateway", reason: "otherChain", rpcUrl, rpcChainId: actual, marketChainId: expected });
  }
}
