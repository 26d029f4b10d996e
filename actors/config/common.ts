// Settings every party process shares (where it connects, which market, where it keeps its files), and the defaults
// of the adapters they all use (NATS requests and durable consumers, signed messages, state snapshots).
import { NATS_SCHEMES, RPC_SCHEMES, marketId, url, urlList } from "./parsers.ts";
import { setting } from "./settings.ts";

/** Defaults of the adapters every party uses. */
export const adapterDefaults = {
  /** A NATS request's wait for its reply (meters' requests to the DSO, tools). */
  requestTimeoutMs: 5_000,
  /** JetStream: how long a message id deduplicates (PROTOCOL §6: a bid is submitted many times, placed once). */
  duplicateWindowMs: 60 * 60 * 1000,
  /** JetStream: how long a delivery held by a dead consumer stays invisible before it is redelivered. */
  ackWaitMs: 30_000,
  /** JetStream: the first redelivery delay of a failed message (doubling per attempt). */
  nakDelayMs: 1_000,
  /** JetStream: messages per pull of a durable consumer. */
  pullBatch: 32,
  /** How long a private nats-server may take to start and greet, how often it is probed meanwhile, and how long it
   *  may take to exit on SIGTERM before it is killed. */
  natsStartTimeoutMs: 10_000,
  natsProbeIntervalMs: 25,
  natsStopGraceMs: 5_000,
  /** A NATS connection: how long the first connect may take, and the pause between reconnect attempts (forever). */
  natsConnectTimeoutMs: 5_000,
  natsReconnectWaitMs: 250,
  /**
   * A party that starts while the server is down (restarted with it, or a moment before it) keeps trying its first
   * connection this long, then gives up with a clear error; a refused login is final at once.
   */
  natsFirstConnectWithinMs: 30_000,
  /** JetStream: the longest redelivery delay, and how many deliveries a durable consumer may hold unacknowledged. */
  maxNakDelayMs: 30_000,
  maxAckPending: 1_000,
  /** A signed request older than this (or from the future by more) is a replay: refused (actors/secure/signed.ts). */
  signedMessageMaxAgeMs: 5 * 60 * 1000,
  /** State snapshots for `gridveil watch`: a heartbeat at least this often, and at most one per burst of transitions. */
  snapshotIntervalMs: 5_000,
  snapshotThrottleMs: 250,
  /** The Stately inspector bridge (`--inspect`, development only) and how long to wait for it. */
  inspectorUrl: "ws://127.0.0.1:8080",
  inspectorTimeoutMs: 2_000,
} as const;

/** Where a party process connects and which market it is part of. */
export const partyDefaults = {
  natsUrl: "nats://127.0.0.1:4222",
  rpcUrl: "http://127.0.0.1:8545",
  market: "m1",
} as const;

export const partySettings = {
  nats: setting({
    flag: "--nats <urls>",
    description: "NATS server, or a cluster's servers separated by commas",
    env: "NATS_URL",
    default: partyDefaults.natsUrl,
    parse: urlList("--nats", NATS_SCHEMES),
  }),
  natsUser: setting<string>({ flag: "--nats-user <name>", description: "NATS user (per-role users of infra/nats/nats.conf)", env: "NATS_USER" }),
  natsPassword: setting<string>({
    flag: "--nats-password <secret>",
    description: "NATS password (prefer NATS_PASSWORD: not in the process list)",
    env: "NATS_PASSWORD",
  }),
  market: setting({ flag: "--market <id>", description: "market id", env: "GRIDVEIL_MARKET", default: partyDefaults.market, parse: marketId }),
};

/** The chain endpoint; the meter only reads through it. */
export function rpcSetting(description = "Ethereum JSON-RPC endpoint") {
  return setting({ flag: "--rpc <url>", description, env: "GRIDVEIL_RPC_URL", default: partyDefaults.rpcUrl, parse: url("--rpc", RPC_SCHEMES) });
}

/** Where the party keeps its files (default `.gridveil/<market>/<directory>` under the working directory). */
export function dataDirSetting(description: string, directory: string) {
  return setting<string>({ flag: "--data-dir <dir>", description, env: "GRIDVEIL_DATA_DIR", defaultText: `.gridveil/<market>/${directory}` });
}

export const machineConfigSetting = setting<string>({
  flag: "--config <file>",
  description: "machine configuration (JSON, machines/config.ts)",
  env: "GRIDVEIL_CONFIG",
  defaultText: "the defaults of machines/config.ts",
});

export const inspectSetting = setting<string | true>({
  flag: "--inspect [url]",
  description: `send machine inspection events to a Stately inspector bridge (development only; default ${adapterDefaults.inspectorUrl})`,
});
