// A meter's epoch keys in meter mode (PROTOCOL §4 v2 `encryptAt: meter`, §5 setup: "in meter mode only, each epoch's
// msk_e sealed to it"): the DSO seals them into the enrolment reply, in place of version 1's msk, for the epochs that
// take bids (the current and the next); a meter enrols again for the key of an epoch it has none for. In DSO mode the
// list is empty: a meter holds no key there.
import type { NatsConnection } from "@nats-io/transport-node";
import { getAddress, getBytes } from "ethers";
import { decodeMsk } from "../../protocol/fhipe/binary.ts";
import type { MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import { sealContexts } from "../../protocol/wire/sealContexts.ts";
import { epochKeysPayloadSchema, type EnrolReply, type EnrolRequest } from "../../protocol/wire/schemas.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";
import { call, type RequestOptions } from "../nats/rpc.ts";
import { openAs } from "../secure/sealed.ts";
import { callSealed, type SealingWallet } from "../secure/sealedRpc.ts";
import { identityOf } from "../secure/keys.ts";
import { signMessageFields } from "../secure/signed.ts";
import { EnrolmentRejectedError } from "./errors.ts";

/** One epoch's key as the meter encrypts with it (`encryptBlockBid(msk, tokenKey, params, level, seed)`). */
export type MeterEpochKey = { epoch: number; msk: MasterSecretKey; tokenKey: Uint8Array };

/**
 * The epoch keys sealed in an enrolment reply of a version 2 market (the reply's `sealedMsk`, an `epoch.keys`
 * payload): opened with the meter's long-term key, sealed by the DSO the reply names. Throws `SecureMessageError` when
 * the seal is not that, `EnrolmentRejectedError` for keys of another market.
 */
export function openEpochKeys(reply: Pick<EnrolReply, "sealedMsk" | "dso">, meterKey: Pick<SealingWallet, "privateKey">, subjects: MarketSubjects): MeterEpochKey[] {
  const payload = openAs(epochKeysPayloadSchema, reply.sealedMsk, meterKey.privateKey, reply.dso.address, sealContexts.enrolment(subjects));
  if (payload.marketId !== subjects.marketId) throw new EnrolmentRejectedError({ reason: "mskForOtherMarket", marketId: payload.marketId });
  return payload.keys.map((key) => ({ epoch: key.epoch, msk: decodeMsk(getBytes(key.msk)), tokenKey: getBytes(key.tokenKey) }));
}

export type RequestEpochKeysOptions = {
  meterId: string;
  name: string;
  /** The meter's long-term key: it signs the enrolment and the keys are sealed to it. */
  meterKey: SealingWallet;
  /** The DSO the meter enrolled with (its address): a reply from another is refused. */
  dsoAddress: string;
  request?: RequestOptions;
};

/**
 * Asks the DSO for the keys of the epochs that take bids now: the meter's sealed enrolment again (idempotent at the
 * DSO: same inbox, same consumer), its reply's keys opened. What a meter runtime in meter mode calls at enrolment and
 * whenever it bids for a slot of an epoch it holds no key for.
 */
export async function requestEpochKeys(nc: NatsConnection, subjects: MarketSubjects, options: RequestEpochKeysOptions): Promise<MeterEpochKey[]> {
  const signed = signMessageFields<EnrolRequest>(
    { type: "enrol.request", meterId: options.meterId, name: options.name, publicKey: identityOf(options.meterKey).publicKey },
    options.meterKey,
    subjects.dso.enrol,
  );
  const info = await call(nc, subjects, endpoints.marketInfo, { type: "market.info.request" }, options.request);
  if (getAddress(info.dso.address) !== getAddress(options.dsoAddress)) throw new EnrolmentRejectedError({ reason: "otherDso", expected: options.dsoAddress, got: info.dso.address });
  const reply = await callSealed(nc, subjects, endpoints.enrol, signed, { wallet: options.meterKey, recipientPublicKey: info.dso.publicKey }, options.request);
  if (reply.meterId !== options.meterId) throw new EnrolmentRejectedError({ reason: "otherMeter", meterId: reply.meterId });
  if (getAddress(reply.dso.address) !== getAddress(options.dsoAddress)) throw new EnrolmentRejectedError({ reason: "otherDso", expected: options.dsoAddress, got: reply.dso.address });
  return openEpochKeys(reply, options.meterKey, subjects);
}
