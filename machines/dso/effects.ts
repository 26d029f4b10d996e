// The effects the DSO's machine asks its runtime for (PROTOCOL §4, §5 setup): inputs, outputs and names.
import type { PromiseActorLogic } from "xstate";
import type { Address, Hex } from "../../protocol/base/hex.ts";
import type { MarketDescription, Ticket } from "../../protocol/domain.ts";
import type { AuthenticationFailure } from "../../protocol/reasons.ts";
import type { EffectsOf } from "../kit/effects.ts";
import type { AckMessagesParams, ReplyToRequestParams, TradeSettlementEffects } from "../tradeSettlement/effects.ts";
import type { TradeRecord } from "../tradeSettlement/record.ts";

export type PrepareMasterKeyInput = { dimension: number };
/** Loads the stored `msk` of this dimension, or runs FHIPE `Setup(d)` and stores it (never a second one). */
export type PrepareMasterKeyOutput = { created: boolean };
export type DeployOrAttachContractInput = { marketId: string; dimension: number };
export type DeployOrAttachContractOutput = { chainId: number; contractAddress: Address; ticketSigner: Address; deployed: boolean };
export type PublishMarketDescriptionInput = { market: MarketDescription };
export type LoadInFlightTradesInput = { marketId: string };
/** Rows with `closed = false`. */
export type LoadInFlightTradesOutput = { trades: TradeRecord[] };
export type AuthenticateMeterInput = {
  purpose: "enrolment" | "ticket";
  permanentId: string;
  payload: string;
  signature: Hex;
  /** For tickets: the fields the signed payload must bind. */
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
] as const satisfies readonly (keyof DsoEffectActors)[];

/** Fire-and-forget effects, shared with the tradeSettlement children: they must not throw. */
export type DsoActions = {
  replyToRequest: (params: ReplyToRequestParams) => void;
  ackMessages: (params: AckMessagesParams) => void;
};

/** Every async effect of the DSO and of its trades, as plain functions. */
export type DsoEffects = EffectsOf<DsoEffectActors> & { tradeSettlement: TradeSettlementEffects };
