// The gateway's version 2 transactions (PROTOCOL §5 bidding and matching, v2) on the slot market, from its one account
// (chainWriter.ts `createTransactionSender`: nonces in order, pipelined): a slot's batch of hinted bids, a bidder's
// signed cancel, and the purge of a closed slot's list.
import { ZeroAddress, type TransactionReceipt } from "ethers";
import {
  SIDE_CODE,
  bidTuple,
  decodeSlotMarketEvents,
  readBook,
  slotBatchResults,
  type CertifiedBid,
  type SlotBatchEntry,
  type SlotHint,
  type SlotMarketHandle,
} from "../../contracts/client/v2/slotMarket.ts";
import { MarketRevertError, type DecodedMarketError } from "../../contracts/client/index.ts";
import type { BookSideName } from "../../protocol/book/slotBooks.ts";
import { sameAddress, type Hex } from "../../protocol/base/hex.ts";
import type { MinedTx, TransactionSender } from "./chainWriter.ts";
import { TransientChainError } from "./errors.ts";

export type SlotWriter = {
  /** One `placeBids` transaction; each entry's result once mined (`BatchEntryOutOfGas` throws `MarketRevertError`). */
  placeBids(entries: readonly { bid: CertifiedBid; hint: SlotHint }[]): Promise<{ entries: SlotBatchEntry[]; tx: MinedTx }>;
  /**
   * Relays a bidder's signed cancel, naming the bid before it in its list (read from the chain). A bidder never
   * placed is `TransientChainError` `bidNotOnChain` (its bid may still be in a batch); the contract answers the rest.
   */
  cancel(bidder: string, signature: string): Promise<MinedTx>;
  /** Unlinks up to `max` bids of a closed slot's list (each `BidExpired`); resolves with how many it unlinked. */
  purge(slot: number, side: BookSideName, max: number): Promise<{ tx: MinedTx; expired: number }>;
  /** Whether a bidder was ever placed (its record is its single-use mark). */
  isOnChain(bidder: string): Promise<boolean>;
};

/** The contract's `Status` (ISlotMarket.sol): None = never placed. */
const STATUS_NONE = 0;

/** The slot market's custom error in revert data, in the shape the transaction sender reports. */
export function slotErrorDecoder(market: SlotMarketHandle): (revertData: string | undefined) => DecodedMarketError | undefined {
  return (revertData) => {
    if (revertData === undefined || revertData.length < 10) return undefined;
    try {
      const parsed = market.contract.interface.parseError(revertData);
      return parsed === null ? undefined : { name: parsed.name, selector: parsed.selector as Hex, args: [...parsed.args] };
    } catch {
      return undefined;
    }
  };
}

export function createSlotWriter(market: SlotMarketHandle, sender: TransactionSender, options: { staleCancelAttempts: number }): SlotWriter {
  const contract = market.contract;
  const minedOf = (receipt: TransactionReceipt): MinedTx => ({ txHash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed });
  const statusOf = async (bidder: string) => {
    const [status, , slot, side] = (await contract.getFunction("getBid")(bidder)) as [bigint, bigint, bigint, bigint];
    return { status: Number(status), slot: Number(slot), side: (Number(side) === SIDE_CODE.buy ? "buy" : "sell") as BookSideName };
  };
  return {
    async placeBids(entries) {
      const receipt = await sender.transact("placeBids", () =>
        contract.interface.encodeFunctionData("placeBids", [entries.map((entry) => bidTuple(entry.bid, entry.hint))]),
      );
      const results = slotBatchResults(
        market,
        entries.map((entry) => entry.bid.bidder),
        receipt.logs,
      );
      return { entries: results.entries, tx: minedOf(receipt) };
    },
    async cancel(bidder, signature) {
      const bid = await statusOf(bidder);
      if (bid.status === STATUS_NONE) throw new TransientChainError({ reason: "bidNotOnChain", bidder });
      for (let attempt = 1; ; attempt++) {
        // A bid that no longer rests is not in its list: the contract answers BidNotOpen whatever `prev` says.
        const list = await readBook(market, bid.slot, bid.side);
        const at = list.findIndex((entry) => sameAddress(entry, bidder));
        const prev = at <= 0 ? ZeroAddress : list[at - 1]!;
        try {
          return minedOf(await sender.transact("cancelBid", () => contract.interface.encodeFunctionData("cancelBid", [bidder, prev, signature])));
        } catch (error) {
          // The list changed between the read and the transaction: read it again (then the machine's retries).
          if (!(error instanceof MarketRevertError && error.errorName === "StaleHint")) throw error;
          if (attempt >= options.staleCancelAttempts) throw new TransientChainError({ reason: "notThrough", action: "cancelBid", cause: error });
        }
      }
    },
    async purge(slot, side, max) {
      const receipt = await sender.transact("purge", () => contract.interface.encodeFunctionData("purge", [slot, SIDE_CODE[side], max]));
      const expired = decodeSlotMarketEvents(market, receipt.logs).filter((event) => event.type === "expired").length;
      return { tx: minedOf(receipt), expired };
    },
    async isOnChain(bidder) {
      return (await statusOf(bidder)).status !== STATUS_NONE;
    },
  };
}
