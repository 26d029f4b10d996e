// Sealed request/reply and sealed trade messages over NATS (PROTOCOL §6): the endpoint and channel tables
// (protocol/wire/endpoints.ts) name the payloads; here they are sealed to their recipient, signed by their sender,
// validated after opening. An observer of the wire sees subjects, trade ids and envelopes only.
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { errorReplySchema, sealedTradeMessageSchema, type SealedTradeMessage } from "../../protocol/wire/schemas.ts";
import type { InboxChannel, SealedEndpoint } from "../../protocol/wire/endpoints.ts";
import { sealContexts } from "../../protocol/wire/sealContexts.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";
import { toHex, type Address } from "../../protocol/base/hex.ts";
import { errorReplyFor, validated } from "../nats/codec.ts";
import { RemoteError } from "../nats/errors.ts";
import { publish, reportFailure, request, serve, subscribe, type MessageHandler, type RequestOptions, type Service, type ServeOptions } from "../nats/rpc.ts";
import { MisaddressedSealedMessageError } from "./errors.ts";
import { addressOfPublicKey, type SigningWallet } from "./keys.ts";
import { openSealed, payloadAs, seal, type JsonValue } from "./sealed.ts";

/** A wallet that can seal (sign) and open (decrypt): an ethers `Wallet`. */
export type SealingWallet = SigningWallet & { readonly privateKey: string };

/** Who seals a request and to whom. */
export type SealedCallKeys = { wallet: SealingWallet; recipientPublicKey: string };

/**
 * Sends a sealed request and opens the sealed reply. An error the answering party seals back (or answers in clear,
 * when it could not open the request at all) throws `RemoteError`.
 */
export async function callSealed<Q extends z.ZodType, R extends z.ZodType>(
  nc: NatsConnection,
  subjects: MarketSubjects,
  endpoint: SealedEndpoint<Q, R>,
  payload: z.input<Q>,
  keys: SealedCallKeys,
  options: RequestOptions = {},
): Promise<z.output<R>> {
  const subject = endpoint.subject(subjects);
  const sealed = seal({
    payload: validated(endpoint.payload.request, payload) as JsonValue,
    senderWallet: keys.wallet,
    recipientPublicKey: keys.recipientPublicKey,
    context: sealContexts.request(subject),
  });
  const reply = await request(nc, subject, endpoint.request, { type: "sealed.request", sealed }, endpoint.reply, options);
  const opened = openSealed(reply.sealed, keys.wallet.privateKey, addressOfPublicKey(keys.recipientPublicKey), sealContexts.reply(subject, sealed.ciphertext));
  const error = errorReplySchema.safeParse(opened.payload);
  if (error.success) throw new RemoteError({ subject, reply: error.data });
  return payloadAs(endpoint.payload.reply, opened.payload);
}

/** What an answering handler learns besides the payload: who sealed the request. */
export type SealedRequestContext = { sender: Address; msg: Msg };

/**
 * Answers a sealed endpoint with `wallet`: opens each request, runs the handler, and seals its reply — or the error
 * reply, also for a payload that does not fit its schema — back to the requester's key, bound to that request. Any
 * sender may seal: the handler checks `sender` against the payload (its bidder, its long-term key). A request that
 * cannot be opened is answered in clear with the (secret-free) reason.
 */
export function answerSealed<Q extends z.ZodType, R extends z.ZodType>(
  nc: NatsConnection,
  subjects: MarketSubjects,
  endpoint: SealedEndpoint<Q, R>,
  wallet: SealingWallet,
  handler: (payload: z.output<Q>, context: SealedRequestContext) => Promise<z.input<R>> | z.input<R>,
  options: ServeOptions = {},
): Service {
  const subject = endpoint.subject(subjects);
  return serve(
    nc,
    subject,
    endpoint.request,
    endpoint.reply,
    async (message, msg) => {
      // Not openable: answered in clear, with only the seal's failure (nothing of the request is known).
      const opened = openSealed(message.sealed, wallet.privateKey, "anyone", sealContexts.request(subject));
      let reply: JsonValue;
      try {
        const payload = payloadAs(endpoint.payload.request, opened.payload);
        reply = validated(endpoint.payload.reply, await handler(payload, { sender: opened.sender, msg })) as JsonValue;
      } catch (error) {
        reportFailure(error, msg, options);
        reply = errorReplyFor(error) as JsonValue;
      }
      return {
        type: "sealed.reply" as const,
        sealed: seal({ payload: reply, senderWallet: wallet, recipientPublicKey: opened.senderPublicKey, context: sealContexts.reply(subject, message.sealed.ciphertext) }),
      };
    },
    options,
  );
}

/** Seals a message about one trade for the party holding `recipientPublicKey`, bound to `subject` and the trade. */
export function sealTradeMessage(subject: string, tradeId: string, payload: JsonValue, keys: SealedCallKeys): SealedTradeMessage {
  const id = toHex(tradeId);
  return {
    type: "sealed.trade",
    tradeId: id,
    sealed: seal({ payload, senderWallet: keys.wallet, recipientPublicKey: keys.recipientPublicKey, context: sealContexts.trade(subject, id) }),
  };
}

/**
 * Opens a sealed trade message received on `subject` and validates its payload; the payload must name the trade the
 * message does (`tradeIdOf`). Returns the payload and its sender.
 */
export function openTradeMessage<S extends z.ZodType>(
  subject: string,
  message: SealedTradeMessage,
  schema: S,
  tradeIdOf: (payload: z.output<S>) => string,
  privateKey: string,
  allowedSenders: string | readonly string[] | "anyone",
): { payload: z.output<S>; sender: Address } {
  const opened = openSealed(message.sealed, privateKey, allowedSenders, sealContexts.trade(subject, message.tradeId));
  const payload = payloadAs(schema, opened.payload);
  if (toHex(tradeIdOf(payload)) !== toHex(message.tradeId)) throw new MisaddressedSealedMessageError({ subject, outside: message.tradeId, inside: tradeIdOf(payload) });
  return { payload, sender: opened.sender };
}

/** Sends a sealed notice to one meter's inbox (DSO → meter). */
export function notifySealed<S extends z.ZodType>(
  nc: NatsConnection,
  subjects: MarketSubjects,
  channel: InboxChannel<S>,
  inboxId: string,
  payload: z.input<S>,
  keys: SealedCallKeys,
): void {
  const checked = validated(channel.payload, payload);
  const subject = channel.subject(subjects, inboxId);
  publish(nc, subject, sealedTradeMessageSchema, sealTradeMessage(subject, channel.tradeIdOf(checked), checked as JsonValue, keys));
}

/** Listens on one channel of a meter's inbox: only notices sealed to `privateKey` by `dsoAddress` reach the handler. */
export function listenSealed<S extends z.ZodType>(
  nc: NatsConnection,
  subjects: MarketSubjects,
  channel: InboxChannel<S>,
  inboxId: string,
  keys: { privateKey: string; dsoAddress: string },
  handler: MessageHandler<z.output<S>, void>,
  options: ServeOptions = {},
): Service {
  const subject = channel.subject(subjects, inboxId);
  return subscribe(
    nc,
    subject,
    sealedTradeMessageSchema,
    (message, msg) => handler(openTradeMessage(subject, message, channel.payload, channel.tradeIdOf, keys.privateKey, keys.dsoAddress).payload, msg),
    options,
  );
}
