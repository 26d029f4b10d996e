// The parts of the gateway that depend on the market's design (PROTOCOL "Versions"): how a delivery becomes the
// machine's bid, how a batch is placed, how a cancel is relayed, how the contract's logs are read, and what the
// notices read back. Version 1: the unary market (one book, bids signed by their one-time key). Version 2: the slot
// market (certified bids, per-slot lists placed with hints, expiry at gate closure). The runtime wires either one
// to the same machine.
import type { NatsConnection } from "@nats-io/transport-node";
import type { JsonRpcProvider, Wallet } from "ethers";
import { attachMarket, type MarketHandle } from "../../contracts/client/index.ts";
import { ChainMismatchError } from "../../contracts/client/errors.ts";
import { attachSlotMarket, readBook, type SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import { isSlotBid, VERSION_1, type GatewayBid, type GatewayDesign, type SlotBid } from "../../machines/gateway.ts";
import type { MarketDescription, SignedBid, SlotMarketDescription } from "../../protocol/domain.ts";
import { blockParams, type BlockParams } from "../../protocol/encoding/blockTokens.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";
import { sameAddress } from "../../protocol/base/hex.ts";
import { gatewayDefaults } from "../config/gateway.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Logger } from "../telemetry/logger.ts";
import { slotBidReader, unaryBidReader, type ReadBid } from "./bidWire.ts";
import type { ReadRange } from "./chainFollower.ts";
import { createChainWriter, createTransactionSender, type MinedTx } from "./chainWriter.ts";
import { dsoHintSource } from "./dsoHints.ts";
import { DesignMismatchError, SlotMarketMismatchError, UnknownExpiredBidError } from "./errors.ts";
import { hintsWithFallback, type HintCounters } from "./hintFallback.ts";
import { unaryChainReads, type NoticeChainReads } from "./notices.ts";
import { createPublicBids } from "./publicBids.ts";
import { publicHintSource } from "./publicHints.ts";
import { createSlotBookView } from "./slotBookView.ts";
import { readSlotLogRange } from "./slotLogs.ts";
import { slotPlacement, type SlotPlacementCounters } from "./slotPlacement.ts";
import { startSlotSweeper, type SlotSweeper } from "./slotSweeper.ts";
import { createSlotWriter, slotErrorDecoder } from "./slotWriter.ts";
import { wavePlacement, type Placement } from "./submitter.ts";

/** Version 2's own counters (`GatewayCounters.slots`). */
export type SlotMarketCounters = {
  /** `placeBids` transactions the slot placer sent, entries re-hinted after `StaleHint`, books read from the chain. */
  placer: SlotPlacementCounters;
  hints: HintCounters;
  /** Purge transactions of closed slots, and the bids they expired. */
  sweeper: ReturnType<SlotSweeper["counters"]>;
};

export type DesignParts = {
  design: GatewayDesign;
  dimension: number;
  contractAddress: string;
  readBid: ReadBid;
  placement: Placement<GatewayBid>;
  cancel(bidder: string, signature: string): Promise<MinedTx>;
  readRange: ReadRange | undefined;
  chainReads: NoticeChainReads;
  /** Extra numbers for the state snapshot (`gridveil watch`). */
  watchCounts(): Record<string, number>;
  slotCounters(): SlotMarketCounters | undefined;
  /** Starts what runs beside the machine (version 2: the book view from the deployment on, then the sweeper). */
  start(): Promise<void>;
  /** Stops it (before the machine is asked to stop). */
  stop(): Promise<void>;
  close(): void;
};

export type DesignPartsOptions = {
  provider: JsonRpcProvider;
  wallet: Wallet;
  contractAddress: string;
  /** The DSO's market description, when the gateway has one (always for version 2). */
  description: MarketDescription | undefined;
  gasLimit: bigint;
  startBlock: number;
  logger: Logger;
  clock: Clock;
  nc: NatsConnection;
  subjects: MarketSubjects;
  txMaxBids: number | undefined;
  checkCiphertextPoints: boolean;
  maxBlockRange: number;
  /** A transaction outside the machine's batches was mined (a purge): the follower reads at once. */
  onMined(): void;
};

/** Only bids of `expected`'s kind may reach a placement (the machine's design guarantees it; this says so if not). */
function onlyBids<TBid extends GatewayBid>(isKind: (bid: GatewayBid) => bid is TBid, expected: string, placement: Placement<TBid>): Placement<GatewayBid> {
  return (bids, tools) => {
    const other = bids.find((bid) => !isKind(bid));
    if (other !== undefined) throw new DesignMismatchError({ expected, bidder: other.bidder });
    return placement(bids as readonly TBid[], tools);
  };
}

export async function designParts(options: DesignPartsOptions): Promise<DesignParts> {
  const slots = options.description?.slots;
  return slots === undefined ? unaryParts(options) : slotParts(options, options.description!, slots);
}

async function unaryParts(options: DesignPartsOptions): Promise<DesignParts> {
  const market: MarketHandle = await attachMarket(options.contractAddress, options.wallet);
  const expected = options.description?.fhipe.dimension;
  if (expected !== undefined && market.dim !== expected) {
    throw new ChainMismatchError({ party: "gateway", reason: "otherDimension", address: options.contractAddress, contractDimension: market.dim, marketDimension: expected });
  }
  const writer = createChainWriter({ market, wallet: options.wallet, provider: options.provider, gasLimit: options.gasLimit, receiptTimeoutMs: gatewayDefaults.receiptTimeoutMs });
  const isSigned = (bid: GatewayBid): bid is SignedBid => !isSlotBid(bid);
  return {
    design: VERSION_1,
    dimension: market.dim,
    contractAddress: options.contractAddress,
    readBid: unaryBidReader({ checkPoints: options.checkCiphertextPoints }),
    placement: onlyBids(isSigned, "version 1", wavePlacement({ writer, logger: options.logger, txMaxBids: options.txMaxBids ?? Number.MAX_SAFE_INTEGER })),
    cancel: writer.cancel,
    readRange: undefined,
    chainReads: unaryChainReads(market),
    watchCounts: () => ({}),
    slotCounters: () => undefined,
    start: async () => undefined,
    stop: async () => undefined,
    close: writer.close,
  };
}

async function slotParts(options: DesignPartsOptions, description: MarketDescription, slots: SlotMarketDescription): Promise<DesignParts> {
  const { provider, logger, contractAddress } = options;
  const params: BlockParams = blockParams(description.priceLevels.count, slots.width);
  const calendar = { slotSeconds: slots.calendar.slotSeconds, gateClosureSeconds: slots.calendar.gateClosureSeconds };
  const market: SlotMarketHandle = await attachSlotMarket(contractAddress, options.wallet, params, calendar);
  await checkSlotMarket(market, description, params);

  const sender = createTransactionSender({
    to: contractAddress,
    wallet: options.wallet,
    provider,
    gasLimit: options.gasLimit,
    receiptTimeoutMs: gatewayDefaults.receiptTimeoutMs,
    decodeError: slotErrorDecoder(market),
  });
  const writer = createSlotWriter(market, sender, { staleCancelAttempts: gatewayDefaults.staleCancelAttempts });
  const view = createSlotBookView(options.startBlock);
  const publicBids = createPublicBids({ market, provider, params, fromBlock: options.startBlock });
  const publicHints = publicHintSource({ bidOf: publicBids.bidOf, params, calendar });
  const hints = hintsWithFallback({
    dso: dsoHintSource(options.nc, options.subjects, gatewayDefaults.dsoHintsTimeoutMs),
    fallback: async (slot, lists, bidders, now) => {
      await publicBids.load([...lists.buy, ...lists.sell, ...bidders]);
      return publicHints(slot, lists, bidders, now);
    },
    dsoRetryAfterMs: gatewayDefaults.dsoHintsRetryAfterMs,
    logger,
  });
  const placing = slotPlacement({
    writer,
    params,
    hints: hints.hints,
    readLists: async (slot) => ({ buy: await readBook(market, slot, "buy"), sell: await readBook(market, slot, "sell") }),
    now: () => options.clock.now(),
    attempts: gatewayDefaults.placementAttempts,
    txMaxBids: options.txMaxBids ?? gatewayDefaults.slotTxMaxBids,
    logger,
    onBid: publicBids.remember,
    onExpiredBacklog: (slot) => sweeper?.purgeExpired(slot),
  });
  const readRange: ReadRange = async (fromBlock, maxBlockRange) => {
    const range = await readSlotLogRange(provider, market, calendar, fromBlock, maxBlockRange);
    if (range !== null) view.apply(range);
    return range;
  };
  let sweeper: SlotSweeper | undefined;
  return {
    design: { version: 2, tokens: params.tokens },
    dimension: params.dim,
    contractAddress,
    readBid: slotBidReader({ params, domain: market.domain, ticketSigner: description.ticketSigner }),
    placement: onlyBids(isSlotBid as (bid: GatewayBid) => bid is SlotBid, "version 2", placing.placement),
    cancel: writer.cancel,
    readRange,
    chainReads: {
      isOnChain: writer.isOnChain,
      // Every version 2 expiry log carries its side and slot (slotLogs.ts): nothing to read back.
      expiryOf: async (bidder) => {
        throw new UnknownExpiredBidError({ bidder });
      },
    },
    watchCounts: () => view.watchCounts(gatewayDefaults.watchSlots),
    slotCounters: () => ({ placer: placing.counters(), hints: hints.counters(), sweeper: sweeper?.counters() ?? { purges: 0, purged: 0, failures: 0 } }),
    async start() {
      // Every slot's books from the deployment on: the sweeper must know each closed slot that still holds bids.
      for (let from = options.startBlock; ; ) {
        const range = await readSlotLogRange(provider, market, calendar, from, options.maxBlockRange);
        if (range === null) break;
        view.apply(range);
        if (range.toBlock >= range.head) break;
        from = range.toBlock + 1;
      }
      sweeper = startSlotSweeper({
        market,
        calendar,
        view,
        writer,
        clock: options.clock,
        logger,
        intervalMs: gatewayDefaults.sweepIntervalMs,
        retryMaxMs: gatewayDefaults.sweepRetryMaxMs,
        purgeMaxPerTx: gatewayDefaults.purgeMaxPerTx,
        onPurged: options.onMined,
        onSlotSwept: publicBids.forgetSlot,
      });
    },
    async stop() {
      await sweeper?.stop();
    },
    close: sender.close,
  };
}

/** The contract at the described address must be the described slot market: encoding, calendar and ticket signer. */
async function checkSlotMarket(market: SlotMarketHandle, description: MarketDescription, params: BlockParams): Promise<void> {
  const read = async (name: string) => Number(await market.contract.getFunction(name)());
  const address = market.address;
  const contract = { dim: await read("dim"), tokens: await read("tokens") };
  if (contract.dim !== params.dim || contract.tokens !== params.tokens || description.fhipe.dimension !== params.dim) {
    throw new SlotMarketMismatchError({ kind: "otherEncoding", address, contract, described: { dim: description.fhipe.dimension, tokens: params.tokens } });
  }
  const calendar = { slotSeconds: await read("slotSeconds"), gateClosureSeconds: await read("gateClosureSeconds") };
  const described = description.slots!.calendar;
  if (calendar.slotSeconds !== described.slotSeconds || calendar.gateClosureSeconds !== described.gateClosureSeconds) {
    throw new SlotMarketMismatchError({ kind: "otherCalendar", address, contract: calendar, described: { slotSeconds: described.slotSeconds, gateClosureSeconds: described.gateClosureSeconds } });
  }
  const signer = String(await market.contract.getFunction("ticketSigner")());
  if (!sameAddress(signer, description.ticketSigner)) throw new SlotMarketMismatchError({ kind: "otherTicketSigner", address, contract: signer, described: description.ticketSigner });
}
