// Every NATS subject and JetStream stream name of a market, built from the market id in one place (PROTOCOL §6).
import { InvalidSubjectTokenError } from "../errors.ts";

/**
 * Layout: `gridveil.<market>.<party>.<verb>`.
 *
 * Meters are addressed through an opaque **inbox id** (`gridveil.<market>.meter.<inboxId>.<verb>`) that the DSO
 * assigns at enrolment. It is neither the permanent id nor a one-time id, so the NATS account of a meter can be
 * limited statically to its own `meter.<inboxId>.>` subtree (see `natsPermissions`) and a subscription reveals
 * nothing about which bids belong to whom. One-time ids (bidder addresses) are valid tokens too, for tests.
 */
export const SUBJECT_ROOT = "gridveil";

/** One NATS token: lower-case letters, digits, `_` and `-` (no dots, no wildcards, no spaces). */
const TOKEN = /^[a-z0-9_-]{1,64}$/;
/** Ethereum addresses are accepted as meter tokens in lower case. */
const ADDRESS_TOKEN = /^0x[0-9a-f]{40}$/;

export type MarketId = string;
export type Party = "dso" | "gateway" | "meter";

function token(kind: string, value: string): string {
  if (!TOKEN.test(value)) {
    throw new InvalidSubjectTokenError({ kind, value });
  }
  return value;
}

/** Inbox ids are opaque tokens; Ethereum addresses (one-time ids) are lower-cased so both spellings agree. */
export function meterToken(inboxOrBidder: string): string {
  const lower = inboxOrBidder.toLowerCase();
  if (ADDRESS_TOKEN.test(lower)) return lower;
  return token("meter inbox id", inboxOrBidder);
}

/** Validates a market id (one subject token). */
export function marketToken(market: MarketId): string {
  return token("market id", market);
}

export type MarketSubjects = ReturnType<typeof marketSubjects>;

/** All subjects of one market. Request/reply subjects are noted; the rest are published (JetStream where noted). */
export function marketSubjects(market: MarketId) {
  const base = `${SUBJECT_ROOT}.${marketToken(market)}`;
  const meterBase = (inbox: string): string => `${base}.meter.${meterToken(inbox)}`;
  return {
    marketId: market,
    /** `gridveil.<market>.>`: everything of this market. */
    all: `${base}.>`,
    dso: {
      /** request/reply: a meter proves its permanent id and receives pp, sealed msk, market description. */
      enrol: `${base}.dso.enrol`,
      /** request/reply, public: the market description (contract, chain, price levels); the gateway's start-up. */
      market: `${base}.dso.market`,
      /** request/reply: authenticated ticket for a one-time id. */
      ticket: `${base}.dso.ticket`,
      /** request/reply (v2), sealed: a certified bid (the opening in, the ciphertext and the slot ticket out). */
      certify: `${base}.dso.certify`,
      /** request/reply (v2), the gateway's: placement hints for a batch of certified bids. */
      hints: `${base}.dso.hints`,
      /** request/reply: a matched meter's sealed opening. */
      opening: `${base}.dso.opening`,
      /** request/reply: a meter reports a counterpart opening that does not verify. */
      dispute: `${base}.dso.dispute`,
      /** JetStream (settlements stream): ledger postings of a settled trade. DSO-internal, never for meters. */
      settled: `${base}.dso.settled`,
      state: `${base}.dso.state`,
    },
    gateway: {
      /** JetStream (bids stream), deduplicated by `Nats-Msg-Id` = bidder. */
      submit: `${base}.gateway.submit`,
      /** request/reply: a bidder cancels its open bid (one-time key signature). */
      cancel: `${base}.gateway.cancel`,
      state: `${base}.gateway.state`,
    },
    market: {
      /** JetStream (matches stream): `Matched(buyId, sellId)` seen on chain. */
      matched: `${base}.market.matched`,
      /** JetStream (matches stream): a bid expired unmatched. */
      expired: `${base}.market.expired`,
      /** JetStream (matches stream): a bid was placed on chain (or was already placed). */
      placed: `${base}.market.placed`,
      /** JetStream (matches stream): the chain rejected a bid (named custom error). */
      rejected: `${base}.market.rejected`,
      /** JetStream (matches stream): a bid was cancelled on chain. */
      cancelled: `${base}.market.cancelled`,
      /** Wildcard over the market events above. */
      events: `${base}.market.*`,
    },
    meter: {
      /** JetStream (readings stream): a meter's signed measurement for a trade. */
      reading: `${base}.meter.reading`,
      /** DSO → one meter: sealed trade terms with the counterpart's opening. */
      trade: (inbox: string): string => `${meterBase(inbox)}.trade`,
      /** DSO → one meter: its match was voided (counterpart did not open, or an opening failed). */
      voided: (inbox: string): string => `${meterBase(inbox)}.voided`,
      /** DSO → one meter: a party disputed its trade; it is not settled. */
      disputed: (inbox: string): string => `${meterBase(inbox)}.disputed`,
      /** DSO → one meter: its trade was settled (its own ledger lines only). */
      settled: (inbox: string): string => `${meterBase(inbox)}.settled`,
      /** A meter's state snapshots. */
      state: (inbox: string): string => `${meterBase(inbox)}.state`,
      /** Everything addressed to one meter. */
      inbox: (inbox: string): string => `${meterBase(inbox)}.>`,
    },
  } as const;
}

export type StreamNames = {
  bids: string;
  matches: string;
  readings: string;
  settlements: string;
};

