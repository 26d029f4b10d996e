// The gateway's transactions: one funded account, nonces assigned in order (also after a restart), batches and cancels.
import type { JsonRpcProvider, Overrides, Wallet } from "ethers";
import {
  MarketRevertError,
  decodeMarketError,
  cancelBid,
  getBidIdOf,
  placeBids,
  type MarketEvent,
  type MarketHandle,
  type PlaceBidsResult,
  type SignedBid,
} from "../../contracts/client/index.ts";
import { GridveilError } from "../errors.ts";

/** The chain did not take a transaction for a reason that may pass (RPC, nonce, gas price): the machine retries. */
export class TransientChainError extends GridveilError {
  override name = "TransientChainError";
}

export type MinedTx = {
  txHash: string;
  blockNumber: number;
  gasUsed: bigint;
  events: MarketEvent[];
};

export type BatchOutcome = {
  /** Per input bid, in order: placed, or rejected by the contract with its custom error. */
  results: ({ status: "placed"; bidId: bigint } | { status: "rejected"; errorName: string; detail: string })[];
  tx: MinedTx;
};

export type ChainWriter = {
  address: string;
  /** One `placeBids` transaction. A whole-batch `BatchEntryOutOfGas(i)` throws `MarketRevertError` (the caller splits). */
  placeBatch(bids: readonly SignedBid[]): Promise<BatchOutcome>;
  /** Relays a signed cancel; resolves with the mined transaction, throws `MarketRevertError` when the contract refuses. */
  cancel(bidder: string, signature: string): Promise<MinedTx>;
  /** Forget the local nonce (the next transaction asks the node): after an error we cannot attribute. */
  resetNonce(): void;
};

export type ChainWriterOptions = {
  market: MarketHandle;
  wallet: Wallet;
  provider: JsonRpcProvider;
  /** Gas limit of every transaction (an explicit one: EDR's estimator would re-run every pairing many times). */
  gasLimit: bigint;
};

/**
 * Nonces: the node's pending count is read once, then incremented locally for every transaction that reached the
 * node. Any failure forgets it, so the next transaction reads it again: a restarted gateway (or one whose transaction
 * was mined but whose receipt it missed) never reuses or skips a nonce. Transactions are sent one at a time, so
 * cancels and batches cannot race for a nonce.
 */
export function createChainWriter(options: ChainWriterOptions): ChainWriter {
  const { wallet, provider, gasLimit } = options;
  const market = { ...options.market, contract: options.market.contract.connect(wallet) } as MarketHandle;
  let nextNonce: number | null = null;
  let queue: Promise<unknown> = Promise.resolve();

  const serialized = <T>(send: (overrides: Overrides) => Promise<T>): Promise<T> => {
    const run = async (): Promise<T> => {
      if (nextNonce === null) nextNonce = await provider.getTransactionCount(wallet.address, "pending");
      try {
        const result = await send({ nonce: nextNonce, gasLimit });
        nextNonce += 1;
        return result;
      } catch (error) {
        nextNonce = null;
        throw error;
      }
    };
    const result = queue.then(run, run);
    queue = result.catch(() => undefined);
    return result;
  };

  return {
    address: wallet.address,
    resetNonce: () => {
      nextNonce = null;
    },
    async placeBatch(bids) {
      let mined: PlaceBidsResult;
      try {
        mined = await serialized((overrides) => placeBids(market, bids, overrides));
      } catch (error) {
        if (error instanceof MarketRevertError && error.errorName !== undefined) throw error;
        throw new TransientChainError("placeBids did not go through", { value: bids.length, cause: error });
      }
      return {
        results: mined.results.map((result) =>
          result.ok
            ? { status: "placed" as const, bidId: result.bidId }
            : {
                status: "rejected" as const,
                errorName: result.rejection.reasonName ?? "Unknown",
                detail: describeRejection(result.rejection.reason, result.rejection.reasonSelector),
              },
        ),
        tx: txOf(mined.receipt, mined.events),
      };
    },
    async cancel(bidder, signature) {
      const bidId = await getBidIdOf(market, bidder);
      // Not on chain yet: the bid may still be in a batch. Transient, so the machine retries the relay.
      if (bidId === undefined) throw new TransientChainError("the bid to cancel is not on chain (yet)", { value: bidder });
      try {
        const mined = await serialized((overrides) => cancelBid(market, bidId, signature as `0x${string}`, overrides));
        return txOf(mined.receipt, mined.events);
      } catch (error) {
        if (error instanceof MarketRevertError && error.errorName !== undefined) throw error;
        throw new TransientChainError("cancelBid did not go through", { value: bidder, cause: error });
      }
    },
  };
}

function txOf(receipt: { hash: string; blockNumber: number; gasUsed: bigint }, events: MarketEvent[]): MinedTx {
  return { txHash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed, events };
}

/** The custom error with its arguments (indices, lengths, times, addresses: nothing secret), for logs and notices. */
function describeRejection(reason: string, selector: string): string {
  const decoded = decodeMarketError(reason);
  if (decoded === undefined) return `unknown error ${selector}`;
  return `${decoded.name}(${decoded.args.map((arg) => String(arg)).join(", ")})`.slice(0, 1000);
}
