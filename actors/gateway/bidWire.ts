// Bid conversions at the gateway's edges: wire submission (schemas.ts) → the machine's bid (version 1: the domain's
// SignedBid; version 2: machines/gateway/bids.ts SlotBid) → contract call; and, for whoever submits version 2 bids,
// the wire submission of a certified bid (`slotSubmissionOf`).
import { getBytes, verifyTypedData, type TypedDataDomain } from "ethers";
import { z } from "zod";
import { decodeBidCiphertext } from "../../protocol/fhipe/binary.ts";
import { g1VectorFromWords, g2VectorFromWords } from "../../protocol/fhipe/evmWords.ts";
import { SlotTicketError, UndecodableCiphertextError } from "./errors.ts";
import { bidSubmissionSchema, slotBidSubmissionSchema, type BidSubmission, type SlotBidSubmission } from "../../protocol/wire/schemas.ts";
import { codeOfSide, sideOfCode, type SignedBid as MachineBid } from "../../protocol/domain.ts";
import type { SignedBid as ContractBid } from "../../contracts/client/index.ts";
import { SLOT_TICKET_TYPES, SIDE_CODE, ciphertextFromWords, ciphertextWords, type CertifiedBid } from "../../contracts/client/v2/slotMarket.ts";
import { ciphertextRoot } from "../../protocol/encoding/ciphertextRoot.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import { sameAddress, toAddress, type Hex } from "../../protocol/base/hex.ts";
import type { GatewayBid, SlotBid } from "../../machines/gateway.ts";
import { tryDecode } from "../nats/codec.ts";

/**
 * The machine's view of a submission. Either form of the ciphertext has every point checked here (on the curve, and
 * G2 in its subgroup; PROTOCOL §3): the compact hex as it is decoded, the decimal words as they are parsed. A corrupted
 * bid is refused before it costs gas. (`checkPoints: false` only for the bench's plaintext market, whose words are
 * clear price levels, not points.)
 */
export function machineBidOf(submission: BidSubmission, options: { checkPoints: boolean } = { checkPoints: true }): MachineBid {
  let left: string[];
  let right: string[];
  if (typeof submission.ciphertext === "string") {
    try {
      const decoded = decodeBidCiphertext(getBytes(submission.ciphertext));
      left = decoded.left.map(String);
      right = decoded.right.map(String);
    } catch (cause) {
      throw new UndecodableCiphertextError({ bidder: submission.bidder, cause });
    }
  } else {
    left = [...submission.ciphertext.left];
    right = [...submission.ciphertext.right];
    if (options.checkPoints) checkPoints(submission.bidder, left, right);
  }
  return {
    bidder: submission.bidder,
    side: sideOfCode(submission.side),
    ciphertext: { left, right },
    commitment: submission.commitment,
    ticket: { bidder: submission.bidder, notAfter: submission.ticket.notAfter, signature: submission.ticket.signature },
    bidderSignature: submission.bidSignature,
  };
}

/** Parses every point of a word-form ciphertext (on the curve, G2 in its subgroup), or refuses the bid. */
function checkPoints(bidder: string, left: readonly string[], right: readonly string[]): void {
  try {
    g1VectorFromWords(left.map(BigInt));
    g2VectorFromWords(right.map(BigInt));
  } catch (cause) {
    throw new UndecodableCiphertextError({ bidder, cause });
  }
}

