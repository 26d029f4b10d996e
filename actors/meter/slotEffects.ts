// A meter's bid session in a version 2 market (PROTOCOL §4 v2 certified bids, §5 v2 trading): the DSO certifies the
// opening (no ticket round trip, no encryption at the meter in DSO mode), the gateway places the certified bid, the
// counterpart's opening comes with the terms and is checked against the commitment (and root) the chain holds, and
// delivery runs until the slot ends by the market's clock.
import { getAddress, getBytes, hexlify, randomBytes, type Wallet } from "ethers";
import { encryptBlockBid } from "../../protocol/encoding/blockBid.ts";
import { epochOfSlot } from "../../protocol/epochs.ts";
import type { MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { CANCEL_TYPES } from "../../contracts/client/eip712.ts";
import { ciphertextWords, type CertifiedBid } from "../../contracts/client/v2/slotMarket.ts";
import { randomSalt } from "../../protocol/commitment.ts";
import { codeOfSide } from "../../protocol/domain.ts";
import { blockParams, type BlockParams } from "../../protocol/encoding/blockTokens.ts";
import { ciphertextRoot } from "../../protocol/encoding/ciphertextRoot.ts";
import type { SlotOpening } from "../../protocol/encoding/certify.ts";
import { gateClosureOf, slotOpen } from "../../protocol/book/slotBooks.ts";
import { verifySlotOpening } from "../../protocol/verifyOpening.ts";
import type { MarketDescription, SlotMarketDescription } from "../../protocol/domain.ts";
import { slotBidSubmissionSchema, type SlotOpeningWire } from "../../protocol/wire/schemas.ts";
import { slotSubmissionOf } from "../gateway/bidWire.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";
import type { AwaitSlotEndInput, CertifyBidInput, CertifyBidOutput, CertifiedSlotBid, VerifyCounterpartOpeningOutput } from "../../machines/bidSession.ts";
import { dedupIds, publishDeduplicated } from "../nats/jetstream.ts";
import { RemoteError } from "../nats/errors.ts";
import type { Clock } from "../runtime/clock.ts";
import { requestCertifiedBid } from "./certification.ts";
import { BidSessionStateError, CounterpartBidNotFoundError } from "./errors.ts";
import { slotMarketOf, type MeterLink } from "./link.ts";
import type { MeterSecrets } from "./secrets.ts";

/** The block encoding and calendar of a version 2 market (throws in a version 1 market). */
export function slotDesignOf(market: MarketDescription): { slots: SlotMarketDescription; params: BlockParams } {
  if (market.slots === undefined) throw new BidSessionStateError({ reason: "otherDesign", value: market.contractAddress });
  return { slots: market.slots, params: blockParams(market.priceLevels.count, market.slots.width) };
}

/** A certified bid as the bid session carries it (wire form: decimal words, side code). */
export function certifiedForSession(bid: CertifiedBid): CertifiedSlotBid {
  return {
    bidder: getAddress(bid.bidder) as `0x${string}`,
    side: codeOfSide(bid.side),
    slot: bid.slot,
    notAfter: bid.notAfter,
    commitment: bid.commitment as `0x${string}`,
    ciphertextRoot: ciphertextRoot(bid.ciphertext) as `0x${string}`,
    ciphertext: ciphertextWords(bid.ciphertext).map(String),
    ticketSignature: bid.ticketSignature as `0x${string}`,
  };
}

export function openingToWire(opening: SlotOpening): SlotOpeningWire {
  const { seed, ...fields } = opening;
  return { ...fields, seed: hexlify(seed) as `0x${string}` };
}

export type SlotEffectsDeps = {
  subjects: MarketSubjects;
  meterId: string;
  meterKey: Wallet;
  secrets: MeterSecrets;
  link: () => MeterLink;
  clock: Clock;
  requestTimeoutMs: number;
  /** Meter mode: asks the DSO again for the keys of the epochs that take bids now (a new epoch has begun). */
  refreshEpochKeys: () => Promise<void>;
};

export type SlotEffects = {
  certifyBid(input: CertifyBidInput): Promise<CertifyBidOutput>;
  submit(bid: CertifiedSlotBid): Promise<{ duplicate: boolean; seq: number }>;
  /** The cancel's signature by the one-time key, over the slot market's EIP-712 domain. */
  cancelSignature(bidder: string): Promise<`0x${string}`>;
  verifyCounterpart(input: { tradeTxHash: string; counterpartBidder: string; counterpartSide: 0 | 1; opening: SlotOpeningWire }): Promise<VerifyCounterpartOpeningOutput>;
  awaitSlotEnd(input: AwaitSlotEndInput, signal: AbortSignal): Promise<void>;
};

export function createSlotEffects(deps: SlotEffectsDeps): SlotEffects {
  const { subjects: s, secrets, clock } = deps;
  const timeout = { timeoutMs: deps.requestTimeoutMs };

  /** The slot's epoch key (asked for again once when the meter holds none: a new epoch opened). */
  const epochKeyFor = async (slot: number, slots: SlotMarketDescription): Promise<[MasterSecretKey, Uint8Array]> => {
    const epoch = epochOfSlot(slot, slots.calendar);
    if (secrets.epochKey(epoch) === undefined) await deps.refreshEpochKeys();
    const key = secrets.epochKey(epoch);
    if (key === undefined) throw new BidSessionStateError({ reason: "noEpochKey", value: slot });
    return [key.msk, key.tokenKey];
  };

  return {
    async certifyBid({ bidder, side, slot, priceLevel, quantityWh }) {
      const link = deps.link();
      const { slots, params } = slotDesignOf(link.market);
      if (!slotOpen(slot, clock.now(), slots.calendar)) return { kind: "closed", reason: `slot ${slot} is past its gate closure` };
      // PROTOCOL §4 v2: the salt hides the commitment; the seed derives every randomizer and filler of the bid.
      const opening: SlotOpening = { side: codeOfSide(side), slot, priceLevel, quantityWh, salt: randomSalt(), seed: new Uint8Array(randomBytes(32)) };
      // Meter mode (the paper's): the meter encrypts under the epoch's key; the DSO re-encrypts and compares.
      const meterCiphertext = slots.encryptAt === "meter" ? encryptBlockBid(...(await epochKeyFor(slot, slots)), params, priceLevel, opening.seed) : undefined;
      const material = secrets.bid(bidder);
      let certified: CertifiedBid;
      try {
        certified = await requestCertifiedBid(
          link.nc,
          s,
          {
            meterId: deps.meterId,
            meterKey: deps.meterKey,
            oneTimeKey: material.oneTimeKey,
            dsoPublicKey: link.dso.publicKey,
            opening,
            // The bid may rest until its slot's gate closure (the DSO caps the ticket there anyway).
            notAfter: gateClosureOf(slot, slots.calendar),
            params,
            ...(meterCiphertext === undefined ? {} : { meterCiphertext }),
          },
          timeout,
        );
      } catch (error) {
        // A refusal while the slot closed under us is the closed slot, not a fault to retry.
        if (error instanceof RemoteError && error.code === "rejected" && !slotOpen(slot, clock.now(), slots.calendar))
          return { kind: "closed", reason: error.reply.message };
        throw error;
      }
      material.slotBid = { certified, opening };
      return { kind: "certified", bid: certifiedForSession(certified), opening: openingToWire(opening), matchWaitMs: clock.msUntil(certified.notAfter) };
    },

    async submit(bid) {
      const link = deps.link();
      // The certified bid as the DSO returned it (kept by certifyBid), in the one wire form the gateway reads.
      const certified = secrets.bid(bid.bidder).slotBid?.certified;
      if (certified === undefined) throw new BidSessionStateError({ reason: "noSession", value: bid.bidder });
      return publishDeduplicated(link.js, s.gateway.submit, slotBidSubmissionSchema, slotSubmissionOf(certified, Date.now()), dedupIds.bid(bid.bidder), timeout);
    },

    async cancelSignature(bidder) {
      const market = slotMarketOf(deps.link());
      return (await secrets.bid(bidder).oneTimeKey.signTypedData(market.domain, CANCEL_TYPES, { bidder: getAddress(bidder) })) as `0x${string}`;
    },

    async verifyCounterpart({ tradeTxHash, counterpartBidder, counterpartSide, opening }) {
      const link = deps.link();
      const market = slotMarketOf(link);
      const onChain = await counterpartOnChain(link, market.contract.interface, tradeTxHash, counterpartBidder, counterpartSide);
      if (onChain === null) throw new CounterpartBidNotFoundError({ bidder: counterpartBidder });
      const { slots, params } = slotDesignOf(link.market);
      // Meter mode: also re-encrypt the opening and compare with the on-chain root (the paper's non-repudiation check).
      const epochKey = slots.encryptAt === "meter" ? secrets.epochKey(epochOfSlot(opening.slot, slots.calendar)) : undefined;
      const check = verifySlotOpening(
        counterpartBidder,
        counterpartSide,
        onChain,
        { ...opening, seed: getBytes(opening.seed) },
        epochKey === undefined ? undefined : { epochKey, params },
      );
      return check.ok ? { valid: true } : { valid: false, reason: check.reason };
    },

    awaitSlotEnd({ slot }, signal) {
      const { slots } = slotDesignOf(deps.link().market);
      const end = (slot + 1) * slots.calendar.slotSeconds;
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, clock.msUntil(end));
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
    },
  };
}

