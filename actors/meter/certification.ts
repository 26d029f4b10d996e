// A meter's certified bid (PROTOCOL §4 v2): the opening, signed by the long-term key, sealed to the DSO by the bid's
// one-time key on `dso.certify`; back comes the ciphertext (made by the DSO, or checked against the meter's in meter
// mode) and the slot ticket. Not used by the meter's bid session yet (docs/meter.md "Version 2").
import type { NatsConnection } from "@nats-io/transport-node";
import { getAddress, hexlify } from "ethers";
import { ciphertextFromWords, ciphertextWords, type CertifiedBid } from "../../contracts/client/v2/slotMarket.ts";
import type { BlockCiphertext } from "../../protocol/encoding/blockBid.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import type { SlotOpening } from "../../protocol/encoding/certify.ts";
import { sideOfCode } from "../../protocol/domain.ts";
import { computeSlotCommitment } from "../../protocol/commitment.ts";
import { ciphertextRoot } from "../../protocol/encoding/ciphertextRoot.ts";
import { sameHex } from "../../protocol/base/hex.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import type { CertifyRequest } from "../../protocol/wire/schemas.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";
import type { RequestOptions } from "../nats/rpc.ts";
import type { SigningWallet } from "../secure/keys.ts";
import { callSealed, type SealingWallet } from "../secure/sealedRpc.ts";
import { signMessageFields } from "../secure/signed.ts";
import { UnexpectedReplyError } from "./errors.ts";

export type CertifyOptions = {
  meterId: string;
  meterKey: SigningWallet;
  /** The bid's one-time key: the ticket is for its address, and it seals the request. */
  oneTimeKey: SealingWallet;
  dsoPublicKey: string;
  opening: SlotOpening;
  notAfter: number;
  params: BlockParams;
  /** Meter mode: the meter's own encryption of the opening under the epoch key the DSO sent. */
  meterCiphertext?: BlockCiphertext;
};

/** The certified bid, ready for the gateway; throws `RemoteError` with the DSO's named refusal. */
export async function requestCertifiedBid(nc: NatsConnection, subjects: MarketSubjects, options: CertifyOptions, request: RequestOptions = {}): Promise<CertifiedBid> {
  const bidder = getAddress(options.oneTimeKey.address) as `0x${string}`;
  const { opening } = options;
  const signed = signMessageFields<CertifyRequest>(
    {
      type: "certify.request",
      meterId: options.meterId,
      bidder,
      opening: { side: opening.side, slot: opening.slot, priceLevel: opening.priceLevel, quantityWh: opening.quantityWh, salt: opening.salt, seed: hexlify(opening.seed) as `0x${string}` },
      notAfter: options.notAfter,
      ...(options.meterCiphertext === undefined ? {} : { ciphertext: ciphertextWords(options.meterCiphertext).map(String) }),
    },
    options.meterKey,
    subjects.dso.certify,
  );
  const reply = await callSealed(nc, subjects, endpoints.certify, signed, { wallet: options.oneTimeKey, recipientPublicKey: options.dsoPublicKey }, request);
  if (getAddress(reply.bidder) !== bidder || reply.slot !== opening.slot || reply.side !== opening.side) throw new UnexpectedReplyError({ certifiedFor: { bidder: reply.bidder, slot: reply.slot, side: reply.side } });
  // The bid it will place is its own: the commitment of its opening, a root that is the ciphertext's, and in meter
  // mode its own words.
  const ciphertext = ciphertextFromWords(reply.ciphertext.map(BigInt), options.params);
  const commitment = computeSlotCommitment({ bidder, side: opening.side, slot: opening.slot, priceLevel: opening.priceLevel, quantityWh: opening.quantityWh, salt: opening.salt });
  const ownWords = options.meterCiphertext === undefined ? undefined : ciphertextWords(options.meterCiphertext).map(String);
  if (!sameHex(reply.commitment, commitment) || !sameHex(reply.ciphertextRoot, ciphertextRoot(ciphertext)) || (ownWords !== undefined && ownWords.join(",") !== reply.ciphertext.join(",")))
    throw new UnexpectedReplyError({ certifiedFor: { bidder: reply.bidder, slot: reply.slot, side: reply.side } });
  return {
    bidder,
    side: sideOfCode(reply.side),
    slot: reply.slot,
    notAfter: reply.notAfter,
    commitment: reply.commitment,
    ciphertext,
    ticketSignature: reply.ticketSignature,
  };
}
