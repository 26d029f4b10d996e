// The effects a bid session asks its runtime for (PROTOCOL §4, §5): their inputs, outputs and names.
import type { PromiseActorLogic } from "xstate";
import type { Address, Hex } from "../../protocol/base/hex.ts";
import type { BidCiphertext, Opening, Side, SignedBid, Ticket } from "../../protocol/domain.ts";
import type { DisputeClaim, OpeningVerdict } from "../../protocol/reasons.ts";
import type { SlotOpeningWire } from "../../protocol/wire/schemas.ts";
import type { AnyOpening, BidToSubmit, CertifiedSlotBid } from "./context.ts";
import type { EffectsOf } from "../kit/effects.ts";

export type CreateOneTimeIdentityInput = { sessionId: string };
/** The runtime keeps the private key (keyed by `bidder`) for `signBid`/`cancelBid`; it never enters the machine. */
export type CreateOneTimeIdentityOutput = { bidder: Address };
export type RequestTicketInput = { bidder: Address; lifetimeSeconds: number };
export type RequestTicketOutput = { ticket: Ticket };
export type EncryptBidInput = { bidder: Address; side: Side; priceLevel: number; quantityWh: number };
/** α, β and salt are drawn by the runtime; `opening` must reproduce `ciphertext` and `commitment` (PROTOCOL §4). */
export type EncryptBidOutput = { ciphertext: BidCiphertext; commitment: Hex; opening: Opening };
export type CertifyBidInput = { bidder: Address; side: Side; slot: number; priceLevel: number; quantityWh: number };
/**
 * Version 2 (PROTOCOL §4 v2): the runtime draws salt and seed, has the DSO certify the opening (it encrypts, or checks
 * the meter's encryption) and checks the reply against the opening. `closed`: the DSO refused because the slot is
 * closed or its epoch not open — nothing to retry. Throwing = transient (retried).
 */
export type CertifyBidOutput =
  | { kind: "certified"; bid: CertifiedSlotBid; opening: SlotOpeningWire; matchWaitMs: number }
  | { kind: "closed"; reason: string };
export type AwaitSlotEndInput = { slot: number };
export type SignBidInput = { bidder: Address; side: Side; ciphertext: BidCiphertext; commitment: Hex };
export type SignBidOutput = { bidderSignature: Hex };
export type SubmitBidInput = BidToSubmit;
export type CancelBidInput = { bidder: Address };
export type SendOpeningInput = { matchId: string; bidder: Address; side: Side; opening: Opening };
export type VerifyCounterpartOpeningInput = {
  matchId: string;
  counterpartBidder: Address;
  counterpartSide: Side;
  opening: AnyOpening;
};
/**
 * Checks the counterpart's opening against the chain (PROTOCOL §5 trading step 3): v1 re-encrypts it with msk; v2
 * recomputes the on-chain commitment (and in meter mode the ciphertext root).
 */
export type VerifyCounterpartOpeningOutput = OpeningVerdict;
export type ReportDisputeInput = { matchId: string; bidder: Address; claim: DisputeClaim };
export type ReadMeterInput = { matchId: string; bidder: Address; side: Side; quantityWh: number };
export type ReadMeterOutput = { measuredWh: number };
export type ReportReadingInput = { matchId: string; bidder: Address; side: Side; measuredWh: number };

export type BidSessionActors = {
  createOneTimeIdentity: PromiseActorLogic<CreateOneTimeIdentityOutput, CreateOneTimeIdentityInput>;
  requestTicket: PromiseActorLogic<RequestTicketOutput, RequestTicketInput>;
  certifyBid: PromiseActorLogic<CertifyBidOutput, CertifyBidInput>;
  encryptBid: PromiseActorLogic<EncryptBidOutput, EncryptBidInput>;
  signBid: PromiseActorLogic<SignBidOutput, SignBidInput>;
  submitBid: PromiseActorLogic<void, SubmitBidInput>;
  cancelBid: PromiseActorLogic<void, CancelBidInput>;
  sendOpening: PromiseActorLogic<void, SendOpeningInput>;
  verifyCounterpartOpening: PromiseActorLogic<VerifyCounterpartOpeningOutput, VerifyCounterpartOpeningInput>;
  reportDispute: PromiseActorLogic<void, ReportDisputeInput>;
  /** Version 2: resolves once the delivery slot has ended (by the market's clock). */
  awaitSlotEnd: PromiseActorLogic<void, AwaitSlotEndInput>;
  readMeter: PromiseActorLogic<ReadMeterOutput, ReadMeterInput>;
  reportReading: PromiseActorLogic<void, ReportReadingInput>;
};

export const bidSessionActorNames = [
  "createOneTimeIdentity",
  "requestTicket",
  "certifyBid",
  "encryptBid",
  "signBid",
  "submitBid",
  "cancelBid",
  "sendOpening",
  "verifyCounterpartOpening",
  "reportDispute",
  "awaitSlotEnd",
  "readMeter",
  "reportReading",
] as const satisfies readonly (keyof BidSessionActors)[];

/** Every effect a bid session needs, as plain async functions (see docs/machines.md#4-bidsession-machinesbidsessionts). */
export type BidSessionEffects = EffectsOf<BidSessionActors>;