type LogReader = { parseLog(log: { topics: readonly string[]; data: string }): { name: string; args: Record<string, unknown> & unknown[] } | null };

/**
 * The counterpart's commitment and ciphertext root as the chain holds them: from the trade's `Matched` log when the
 * counterpart's bid arrived and crossed, else from its own `BidPlaced` (it was resting).
 */
async function counterpartOnChain(
  link: MeterLink,
  iface: LogReader,
  tradeTxHash: string,
  counterpartBidder: string,
  counterpartSide: 0 | 1,
): Promise<{ commitment: string; ciphertextRoot: string } | null> {
  const receipt = await link.provider.getTransactionReceipt(tradeTxHash);
  const who = getAddress(counterpartBidder);
  for (const log of receipt?.logs ?? []) {
    if (getAddress(log.address) !== getAddress(link.market.contractAddress)) continue;
    const parsed = iface.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed?.name !== "Matched") continue;
    const arriving = Number(parsed.args.arriving);
    const arrivingBidder = getAddress(String(arriving === 0 ? parsed.args.buyBidder : parsed.args.sellBidder));
    if (arriving === counterpartSide && arrivingBidder === who) return { commitment: String(parsed.args.commitment), ciphertextRoot: String(parsed.args.ciphertextRoot) };
  }
  // Resting: its BidPlaced (the bidder is an indexed topic).
  const market = slotMarketOf(link);
  const placed = await market.contract.queryFilter(market.contract.filters.BidPlaced!(null, who));
  for (const event of placed) {
    if (!("args" in event)) continue;
    return { commitment: String(event.args.commitment), ciphertextRoot: String(event.args.ciphertextRoot) };
  }
  return null;
}
