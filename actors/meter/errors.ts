// The meter runtime's errors (the convention: protocol/base/errors.ts).
import { GridveilError, errorClass, reasonErrorClass } from "../../protocol/base/errors.ts";

// --- enrolment ------------------------------------------------------------------------------------------------

/** Why the meter refuses an enrolment reply (the meter machine retries with backoff). */
export type EnrolmentRefusal =
  | { reason: "otherMeter"; meterId: string }
  | { reason: "otherInbox"; provisioned: string; assigned: string }
  | { reason: "otherMarket"; marketId: string }
  | { reason: "keyNotOfAddress"; address: string }
  | { reason: "otherDso"; expected: string; got: string }
  | { reason: "mskForOtherMarket"; marketId: string }
  | { reason: "dimensionNotLevels"; dimension: number; levels: number };

const ENROLMENT_TEXT: Record<EnrolmentRefusal["reason"], { message: string; hint?: string }> = {
  otherMeter: { message: "the enrolment reply is for another meter" },
  otherInbox: {
    message: "the DSO assigned another inbox id than the one this meter was provisioned with",
    hint: "give the meter's registry entry the same inboxId as its NATS user (infra/provision.ts), or reset the DSO database entry",
  },
  otherMarket: { message: "the enrolment reply describes another market" },
  keyNotOfAddress: { message: "the DSO's public key does not belong to its address" },
  otherDso: { message: "the enrolment reply comes from another DSO than the provisioned one" },
  mskForOtherMarket: { message: "the sealed master key is for another market" },
  dimensionNotLevels: { message: "the market's FHIPE dimension is not its price levels + 1" },
};

/** The single fact a refusal shows as its value (the refused id, or the pair that disagrees). */
function enrolmentValue(refusal: EnrolmentRefusal): unknown {
  const { reason: _reason, ...facts } = refusal;
  const values = Object.values(facts);
  return values.length === 1 ? values[0] : facts;
}

export class EnrolmentRejectedError extends GridveilError {
  readonly reason: EnrolmentRefusal["reason"];
  constructor(refusal: EnrolmentRefusal) {
    const text = ENROLMENT_TEXT[refusal.reason];
    super(text.message, { value: enrolmentValue(refusal), hint: text.hint });
    this.reason = refusal.reason;
  }
}

/** Something that needs the enrolled meter's connections ran before enrolment. */
export class MeterNotEnrolledError extends errorClass(GridveilError, () => ["the meter is not enrolled yet"]) {}

/** The runtime was asked to stop while it enrolled (or before it could). */
export class MeterRuntimeStoppedError extends errorClass(GridveilError, (params: { enrolled: "stopping" | "never" }) => [
  params.enrolled === "never" ? "the meter runtime stopped before it enrolled" : "the meter runtime is stopping",
]) {}

// --- bid sessions ---------------------------------------------------------------------------------------------

/** The key store lacks a secret a bid step needs. */
export class MeterSecretMissingError extends GridveilError {
  constructor(params: { secret: "masterKey" } | { secret: "oneTimeKey"; bidder: string }) {
    if (params.secret === "masterKey") {
      super("the meter holds no master key yet", { hint: "it arrives with the enrolment reply" });
    } else {
      super("no one-time key for this bidder", { value: params.bidder, hint: "one-time keys live only while their bid session runs" });
    }
  }
}

/** A bid step ran out of order for its session (`value`: the bidder): the runtime and the machine disagree. */
export class BidSessionStateError extends reasonErrorClass(GridveilError, {
  noSession: "no running session for this bidder",
  signedBeforeTicket: "signing before the ticket and the encryption",
  commitmentChanged: "the signed commitment differs from the encrypted one",
  otherDesign: "the effect belongs to the other market design (version 1 or 2) than the enrolled market's",
  noEpochKey: "meter mode needs the epoch's key from the DSO, and the meter has none for this slot",
}) {}

/** The DSO or the gateway answered, but not what the request asked for. */
export class UnexpectedReplyError extends GridveilError {
  constructor(params: { ticketFor: string } | { cancelStatus: string } | { certifiedFor: { bidder: string; slot: number; side: number } }) {
    if ("ticketFor" in params) super("the DSO answered with a ticket for another bidder", { value: params.ticketFor });
    else if ("certifiedFor" in params) super("the DSO certified another bid than the one asked for", { value: params.certifiedFor });
    else super("the gateway could not cancel the bid", { value: params.cancelStatus });
  }
}

/** A matched counterpart's one-time id has no bid on chain: its opening cannot be checked. */
export class CounterpartBidNotFoundError extends errorClass(GridveilError, (params: { bidder: string }) => [
  "the counterpart's bid is not on chain",
  { value: params.bidder },
]) {}

/** The `neverOpen` fault: the session left the opening state without sending one. */
export class OpeningWithheldError extends errorClass(GridveilError, () => ["opening withheld (fault)"]) {}
