// The gateway's transactions: one funded account, nonces assigned in order (also after a restart), batches and cancels,
// pipelined: the next transaction is signed while the node executes the previous one.
import http from "node:http";
import https from "node:https";
import { FetchRequest, JsonRpcProvider, isError, keccak256, type TransactionReceipt, type TransactionRequest, type Wallet } from "ethers";
import {
  MarketRevertError,
  UnexpectedReceiptError,
  decodeMarketError,
  decodeMarketEvents,
  getBidIdOf,
  revertDataOf,
  type BidPlacedEvent,
  type DecodedMarketError,
  type MarketEvent,
  type MarketHandle,
  type SignedBid,
} from "../../contracts/client/index.ts";
import { TransientChainError } from "./errors.ts";

export type MinedTx = {
  txHash: string;
  blockNumber: number;
  gasUsed: bigint;
  /** Version 1's decoded events (version 2 decodes its own from the receipt). */
  events?: MarketEvent[];
};

export type BatchOutcome = {
  /** Per input bid, in order: placed, or rejected by the contract with its custom error. */
  results: ({ status: "placed"; bidId: bigint } | { status: "rejected"; errorName: string; detail: string })[];
  tx: MinedTx;
};

export type ChainWriter = {
  address: string;
  /**
   * One `placeBids` transaction. A whole-batch `BatchEntryOutOfGas(i)` throws `MarketRevertError` (the caller splits).
   * Calls may overlap: transactions get consecutive nonces in call order and reach the node in that order.
   */
  placeBatch(bids: readonly SignedBid[]): Promise<BatchOutcome>;
  /** Relays a signed cancel; resolves with the mined transaction, throws `MarketRevertError` when the contract refuses. */
  cancel(bidder: string, signature: string): Promise<MinedTx>;
  /** Forget the local nonce (the next transaction asks the node): after an error we cannot attribute. */
  resetNonce(): void;
  /** Closes the connection transactions are sent on. */
  close(): void;
};

export type ChainWriterOptions = {
  market: MarketHandle;
  wallet: Wallet;
  /** Reads (fee data, nonce, receipts). */
  provider: JsonRpcProvider;
  /** Gas limit of every transaction (an explicit one: EDR's estimator would re-run every pairing many times). */
  gasLimit: bigint;
  /** The longest wait for a receipt; then the transaction counts as not through (`TransientChainError` noReceipt). */
  receiptTimeoutMs: number;
};

/** Fee data is read at most this often (not once per transaction: that was three calls on every transaction's path). */
const FEE_DATA_MAX_AGE_MS = 1_000;

/** Signs and sends transactions to one contract from one account, nonces in order, pipelined (below). */
export type TransactionSender = {
  address: string;
  /**
   * Signs a call (its calldata made by `encode`, inside the nonce lock) with the next nonce, hands it to the node and
   * resolves with its receipt. A revert the node reports with a custom error throws `MarketRevertError` (decoded with
   * `decodeError`); anything else that keeps the transaction from its receipt throws `TransientChainError`.
   */
  transact(action: string, encode: () => string): Promise<TransactionReceipt>;
  resetNonce(): void;
  close(): void;
};

export type TransactionSenderOptions = {
  /** The contract every transaction calls. */
  to: string;
  wallet: Wallet;
  provider: JsonRpcProvider;
  gasLimit: bigint;
  receiptTimeoutMs: number;
  /** The contract's custom error in revert data (its ABI), or undefined. */
  decodeError(revertData: string | undefined): DecodedMarketError | undefined;
};

/**
 * Nonces: the node's pending count is read once, then incremented locally for every transaction handed to the node.
 * A failure we cannot attribute forgets it, and the next transaction reads it again once every transaction already
 * handed over has been answered: a restarted gateway (or one whose transaction was mined but whose receipt it
 * missed) never reuses or skips a nonce.
 *
 * Pipelining: signing a transaction of ~20 kB calldata takes tens of ms, as long as a good share of its execution.
 * The nonce lock is therefore held only while a transaction is signed and handed to the connection, not until its
 * receipt: the next one is signed while the node executes the previous one. Transactions travel on one dedicated
 * keep-alive socket, so they reach the node in nonce order (a local automining node refuses a nonce gap).
 */
