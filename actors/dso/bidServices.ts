// The DSO's version 2 bid services over NATS (PROTOCOL §4 v2, §5 v2, §6): certified bids on `dso.certify` (sealed
// request by the bid's one-time key, signed inside by the meter's long-term key; sealed reply) and placement hints on
// `dso.hints` (the gateway's). The parts both compositions share: who may ask (`certifyRequestProblem`), the request
// as the certifier takes it and its reply, and the hints service. The DSO runtime routes `dso.certify` through its
// machine (services.ts); `serveBidServices` composes them without one, for tools and tests.
import type { NatsConnection } from "@nats-io/transport-node";
import { getBytes, hexlify } from "ethers";
import { ciphertextFromWords, ciphertextWords, slotHintToWire } from "../../contracts/client/v2/slotMarket.ts";
import type { BlockParams } from "../../protocol/encoding/blockTokens.ts";
import { codeOfSide } from "../../protocol/domain.ts";
import type { AuthenticationFailure } from "../../protocol/reasons.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import type { CertifyReply, CertifyRequest as CertifyRequestWire } from "../../protocol/wire/schemas.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";
import { sameAddress } from "../../protocol/base/hex.ts";
import type { DsoDatabase } from "../db/dsoDatabase.ts";
import { answer, type ServeOptions, type Service } from "../nats/rpc.ts";
import { answerSealed, type SealingWallet } from "../secure/sealedRpc.ts";
import { verifyMessageFields } from "../secure/signed.ts";
import type { Certifier, CertifiedTicket, CertifyRequest } from "./certifier.ts";
import { RequestRefusedError } from "./errors.ts";
import type { MeterRegistry } from "./registry.ts";
import { signatureProblem } from "./requestEffects.ts";

/**
 * Why a certify request (its seal by the bidder checked already) is not a provisioned, enrolled meter's (PROTOCOL §4:
 * signed by the registry's long-term key for `meterId`, fresh), or null when it is.
 */
export function certifyRequestProblem(
  request: CertifyRequestWire,
  context: { registry: MeterRegistry; db: DsoDatabase; subjects: MarketSubjects },
): AuthenticationFailure | null {
  const provisioned = context.registry.get(request.meterId);
  if (provisioned === undefined) return "unknownMeter";
  try {
    verifyMessageFields(request, context.subjects.dso.certify, { allowedSigners: provisioned.address });
  } catch (error) {
    return signatureProblem(error);
  }
  if (context.db.getMeter(request.meterId) === undefined) return "notEnrolled";
  return null;
}

/** The authenticated request as the certifier takes it (the seed as bytes, a meter's words as its ciphertext). */
export function certifyRequestOf(request: CertifyRequestWire, params: BlockParams): CertifyRequest {
  const { opening } = request;
  return {
    meterId: request.meterId,
    bidder: request.bidder,
    opening: { ...opening, seed: getBytes(opening.seed) },
    notAfter: request.notAfter,
    ...(request.ciphertext === undefined ? {} : { meterCiphertext: ciphertextFromWords(request.ciphertext.map(BigInt), params) }),
  };
}

/** The certified bid as the meter gets it back (sealed): all the contract's `Bid` needs besides its hint. */
export function certifyReplyOf(certified: CertifiedTicket): CertifyReply {
  return {
    type: "certify.reply",
    bidder: certified.bidder as `0x${string}`,
    side: codeOfSide(certified.side),
    slot: certified.slot,
    notAfter: certified.notAfter,
    commitment: certified.commitment as `0x${string}`,
    ciphertextRoot: certified.ciphertextRoot as `0x${string}`,
    ciphertext: ciphertextWords(certified.ciphertext).map(String),
    ticketSignature: hexlify(certified.ticketSignature) as `0x${string}`,
  };
}

/** `dso.hints`: the placement hints for a batch against the lists the gateway names (PROTOCOL §5 v2; the gateway's only). */
export function serveHints(nc: NatsConnection, subjects: MarketSubjects, certifier: Certifier, serve: ServeOptions = {}): Service {
  return answer(
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
    { concurrent: true, ...serve },
  );
}

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

/** Starts both services without a DSO machine (tools, tests); resolves once the server has their subscriptions. */
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
        const problem = certifyRequestProblem(request, { registry, db, subjects });
        if (problem !== null) refuse(problem);
        return certifyReplyOf(await certifier.certify(certifyRequestOf(request, params), options.now()));
      },
      { concurrent: true, ...options.serve },
    ),
    serveHints(nc, subjects, certifier, options.serve),
  ];
  await Promise.all(services.map((service) => service.ready));
  return services;
}
