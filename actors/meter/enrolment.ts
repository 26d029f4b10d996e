// Enrolment of a meter with the DSO (PROTOCOL §5 Setup): learn the DSO's key from the public market description, prove
// the permanent id with the long-term key in a request sealed to the DSO, receive the inbox id, the market description
// and msk in a reply sealed to the meter's key.
import type { NatsConnection } from "@nats-io/transport-node";
import { getAddress, getBytes, type Wallet } from "ethers";
import { decodeMsk } from "../../protocol/fhipe/binary.ts";
import { checkMarketDimension } from "../../protocol/encoding/bidCiphertext.ts";
import type { MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { EnrolmentRejectedError } from "./errors.ts";
import { call } from "../nats/rpc.ts";
import { callSealed } from "../secure/sealedRpc.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import { sealContexts } from "../../protocol/wire/sealContexts.ts";
import { mskPayloadSchema, type EnrolRequest } from "../../protocol/wire/schemas.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";
import { openAs } from "../secure/sealed.ts";
import { addressOfPublicKey, identityOf } from "../secure/keys.ts";
import { signMessageFields } from "../secure/signed.ts";
import { type Address, type Hex } from "../../protocol/base/hex.ts";
import { type MarketDescription } from "../../protocol/domain.ts";
import { blockParams } from "../../protocol/encoding/blockTokens.ts";
import { openEpochKeys, type MeterEpochKey } from "./epochKeys.ts";

export type Enrolment = {
  inboxId: string;
  market: MarketDescription;
  dso: { address: Address; publicKey: Hex };
  /** Version 1's master key; null in a version 2 market (the DSO certifies bids under its epoch keys). */
  msk: MasterSecretKey | null;
  /** Version 2 in meter mode: the keys of the epochs that take bids now (empty otherwise). */
  epochKeys: MeterEpochKey[];
};

export type EnrolOptions = {
  nc: NatsConnection;
  subjects: MarketSubjects;
  meterId: string;
  name: string;
  /** The meter's long-term key (its address is what the DSO's registry holds for `meterId`). */
  meterKey: Wallet;
  /**
   * The DSO's address, when the meter was provisioned with it. Without it the meter trusts the identity the
   * enrolment reply names (trust on first use): the reply still has to be signed by that key and decrypt with ours.
   */
  dsoAddress?: string | undefined;
  /**
   * The inbox id the meter was provisioned with (its NATS user can read nothing else): a reply naming another one is
   * refused, since the DSO would address the meter where it cannot listen.
   */
  expectedInboxId?: string | undefined;
  timeoutMs?: number;
  /** Decodes the sealed master key's bytes (a runtime may share one decoded key between meters of one market). */
  decodeMasterKey?: (mskHex: Hex) => MasterSecretKey;
};

/** One enrolment attempt; throws on any refusal or inconsistency (the meter machine retries with backoff). */
export async function enrol(options: EnrolOptions): Promise<Enrolment> {
  const { subjects, meterId, meterKey } = options;
  const unsigned: Omit<EnrolRequest, "auth"> = {
    type: "enrol.request",
    meterId,
    name: options.name,
    publicKey: identityOf(meterKey).publicKey,
  };
  const signed = signMessageFields<EnrolRequest>(unsigned, meterKey, subjects.dso.enrol);
  const timeout = options.timeoutMs ? { timeoutMs: options.timeoutMs } : {};
  // The DSO's key, to seal the request to: from the public description, checked against the provisioned address.
  const info = await call(options.nc, subjects, endpoints.marketInfo, { type: "market.info.request" }, timeout);
  if (addressOfPublicKey(info.dso.publicKey) !== getAddress(info.dso.address)) {
    throw new EnrolmentRejectedError({ reason: "keyNotOfAddress", address: info.dso.address });
  }
  if (options.dsoAddress && getAddress(options.dsoAddress) !== getAddress(info.dso.address)) {
    throw new EnrolmentRejectedError({ reason: "otherDso", expected: options.dsoAddress, got: info.dso.address });
  }
  const reply = await callSealed(options.nc, subjects, endpoints.enrol, signed, { wallet: meterKey, recipientPublicKey: info.dso.publicKey }, timeout);
  if (reply.meterId !== meterId) {
    throw new EnrolmentRejectedError({ reason: "otherMeter", meterId: reply.meterId });
  }
  if (options.expectedInboxId !== undefined && reply.inboxId !== options.expectedInboxId) {
    throw new EnrolmentRejectedError({ reason: "otherInbox", provisioned: options.expectedInboxId, assigned: reply.inboxId });
  }
  if (reply.market.marketId !== subjects.marketId) {
    throw new EnrolmentRejectedError({ reason: "otherMarket", marketId: reply.market.marketId });
  }
  // The reply was sealed by the key we sealed to; it must name that same DSO.
  if (getAddress(reply.dso.address) !== getAddress(info.dso.address)) {
    throw new EnrolmentRejectedError({ reason: "otherDso", expected: info.dso.address, got: reply.dso.address });
  }
  if (reply.market.slots !== undefined) {
    // Version 2: no msk for the meter; the dimension is the block encoding's (PROTOCOL §3.2).
    const dim = blockParams(reply.market.priceLevels.count, reply.market.slots.width).dim;
    if (reply.market.fhipe.dimension !== dim) {
      throw new EnrolmentRejectedError({ reason: "dimensionNotLevels", dimension: reply.market.fhipe.dimension, levels: reply.market.priceLevels.count });
    }
    const epochKeys = reply.market.slots.encryptAt === "meter" ? openEpochKeys(reply, meterKey, subjects) : [];
    return { inboxId: reply.inboxId, market: reply.market, dso: { ...reply.dso }, msk: null, epochKeys };
  }
  const payload = openAs(
    mskPayloadSchema,
    reply.sealedMsk,
    meterKey.privateKey,
    reply.dso.address,
    sealContexts.enrolment(subjects),
  );
  if (payload.marketId !== subjects.marketId) {
    throw new EnrolmentRejectedError({ reason: "mskForOtherMarket", marketId: payload.marketId });
  }
  const msk = options.decodeMasterKey ? options.decodeMasterKey(payload.msk) : decodeMsk(getBytes(payload.msk));
  const levels = reply.market.priceLevels.count;
  if (reply.market.fhipe.dimension !== levels + 1) {
    throw new EnrolmentRejectedError({ reason: "dimensionNotLevels", dimension: reply.market.fhipe.dimension, levels });
  }
  checkMarketDimension(msk, levels);
  return { inboxId: reply.inboxId, market: reply.market, dso: { ...reply.dso }, msk, epochKeys: [] };
}
