// DSO request effects (PROTOCOL §4, §5 setup): authenticate meters, seal msk at enrolment (version 2: the epoch keys a
// meter may hold), pair ids, sign tickets (version 2: certify bids).
import { randomBytes } from "node:crypto";
import { SigningKey, getAddress, hexlify } from "ethers";
import { signTicket } from "../../contracts/client/index.ts";
import type { DsoEffects } from "../../machines/dso.ts";
import { encodeMsk } from "../../protocol/fhipe/binary.ts";
import { ConflictError } from "../db/errors.ts";
import { ensureMeterEventsConsumer } from "../nats/jetstream.ts";
import { certifyRequestSchema, enrolRequestSchema, ticketRequestSchema, type EpochKeysPayload, type MskPayload } from "../../protocol/wire/schemas.ts";
import { CertificationError } from "../../protocol/encoding/errors.ts";
import { epochsToPrepare } from "../../protocol/epochs.ts";
import { sealContexts } from "../../protocol/wire/sealContexts.ts";
import { SecureMessageError, StaleMessageError, UnexpectedSenderError } from "../secure/errors.ts";
import type { AuthenticationFailure } from "../../protocol/reasons.ts";
import { addressOfPublicKey } from "../secure/keys.ts";
import { seal } from "../secure/sealed.ts";
import { verifyMessageFields } from "../secure/signed.ts";
import { certifyReplyOf, certifyRequestOf, certifyRequestProblem } from "./bidServices.ts";
import { nowSeconds, requireContract, requireMsk, requireSlotMarket, type DsoDeps } from "./deps.ts";
import { CertifiedBidConflictError } from "../db/errors.ts";
import { DsoNotReadyError } from "./errors.ts";
import { type Address, type Hex, sameAddress, toAddress } from "../../protocol/base/hex.ts";

type RequestEffects = Pick<DsoEffects, "authenticateMeter" | "sealEnrolment" | "storeIdentityPair" | "signTicket" | "certifyBid">;

/** Opaque NATS inbox token assigned at enrolment: neither the permanent id nor a one-time id. */
function newInboxId(): string {
  return randomBytes(8).toString("hex");
}

/** Short reason for a refused signature (goes back to the meter as `unauthenticated: <reason>`). */
export function signatureProblem(error: unknown): AuthenticationFailure {
  if (!(error instanceof SecureMessageError)) throw error;
  if (error instanceof UnexpectedSenderError) return "notTheProvisionedKey";
  if (error instanceof StaleMessageError) return "stale";
  return "badSignature";
}

