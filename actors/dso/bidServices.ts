// The DSO's version 2 bid services over NATS (PROTOCOL §4 v2, §5 v2, §6): certified bids on `dso.certify` (sealed
// request by the bid's one-time key, signed inside by the meter's long-term key; sealed reply) and placement hints on
// `dso.hints` (the gateway's). Not started by the DSO runtime yet (docs/dso.md "Version 2").
import type { NatsConnection } from "@nats-io/transport-node";
import { getBytes, hexlify } from "ethers";
import { ciphertextFromWords, ciphertextWords, slotHintToWire } from "../../contracts/client/v2/slotMarket.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import { codeOfSide } from "../../protocol/domain.ts";
import type { AuthenticationFailure } from "../../protocol/reasons.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";
import { sameAddress } from "../../protocol/base/hex.ts";
import type { DsoDatabase } from "../db/dsoDatabase.ts";
import { answer, type ServeOptions, type Service } from "../nats/rpc.ts";
import { answerSealed, type SealingWallet } from "../secure/sealedRpc.ts";
import { verifyMessageFields } from "../secure/signed.ts";
import type { Certifier } from "./certifier.ts";
import { RequestRefusedError } from "./errors.ts";
import type { MeterRegistry } from "./registry.ts";
import { signatureProblem } from "./requestEffects.ts";

export type BidServicesOptions = {
  nc: NatsConnection;
  subjects: MarketSubjects;
  wallet: SealingWallet;
  certifier: Certifier;
  registry: MeterRegistry;
  db: DsoDatabase;
  params: BlockParams;
  /** Unix seconds. */
  now: () => number;
  serve?: ServeOptions;
};

/** Starts both services; resolves once the server has their subscriptions. */
export async function serveBidServices(options: BidServicesOptions): Promise<Service[]> {
  const { nc, subjects, certifier, registry, db, params } = options;
  const refuse = (detail: AuthenticationFailure): never => {
    throw new RequestRefusedError({ reason: "unauthenticated", detail });
  };
  const services = [
    answerSealed(
      nc,
      subjects,
      endpoints.certify,
      options.wallet,
      async (request, { sender }) => {
        // Sealed by the one-time key it asks for; the long-term key signs inside (PROTOCOL §4).
        if (!sameAddress(sender, request.bidder)) refuse("notSealedByBidder");
        const provisioned = registry.get(request.meterId) ?? refuse("unknownMeter");
        try {
          verifyMessageFields(request, subjects.dso.certify, { allowedSigners: provisioned.address });
        } catch (error) {
          refuse(signatureProblem(error));
        }
        if (db.getMeter(request.meterId) === undefined) refuse("notEnrolled");
        const { opening } = request;
        const certified = await certifier.certify(
          {
            meterId: request.meterId,
            bidder: request.bidder,
            opening: { ...opening, seed: getBytes(opening.seed) },
            notAfter: request.notAfter,
            ...(request.ciphertext === undefined ? {} : { meterCiphertext: ciphertextFromWords(request.ciphertext.map(BigInt), params) }),
          },
          options.now(),
        );
        return {
          type: "certify.reply" as const,
          bidder: request.bidder,
          side: codeOfSide(certified.side),
          slot: certified.slot,
          notAfter: certified.notAfter,
          commitment: certified.commitment as `0x${string}`,
          ciphertextRoot: certified.ciphertextRoot as `0x${string}`,
          ciphertext: ciphertextWords(certified.ciphertext).map(String),
          ticketSignature: hexlify(certified.ticketSignature) as `0x${string}`,
        };
      },
      { concurrent: true, ...options.serve },
    ),
    answer(
      nc,
      subjects,
      endpoints.hints,
      (request) => {
        const { hints, lists } = certifier.hintsFor(request.slot, request.lists, request.bidders, request.now);
        return {
          type: "hints.reply" as const,
          hints: hints.map((entry) => ({ bidder: entry.bidder, hint: slotHintToWire(entry.hint), outcome: entry.outcome })),
          lists: { buy: [...lists.buy], sell: [...lists.sell] },
        };
      },
      { concurrent: true, ...options.serve },
    ),
  ];
  await Promise.all(services.map((service) => service.ready));
  return services;
}