export function createTransactionSender(options: TransactionSenderOptions): TransactionSender {
  const { wallet, provider, gasLimit, receiptTimeoutMs } = options;
  const sender = singleSocketProvider(provider);
  let nextNonce: number | null = null;
  let lock: Promise<unknown> = Promise.resolve();
  const answering = new Set<Promise<unknown>>();
  let fees: { readAt: number; fields: Pick<TransactionRequest, "type" | "maxFeePerGas" | "maxPriorityFeePerGas" | "gasPrice"> } | null = null;

  const feeFields = async () => {
    if (fees !== null && Date.now() - fees.readAt < FEE_DATA_MAX_AGE_MS) return fees.fields;
    const data = await provider.getFeeData();
    const fields =
      data.maxFeePerGas !== null && data.maxPriorityFeePerGas !== null
        ? { type: 2, maxFeePerGas: data.maxFeePerGas, maxPriorityFeePerGas: data.maxPriorityFeePerGas }
        : { type: 0, gasPrice: data.gasPrice };
    fees = { readAt: Date.now(), fields };
    return fields;
  };

  /** The node's answer to a sent transaction, its revert decoded with the contract's errors. */
  const withContractErrors = async <T>(action: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      const revertData = revertDataOf(error);
      const decoded = options.decodeError(revertData);
      if (decoded === undefined && revertData === undefined && !isError(error, "CALL_EXCEPTION")) throw error;
      throw new MarketRevertError(action, decoded, revertData, error);
    }
  };

  /**
   * Signs a call to the contract with the next nonce and hands it to the node; resolves with its receipt. The calldata
   * is encoded inside the lock, right before signing: ABI-encoding a batch of ciphertexts takes ≈ 5 ms, so encoding
   * every chunk of a wave up front would hold the wave's first transaction back for all of them while the node idles.
   */
  const transact = async (action: string, encode: () => string): Promise<TransactionReceipt> => {
    let answer!: Promise<string>;
    const handOver = async (): Promise<void> => {
      const [fields, network] = await Promise.all([feeFields(), provider.getNetwork()]);
      if (nextNonce === null) {
        // Transactions already handed over may not be in the node's pending count yet.
        await Promise.allSettled([...answering]);
        nextNonce = await provider.getTransactionCount(wallet.address, "pending");
      }
      const nonce = nextNonce;
      const signed = await wallet.signTransaction({ ...fields, chainId: network.chainId, nonce, to: options.to, data: encode(), gasLimit });
      // Queued on the connection now, before the lock is released: the next transaction goes out after this one.
      answer = sender.send("eth_sendRawTransaction", [signed]).then(() => keccak256(signed));
      nextNonce = nonce + 1;
      answering.add(answer);
      void answer.then(
        () => answering.delete(answer),
        () => answering.delete(answer),
      );
    };
    const handedOver = lock.then(handOver, handOver);
    // The next hand-over waits for a macrotask: the provider writes a request from a zero-delay timer, and the hand-
    // overs of a wave chain through microtasks only, so without this the first transaction left only once the whole
    // wave was signed (≈ 70 ms of an idle node per wave of 8).
    lock = handedOver.catch(() => undefined).then(nextMacrotask);
    try {
      await handedOver;
    } catch (error) {
      nextNonce = null;
      throw new TransientChainError({ reason: "notSent", action, cause: error });
    }
    let hash: string;
    try {
      hash = await withContractErrors(action, () => answer);
    } catch (error) {
      // A revert the node reports with the custom error was mined: its nonce is used, the count stays right.
      if (error instanceof MarketRevertError && error.errorName !== undefined) throw error;
      nextNonce = null;
      throw new TransientChainError({ reason: "notThrough", action, cause: error });
    }
    let receipt: TransactionReceipt | null;
    try {
      receipt = (await provider.getTransactionReceipt(hash)) ?? (await provider.waitForTransaction(hash, 1, receiptTimeoutMs));
    } catch (error) {
      throw new TransientChainError({ reason: "noReceipt", action, txHash: hash, cause: error });
    }
    if (receipt === null || receipt.status !== 1) {
      // A node that mines reverts without reporting them: no custom error to act on.
      throw new TransientChainError({ reason: "revertedWithoutData", action, txHash: hash });
    }
    return receipt;
  };

  return {
    address: wallet.address,
    transact,
    resetNonce: () => {
      nextNonce = null;
    },
    close: () => sender.destroy(),
  };
}