export function requestEffects(deps: DsoDeps): RequestEffects {
  const { db, registry, subjects, state } = deps;
  return {
    // The payload is the request as received; it must be signed by the registry's key for that meter id and bind
    // the fields the machine acts on (PROTOCOL §4 "authenticated request").
    authenticateMeter: async (input) => {
      const provisioned = registry.get(input.permanentId);
      if (!provisioned) return { authentic: false, reason: "unknownMeter" };
      let json: unknown;
      try {
        json = JSON.parse(input.payload);
      } catch {
        return { authentic: false, reason: "malformedPayload" };
      }
      if (input.purpose === "enrolment") {
        const request = enrolRequestSchema.safeParse(json);
        if (!request.success || request.data.meterId !== input.permanentId || request.data.auth.signature !== input.signature)
          return { authentic: false, reason: "malformedPayload" };
        try {
          verifyMessageFields(request.data, subjects.dso.enrol, { allowedSigners: provisioned.address });
        } catch (error) {
          return { authentic: false, reason: signatureProblem(error) };
        }
        if (addressOfPublicKey(request.data.publicKey) !== provisioned.address) return { authentic: false, reason: "publicKeyMismatch" };
        state.enrolments.set(input.permanentId, request.data);
        return { authentic: true };
      }
      if (input.purpose === "certify") {
        const request = certifyRequestSchema.safeParse(json);
        if (
          !request.success ||
          request.data.meterId !== input.permanentId ||
          request.data.auth.signature !== input.signature ||
          input.bidder === undefined ||
          !sameAddress(request.data.bidder, input.bidder)
        )
          return { authentic: false, reason: "malformedPayload" };
        const problem = certifyRequestProblem(request.data, { registry, db, subjects });
        if (problem !== null) return { authentic: false, reason: problem };
        state.certifyRequests.set(toAddress(request.data.bidder), { request: request.data });
        return { authentic: true };
      }
      const request = ticketRequestSchema.safeParse(json);
      if (
        !request.success ||
        request.data.meterId !== input.permanentId ||
        request.data.auth.signature !== input.signature ||
        !sameAddress(request.data.bidder, input.bidder)
      )
        return { authentic: false, reason: "malformedPayload" };
      try {
        verifyMessageFields(request.data, subjects.dso.ticket, { allowedSigners: provisioned.address });
      } catch (error) {
        return { authentic: false, reason: signatureProblem(error) };
      }
      if (!db.getMeter(input.permanentId)) return { authentic: false, reason: "notEnrolled" };
      const notAfter = Math.min(request.data.notAfter, nowSeconds(deps) + deps.config.dso.maxTicketLifetimeSeconds);
      state.ticketRequests.set(toAddress(request.data.bidder), { side: request.data.side, notAfter });
      return { authentic: true };
    },

    // PROTOCOL §5 setup: the meter receives pp and msk encrypted to its long-term key, signed by the DSO; version 2:
    // the keys of the epochs that take bids, in meter mode only (none in DSO mode: a meter holds no key there).
    sealEnrolment: async ({ permanentId }) => {
      const request = state.enrolments.get(permanentId);
      const provisioned = registry.get(permanentId);
      if (!request || !provisioned) throw new DsoNotReadyError({ reason: "enrolmentRequest", value: permanentId });
      const keysPayload = enrolmentKeys(deps);
      // One spelling of the key (uncompressed), so re-enrolling with the compressed form is not a "different key".
      const publicKey = SigningKey.computePublicKey(request.publicKey, false);
      const existing = db.getMeter(permanentId);
      const { record } = db.enrolMeter({
        meterId: permanentId,
        address: provisioned.address,
        publicKey,
        name: provisioned.name,
        // A provisioned inbox id names the meter's NATS user (its only readable subtree); a re-enrolment keeps what
        // was recorded, and the meter refuses a reply naming another inbox than its provisioned one.
        inboxId: existing?.inboxId ?? provisioned.inboxId ?? newInboxId(),
      });
      const sealedMsk = seal({
        payload: keysPayload,
        senderWallet: deps.wallet,
        recipientPublicKey: record.publicKey,
        context: sealContexts.enrolment(subjects),
      });
      // The meter's own consumer of the market events, before it can submit anything (the meter may not create one).
      await ensureMeterEventsConsumer(deps.nats.jsm, deps.marketId, record.inboxId);
      state.enrolments.delete(permanentId);
      return { sealedEnrolment: JSON.stringify({ inboxId: record.inboxId, sealedMsk }) };
    },

    // PROTOCOL §4: the DSO alone stores (permanent id, bidder), before it signs.
    storeIdentityPair: async ({ permanentId, bidder }) => {
      const request = state.ticketRequests.get(toAddress(bidder));
      if (request?.notAfter === undefined) throw new DsoNotReadyError({ reason: "ticketRequest", value: bidder });
      try {
        const { record } = db.recordOneTimeId({ bidder, meterId: permanentId, side: request.side, notAfter: request.notAfter });
        // A repeated request for the same bidder gets the first expiry again (and so the same ticket).
        state.ticketRequests.set(toAddress(bidder), { side: request.side, notAfter: record.notAfter });
        return { stored: true };
      } catch (error) {
        if (error instanceof ConflictError) {
          state.ticketRequests.delete(toAddress(bidder));
          return { stored: false };
        }
        throw error;
      }
    },

    signTicket: async ({ bidder, lifetimeSeconds }) => {
      const key = toAddress(bidder);
      const stored = state.ticketRequests.get(key)?.notAfter;
      state.ticketRequests.delete(key);
      // The expiry recorded with the pair (what the meter asked for, capped); the machine's lifetime is a fallback.
      const notAfter = stored ?? nowSeconds(deps) + lifetimeSeconds;
      const ticket = await signTicket(deps.wallet, requireContract(deps).domain, bidder, notAfter);
      return { ticket: { bidder: getAddress(bidder) as Address, notAfter: Number(ticket.notAfter), signature: ticket.signature } };
    },

    // PROTOCOL §4 v2: the certifier checks the opening (slot open, level in range, in meter mode the meter's words),
    // stores it with the pair before it signs; a refusal keeps its named error for the reply (services.ts).
    certifyBid: async ({ permanentId, bidder }) => {
      const key = toAddress(bidder);
      const pending = state.certifyRequests.get(key);
      if (pending === undefined || pending.request.meterId !== permanentId) throw new DsoNotReadyError({ reason: "certifyRequest", value: bidder });
      const { certifier, params } = requireSlotMarket(deps);
      try {
        const certified = await certifier.certify(certifyRequestOf(pending.request, params), nowSeconds(deps));
        state.certifyRequests.delete(key);
        return { outcome: "certified", certificate: JSON.stringify(certifyReplyOf(certified)) };
      } catch (error) {
        if (error instanceof CertifiedBidConflictError) {
          state.certifyRequests.delete(key);
          return { outcome: "conflict" };
        }
        if (error instanceof CertificationError) {
          state.certifyRequests.set(key, { ...pending, refusal: error });
          return { outcome: "refused", reason: error.kind };
        }
        throw error;
      }
    },
  };
}

/** What the enrolment reply seals for the meter: version 1's msk, or version 2's epoch keys (meter mode only). */
function enrolmentKeys(deps: DsoDeps): MskPayload | EpochKeysPayload {
  if (deps.slotMarket === null) return { type: "msk", marketId: deps.marketId, msk: hexlify(encodeMsk(requireMsk(deps))) as Hex };
  const { slots, vault, calendar } = deps.slotMarket;
  const epochs = slots.encryptAt === "meter" ? epochsToPrepare(nowSeconds(deps), calendar) : [];
  return {
    type: "epoch.keys",
    marketId: deps.marketId,
    keys: epochs.map((epoch) => {
      const key = vault.prepare(epoch);
      return { epoch, msk: hexlify(encodeMsk(key.msk)) as Hex, tokenKey: hexlify(key.tokenKey) as Hex };
    }),
  };
}