/** The contract's `SignedBid` for `placeBids`. */
export function contractBidOf(bid: MachineBid): ContractBid {
  return {
    bidder: bid.bidder as Hex,
    side: codeOfSide(bid.side),
    notAfter: BigInt(bid.ticket.notAfter),
    commitment: bid.commitment as Hex,
    left: bid.ciphertext.left.map((word) => BigInt(word)),
    right: bid.ciphertext.right.map((word) => BigInt(word)),
    ticketSignature: bid.ticket.signature as Hex,
    bidderSignature: bid.bidderSignature as Hex,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Version 2 (PROTOCOL §4 v2 certified bids)

/**
 * The NATS submission of a certified bid (`bid.submit.v2`), published on the bids subject with `Nats-Msg-Id` = its
 * bidder (`dedupIds.bid`): the one form the meter's runtime and the benchmark both send.
 */
export function slotSubmissionOf(bid: CertifiedBid, submittedAt: number): SlotBidSubmission {
  return {
    type: "bid.submit.v2",
    bidder: toAddress(bid.bidder),
    side: codeOfSide(bid.side),
    slot: bid.slot,
    notAfter: bid.notAfter,
    commitment: bid.commitment as Hex,
    ciphertext: ciphertextWords(bid.ciphertext).map(String),
    ticketSignature: bid.ticketSignature as Hex,
    submittedAt,
  };
}

/** The machine's view of a version 2 submission. */
export function slotBidOf(submission: SlotBidSubmission): SlotBid {
  return {
    bidder: submission.bidder,
    side: sideOfCode(submission.side),
    slot: submission.slot,
    notAfter: submission.notAfter,
    commitment: submission.commitment,
    ciphertext: [...submission.ciphertext],
    ticketSignature: submission.ticketSignature,
  };
}

/** The slot market client's certified bid of a machine bid (its words as the encoding's tokens). */
export function certifiedBidOf(bid: SlotBid, params: BlockParams): CertifiedBid {
  return {
    bidder: bid.bidder,
    side: bid.side,
    slot: bid.slot,
    notAfter: bid.notAfter,
    commitment: bid.commitment,
    ciphertext: ciphertextFromWords(bid.ciphertext.map(BigInt), params),
    ticketSignature: bid.ticketSignature,
  };
}

/**
 * Checks a certified bid's ticket as the contract will (PROTOCOL §4 v2): the DSO's EIP-712 signature over the bidder,
 * side, slot, expiry, the root of these very words and the commitment. A bid altered on its way, cut short or
 * certified by someone else is refused before it costs gas (`SlotTicketError`).
 */
export function checkSlotTicket(bid: SlotBid, market: { params: BlockParams; domain: TypedDataDomain; ticketSigner: string }): void {
  const { dim, tokens } = market.params;
  if (bid.ciphertext.length !== 6 * dim * tokens) throw new SlotTicketError({ kind: "wrongLength", bidder: bid.bidder, words: bid.ciphertext.length, expected: 6 * dim * tokens });
  let signer: string;
  try {
    const root = ciphertextRoot(ciphertextFromWords(bid.ciphertext.map(BigInt), market.params));
    signer = verifyTypedData(
      market.domain,
      SLOT_TICKET_TYPES,
      { bidder: bid.bidder, side: SIDE_CODE[bid.side], slot: bid.slot, notAfter: bid.notAfter, ciphertextRoot: root, commitment: bid.commitment },
      bid.ticketSignature,
    );
  } catch (cause) {
    throw new SlotTicketError({ kind: "unreadable", bidder: bid.bidder, cause });
  }
  if (!sameAddress(signer, market.ticketSigner)) throw new SlotTicketError({ kind: "otherSigner", bidder: bid.bidder, signer });
}

// ---------------------------------------------------------------------------------------------------------------
// Reading a delivery

/** A delivery refused before it reached the machine (bad JSON/schema, another design's bid, a bid that cannot be placed). */
export type RefusedDelivery = { bidder: string | null; error: string; detail: string };

export type ReadBid = (msg: { data: Uint8Array; subject?: string }) => { ok: true; bidder: string; bid: GatewayBid } | { ok: false; refusal: RefusedDelivery };

/** Either design's submission; the reader of a market takes its own design's only. */
const anySubmissionSchema = z.discriminatedUnion("type", [bidSubmissionSchema, slotBidSubmissionSchema]);

const WRONG_DESIGN = "WrongDesign";

/** Reads version 1 submissions (`bid.submit`); a version 2 one is refused by name. */
export function unaryBidReader(options: { checkPoints: boolean }): ReadBid {
  return (msg) => {
    const decoded = readSubmission(msg);
    if (!decoded.ok) return decoded;
    const submission = decoded.submission;
    if (submission.type !== "bid.submit") return { ok: false, refusal: otherDesign(submission.bidder, submission.type, "version 1") };
    try {
      return { ok: true, bidder: submission.bidder, bid: machineBidOf(submission, options) };
    } catch (error) {
      return { ok: false, refusal: { bidder: submission.bidder, error: "UndecodableCiphertext", detail: firstLine(error) } };
    }
  };
}

/** Reads version 2 submissions (`bid.submit.v2`), each ticket checked; a version 1 one is refused by name. */
export function slotBidReader(market: { params: BlockParams; domain: TypedDataDomain; ticketSigner: string }): ReadBid {
  return (msg) => {
    const decoded = readSubmission(msg);
    if (!decoded.ok) return decoded;
    const submission = decoded.submission;
    if (submission.type !== "bid.submit.v2") return { ok: false, refusal: otherDesign(submission.bidder, submission.type, "version 2") };
    const bid = slotBidOf(submission);
    try {
      checkSlotTicket(bid, market);
    } catch (error) {
      // Named as the contract would answer the bid.
      const name = error instanceof SlotTicketError && error.kind === "wrongLength" ? "WrongLength" : "BadTicket";
      return { ok: false, refusal: { bidder: submission.bidder, error: name, detail: firstLine(error) } };
    }
    return { ok: true, bidder: submission.bidder, bid };
  };
}

function readSubmission(msg: { data: Uint8Array; subject?: string }): { ok: true; submission: z.output<typeof anySubmissionSchema> } | { ok: false; refusal: RefusedDelivery } {
  const decoded = tryDecode(anySubmissionSchema, msg);
  if (decoded.ok) return { ok: true, submission: decoded.value };
  return {
    ok: false,
    refusal: {
      bidder: bidderHint(msg.data),
      error: "MalformedSubmission",
      detail: decoded.error.issues.map((issue) => `${issue.path || "(root)"}: ${issue.message}`).join("; ").slice(0, 1000),
    },
  };
}

function otherDesign(bidder: string, type: string, market: string): RefusedDelivery {
  return { bidder, error: WRONG_DESIGN, detail: `a ${type} submission in a ${market} market` };
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split("\n")[0] ?? "";
}

/** The bidder named by a submission that failed validation, if it names a well-formed one (for the rejection notice). */
function bidderHint(data: Uint8Array): string | null {
  try {
    const json: unknown = JSON.parse(new TextDecoder().decode(data));
    const bidder = (json as { bidder?: unknown } | null)?.bidder;
    return typeof bidder === "string" && /^0x[0-9a-fA-F]{40}$/.test(bidder) ? bidder : null;
  } catch {
    return null;
  }
}
