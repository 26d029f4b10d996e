// The effects a bid session asks its runtime for (PROTOCOL §4, §5): their inputs, outputs and names.
import type { PromiseActorLogic } from "xstate";
import type { Address, Hex } from "../../protocol/base/hex.ts";
import type { BidCiphertext, Opening, Side, SignedBid, Ticket } from "../../protocol/domain.ts";
import type { DisputeClaim, OpeningVerdict } from "../../protocol/reasons.ts";
import type { EffectsOf } from "../kit/effects.ts";

export type CreateOneTimeIdentityInput = { sessionId: string };
/** The runtime keeps the private key (keyed by `bidder`) for `signBid`/`cancelBid`; it never enters the machine. */
export type CreateOneTimeIdentityOutput = { bidder: Address };
export type RequestTicketInput = { bidder: Address; lifetimeSeconds: number };
export type RequestTicketOutput = { ticket: Ticket };
export type EncryptBidInput = { bidder: Address; side: Side; priceLevel: number; quantityWh: number };
/** α, β and salt are drawn by the runtime; `opening` must reproduce `ciphertext` and `commitment` (PROTOCOL §4). */
export type EncryptBidOutput = { ciphertext: BidCiphertext; commitment: Hex; opening: Opening };
export type SignBidInput = { bidder: Address; side: Side; ciphertext: BidCiphertext; commitment: Hex };
export type SignBidOutput = { bidderSignature: Hex };
export type SubmitBidInput = { bid: SignedBid };
export type CancelBidInput = { bidder: Address };
export type SendOpeningInput = { matchId: string; bidder: Address; side: Side; opening: Opening };
export type VerifyCounterpartOpeningInput = {
  matchId: string;
  counterpartBidder: Address;
  counterpartSide: Side;
  opening: Opening;
};
/** Re-encrypts the counterpart's opening with msk and compares it with the chain (PROTOCOL §5 trading step 3). */
export type VerifyCounterpartOpeningOutput = OpeningVerdict;
export type ReportDisputeInput = { matchId: string; bidder: Address; claim: DisputeClaim };
export type ReadMeterInput = { matchId: string; bidder: Address; side: Side; quantityWh: number };
export type ReadMeterOutput = { measuredWh: number };
export type ReportReadingInput = { matchId: string; bidder: Address; side: Side; measuredWh: number };

export type BidSessionActors = {
  createOneTimeIdentity: PromiseActorLogic<CreateOneTimeIdentityOutput, CreateOneTimeIdentityInput>;
  requestTicket: PromiseActorLogic<RequestTicketOutput, RequestTicketInput>;
  encryptBid: PromiseActorLogic<EncryptBidOutput, EncryptBidInput>;
  signBid: PromiseActorLogic<SignBidOutput, SignBidInput>;
  submitBid: PromiseActorLogic<void, SubmitBidInput>;
  cancelBid: PromiseActorLogic<void, CancelBidInput>;
  sendOpening: PromiseActorLogic<void, SendOpeningInput>;
  verifyCounterpartOpening: PromiseActorLogic<VerifyCounterpartOpeningOutput, VerifyCounterpartOpeningInput>;
  reportDispute: PromiseActorLogic<void, ReportDisputeInput>;
  readMeter: PromiseActorLogic<ReadMeterOutput, ReadMeterInput>;
  reportReading: PromiseActorLogic<void, ReportReadingInput>;
};

export const bidSessionActorNames = [
  "createOneTimeIdentity",
  "requestTicket",
  "encryptBid",
  "signBid",
  "submitBid",
  "cancelBid",
  "sendOpening",
  "verifyCounterpartOpening",
  "reportDispute",
  "readMeter",
  "reportReading",
] as const satisfies readonly (keyof BidSessionActors)[];

/** Every effect a bid session needs, as plain async functions (see docs/machines.md#4-bidsession-machinesbidsessionts). */
export type BidSessionEffects = EffectsOf<BidSessionActors>;
