// One way for every actor to connect: named connection, endless reconnects, optional per-meter reply-inbox prefix.
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { adapterDefaults } from "../config/common.ts";
import { ConnectionError, TimeoutError, connect, type NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { NatsUnavailableError } from "./errors.ts";

export type ConnectNatsOptions = {
  url: string;
  /** Shown by the server (`nats server report connections`): `gridveil-dso`, `gridveil-meter-<id>`. */
  name: string;
  /** `replyInboxPrefix(inboxId)` for meters, so their NATS account can be limited to their own replies. */
  inboxPrefix?: string;
  user?: string;
  pass?: string;
  /** Milliseconds one connection attempt may take. */
  timeoutMs?: number;
  /** How long to keep trying while the server is not there (default `adapterDefaults.natsFirstConnectWithinMs`). */
  firstConnectWithinMs?: number;
};

/** The `user`/`pass` of `ConnectNatsOptions` from a runtime's optional credentials (nothing when no user is set). */
export function natsCredentials(options: { natsUser?: string | undefined; natsPassword?: string | undefined }): { user?: string; pass?: string } {
  return options.natsUser ? { user: options.natsUser, pass: options.natsPassword ?? "" } : {};
}

export type NatsClients = { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager };

/**
 * Connects (reconnecting forever once connected: an actor outlives a NATS restart) and returns the core connection
 * with its JetStream client and manager. A server that is not there yet is tried again for
 * `firstConnectWithinMs` (a party started while NATS restarts must not die of it); a refused login fails at once.
 */
export async function connectNats(options: ConnectNatsOptions): Promise<NatsClients> {
  const giveUpAt = Date.now() + (options.firstConnectWithinMs ?? adapterDefaults.natsFirstConnectWithinMs);
  let nc: NatsConnection | undefined;
  while (nc === undefined) {
    try {
      nc = await connect({
        // One server, or a cluster's as a comma-separated list (any of them will do; the client fails over).
        servers: options.url.split(",").map((server) => server.trim()),
        name: options.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: adapterDefaults.natsReconnectWaitMs,
        timeout: options.timeoutMs ?? adapterDefaults.natsConnectTimeoutMs,
        ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
        ...(options.user ? { user: options.user, pass: options.pass } : {}),
      });
    } catch (cause) {
      const notThereYet = cause instanceof ConnectionError || cause instanceof TimeoutError;
      if (!notThereYet || Date.now() >= giveUpAt) throw new NatsUnavailableError({ url: options.url, cause });
      await sleep(adapterDefaults.natsReconnectWaitMs);
    }
  }
  return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) };
}