/** Version 1's writer: `placeBids` and `cancelBid` of the market contract, on a `TransactionSender`. */
export function createChainWriter(options: ChainWriterOptions): ChainWriter {
  const { market } = options;
  const marketInterface = market.contract.interface;
  const sender = createTransactionSender({ ...options, to: market.address, decodeError: decodeMarketError });
  return {
    address: sender.address,
    resetNonce: sender.resetNonce,
    close: sender.close,
    async placeBatch(bids) {
      const receipt = await sender.transact("placeBids", () => marketInterface.encodeFunctionData("placeBids", [[...bids]]));
      const events = decodeMarketEvents(receipt.logs, market.address);
      return { results: entryResults(bids.length, events, receipt.hash), tx: txOf(receipt, events) };
    },
    async cancel(bidder, signature) {
      const bidId = await getBidIdOf(market, bidder);
      // Not on chain yet: the bid may still be in a batch. Transient, so the machine retries the relay.
      if (bidId === undefined) throw new TransientChainError({ reason: "bidNotOnChain", bidder });
      const receipt = await sender.transact("cancelBid", () => marketInterface.encodeFunctionData("cancelBid", [bidId, signature]));
      return txOf(receipt, decodeMarketEvents(receipt.logs, market.address));
    },
  };
}

function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A provider on the same URL whose requests share one keep-alive socket, so they reach the node in the order sent. */
function singleSocketProvider(provider: JsonRpcProvider): JsonRpcProvider {
  const url = provider._getConnection().url;
  const agentOptions = { keepAlive: true, maxSockets: 1 };
  const request = new FetchRequest(url);
  request.getUrlFunc = FetchRequest.createGetUrlFunc({
    agent: url.startsWith("https:") ? new https.Agent(agentOptions) : new http.Agent(agentOptions),
  });
  return new JsonRpcProvider(request, undefined, { staticNetwork: true, cacheTimeout: -1, batchMaxCount: 1 });
}

/**
 * The entries of a mined `placeBids`, in order: entries are placed in order, so the k-th `BidPlaced` belongs to the
 * k-th entry that was not rejected (as contracts/client placeBids reads them).
 */
function entryResults(count: number, events: readonly MarketEvent[], txHash: string): BatchOutcome["results"] {
  const rejected = new Map(events.flatMap((event) => (event.type === "BidRejected" ? [[event.index, event] as const] : [])));
  const placed = events.filter((event): event is BidPlacedEvent => event.type === "BidPlaced");
  let next = 0;
  return Array.from({ length: count }, (_, index) => {
    const rejection = rejected.get(index);
    if (rejection !== undefined) {
      return {
        status: "rejected" as const,
        errorName: rejection.reasonName ?? "Unknown",
        detail: describeRejection(rejection.reason, rejection.reasonSelector),
      };
    }
    const event = placed[next++];
    if (event === undefined) throw new UnexpectedReceiptError({ reason: "fewerBidPlaced", value: txHash });
    return { status: "placed" as const, bidId: event.bidId };
  });
}

function txOf(receipt: TransactionReceipt, events: MarketEvent[]): MinedTx {
  return { txHash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed, events };
}

/** The custom error with its arguments (indices, lengths, times, addresses: nothing secret), for logs and notices. */
function describeRejection(reason: string, selector: string): string {
  const decoded = decodeMarketError(reason);
  if (decoded === undefined) return `unknown error ${selector}`;
  return `${decoded.name}(${decoded.args.map((arg) => String(arg)).join(", ")})`.slice(0, 1000);
}