/** JetStream stream names (upper case, no dots) of a market. */
export function streamNames(market: MarketId): StreamNames {
  const prefix = `GRIDVEIL_${marketToken(market).toUpperCase().replace(/-/g, "_")}`;
  return {
    bids: `${prefix}_BIDS`,
    matches: `${prefix}_MATCHES`,
    readings: `${prefix}_READINGS`,
    settlements: `${prefix}_SETTLEMENTS`,
  };
}

/** Subjects each stream captures. */
export function streamSubjects(market: MarketId): Record<keyof StreamNames, string[]> {
  const s = marketSubjects(market);
  return {
    bids: [s.gateway.submit],
    matches: [s.market.events],
    readings: [s.meter.reading],
    settlements: [s.dso.settled],
  };
}

export type SubjectPermissions = {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
};

/**
 * Reply-inbox prefix of a meter's connection (nats.js `connect({ inboxPrefix })`): with it, a meter may subscribe to
 * its own replies only, instead of `_INBOX.>` where it could read replies meant for other meters.
 */
export function replyInboxPrefix(inboxId: string): string {
  return `_INBOX.${meterToken(inboxId)}`;
}

/**
 * Reply-inbox prefix of the gateway's connections: outside `_INBOX.>`, so the gateway's account can subscribe to its
 * own replies (market description, JetStream API) without being able to read the meters' replies (tickets, openings).
 */
export const GATEWAY_INBOX_PREFIX = "_INBOX_GW";

/** Queue group of the gateway's request services: with several gateways, one of them relays each cancel. */
export const GATEWAY_QUEUE_GROUP = "gridveil-gateway";

/** Durable consumer names the party runtimes use (one per consuming party and stream). */
export const DURABLES = {
  gatewayBids: "gateway-bids",
  dsoMatches: "dso-matches",
  dsoReadings: "dso-readings",
  billingSettlements: "billing-settlements",
} as const;

/**
 * A meter's own durable consumer of the market events on the matches stream (PROTOCOL §6). The DSO, which owns the
 * streams, creates it when it enrols the meter; the meter may only pull from it and ack, never create, alter or read
 * any other consumer.
 */
export function meterEventsDurable(inboxId: string): string {
  return `meter-${token("inbox id", inboxId)}`;
}

/**
 * NATS account permissions per role, for a server configuration (`authorization.users[].permissions`). A meter may
 * only read its own inbox subtree and the public market events; it can never subscribe to requests of others.
 * `_INBOX.>` is needed for request/reply. The gateway gets replies under its own prefix (`GATEWAY_INBOX_PREFIX`) and
 * may only publish to `_INBOX.>` (to answer cancels), never read it; the DSO answers both prefixes.
 *
 * JetStream, least privilege: the DSO owns the streams and every consumer on them (`$JS.API.>`). A meter may read
 * the state of, pull from and ack only its own durable (`meterEventsDurable`); the gateway only its bids durable,
 * which it also creates and tunes (its `--ack-wait`). Neither can create, update, delete or read any other
 * consumer, read stream messages directly (`STREAM.MSG.GET`, `DIRECT.GET`), or list or change streams.
 */
export function natsPermissions(market: MarketId, role: "dso" | "gateway"): SubjectPermissions;
export function natsPermissions(market: MarketId, role: "meter", inboxId: string): SubjectPermissions;
export function natsPermissions(market: MarketId, role: Party, inboxId?: string): SubjectPermissions {
  const s = marketSubjects(market);
  const streams = streamNames(market);
  // The JetStream API subjects a client needs to bind to, pull from and ack one durable consumer of one stream.
  const pull = (stream: string, durable: string): string[] => [
    `$JS.API.CONSUMER.INFO.${stream}.${durable}`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`,
    `$JS.ACK.${stream}.${durable}.>`,
  ];
  // …and to create or update it (nats-server 2.9's create subjects name the consumer, then its filter subject).
  const own = (stream: string, durable: string): string[] => [
    `$JS.API.CONSUMER.CREATE.${stream}.${durable}`,
    `$JS.API.CONSUMER.CREATE.${stream}.${durable}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${durable}`,
  ];
  switch (role) {
    case "dso":
      return {
        publish: { allow: [`${SUBJECT_ROOT}.${market}.>`, "$JS.API.>", "$JS.ACK.>", "_INBOX.>", `${GATEWAY_INBOX_PREFIX}.>`] },
        subscribe: { allow: [`${SUBJECT_ROOT}.${market}.>`, "_INBOX.>"] },
      };
    case "gateway":
      return {
        publish: {
          allow: [
            s.dso.market,
            s.dso.hints,
            s.market.events,
            s.gateway.state,
            "$JS.API.INFO",
            `$JS.API.STREAM.INFO.${streams.bids}`,
            `$JS.API.STREAM.INFO.${streams.matches}`,
            ...pull(streams.bids, DURABLES.gatewayBids),
            ...own(streams.bids, DURABLES.gatewayBids),
            "_INBOX.>",
          ],
        },
        subscribe: { allow: [s.gateway.cancel, `${GATEWAY_INBOX_PREFIX}.>`] },
      };
    case "meter": {
      if (inboxId === undefined) throw new InvalidSubjectTokenError({ kind: "inbox id" });
      return {
        publish: {
          allow: [
            s.dso.market,
            s.dso.enrol,
            s.dso.ticket,
            s.dso.certify,
            s.dso.opening,
            s.dso.dispute,
            s.gateway.submit,
            s.gateway.cancel,
            s.meter.reading,
            s.meter.state(inboxId),
            "$JS.API.INFO",
            ...pull(streams.matches, meterEventsDurable(inboxId)),
          ],
        },
        subscribe: { allow: [s.meter.inbox(inboxId), s.market.events, `${replyInboxPrefix(inboxId)}.>`] },
      };
    }
  }
}
