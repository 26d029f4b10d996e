// The effects the DSO's machine asks its runtime for (PROTOCOL §4, §5 setup): inputs, outputs and names.
import type { PromiseActorLogic } from "xstate";
import type { Address, Hex } from "../../protocol/base/hex.ts";
import type { MarketDescription, SlotMarketDescription, Ticket } from "../../protocol/domain.ts";
import type { AuthenticationFailure } from "../../protocol/reasons.ts";
import type { EffectsOf } from "../kit/effects.ts";
import type { AckMessagesParams, ReplyToRequestParams, TradeSettlementEffects } from "../tradeSettlement/effects.ts";
import type { TradeRecord } from "../tradeSettlement/record.ts";

export type PrepareMasterKeyInput = { dimension: number };
/** Loads the stored `msk` of this dimension, or runs FHIPE `Setup(d)` and stores it (never a second one). */
export type PrepareMasterKeyOutput = { created: boolean };
/** `slots`: version 2, the slot market with this encoding and calendar (PROTOCOL §5 v2 setup); else version 1's market. */
export type DeployOrAttachContractInput = { marketId: string; dimension: number; slots?: SlotMarketDescription };
export type DeployOrAttachContractOutput = { chainId: number; contractAddress: Address; ticketSigner: Address; deployed: boolean };
export type PublishMarketDescriptionInput = { market: MarketDescription };
export type LoadInFlightTradesInput = { marketId: string };
/** Rows with `closed = false`. */
export type LoadInFlightTradesOutput = { trades: TradeRecord[] };
export type AuthenticateMeterInput = {
  /** `certify`: version 2's certified bid, asked like a ticket (PROTOCOL §4 v2). */
  purpose: "enrolment" | "ticket" | "certify";
  permanentId: string;
  payload: string;
  signature: Hex;
  /** For tickets and certified bids: the fields the signed payload must bind. */
  bidder?: Address;
  lifetimeSeconds?: number;
};
export type AuthenticateMeterOutput = { authentic: true } | { authentic: false; reason: AuthenticationFailure };
export type SealEnrolmentInput = { permanentId: string };
/** `pp` and `msk` encrypted to the meter's registered key and signed by the DSO (opaque to the machine). */
export type SealEnrolmentOutput = { sealedEnrolment: string };
export type StoreIdentityPairInput = { permanentId: string; bidder: Address };
/** `stored: false` when the bidder is already paired with another permanent id (unique constraint). */
export type StoreIdentityPairOutput = { stored: boolean };
export type SignTicketInput = { bidder: Address; lifetimeSeconds: number };
/** EIP-712 signature by the ticket key over `(bidder, notAfter = now + lifetimeSeconds)`. */
export type SignTicketOutput = { ticket: Ticket };

/**
 * Version 2 (PROTOCOL §5 v2 setup): the epoch-key routine by the market clock — the current and the next epoch have
 * their keys, keys past their retention are destroyed — and when to run it again (wall ms).
 */
export type MaintainEpochKeysOutput = { prepared: number[]; destroyed: number[]; nextCheckInMs: number };
export type CertifyBidInput = { permanentId: string; bidder: Address };
/**
 * Version 2 (PROTOCOL §4 v2): the authenticated request's opening certified under its epoch's key and stored, the slot
 * ticket signed (`certificate`: the reply for the meter, opaque to the machine); `conflict`: the bidder is another
 * bid's; `refused`: the certifier's named rule refuses the bid (a closed slot, a level out of range, a ciphertext
 * that is not the opening's…).
 */
export type CertifyBidOutput = { outcome: "certified"; certificate: string } | { outcome: "conflict" } | { outcome: "refused"; reason: string };

/** The DSO's own effects (its trades' are `TradeSettlementActors`). */
export type DsoEffectActors = {
  prepareMasterKey: PromiseActorLogic<PrepareMasterKeyOutput, PrepareMasterKeyInput>;
  deployOrAttachContract: PromiseActorLogic<DeployOrAttachContractOutput, DeployOrAttachContractInput>;
  publishMarketDescription: PromiseActorLogic<void, PublishMarketDescriptionInput>;
  loadInFlightTrades: PromiseActorLogic<LoadInFlightTradesOutput, LoadInFlightTradesInput>;
  authenticateMeter: PromiseActorLogic<AuthenticateMeterOutput, AuthenticateMeterInput>;
  sealEnrolment: PromiseActorLogic<SealEnrolmentOutput, SealEnrolmentInput>;
  storeIdentityPair: PromiseActorLogic<StoreIdentityPairOutput, StoreIdentityPairInput>;
  signTicket: PromiseActorLogic<SignTicketOutput, SignTicketInput>;
  maintainEpochKeys: PromiseActorLogic<MaintainEpochKeysOutput, Record<string, never>>;
  certifyBid: PromiseActorLogic<CertifyBidOutput, CertifyBidInput>;
};
export const dsoEffectNames = [
  "prepareMasterKey",
  "deployOrAttachContract",
  "publishMarketDescription",
  "loadInFlightTrades",
  "authenticateMeter",
  "sealEnrolment",
  "storeIdentityPair",
  "signTicket",
  "maintainEpochKeys",
  "certifyBid",
] as const satisfies readonly (keyof DsoEffectActors)[];

/** The effects only a version 2 market invokes (a version 1 runtime need not provide them). */
export const slotMarketEffectNames = ["maintainEpochKeys", "certifyBid"] as const satisfies readonly (keyof DsoEffectActors)[];
type SlotMarketEffectName = (typeof slotMarketEffectNames)[number];

/** Fire-and-forget effects, shared with the tradeSettlement children: they must not throw. */
export type DsoActions = {
  replyToRequest: (params: ReplyToRequestParams) => void;
  ackMessages: (params: AckMessagesParams) => void;
};

/**
 * Every async effect of the DSO and of its trades, as plain functions; version 2's own may be left out by a version 1
 * runtime (one that is invoked without being provided fails loudly, `MissingEffectError`).
 */
export type DsoEffects = EffectsOf<Omit<DsoEffectActors, SlotMarketEffectName>> &
  Partial<EffectsOf<Pick<DsoEffectActors, SlotMarketEffectName>>> & { tradeSettlement: TradeSettlementEffects };
