// The DSO's runtime configuration: every tunable and policy of its process with its flag, variable and default.
import { InvalidArgumentError } from "commander";
import { clearingRuleSchema, type ClearingRule } from "../../protocol/marketConfig.ts";
import { adapterDefaults, dataDirSetting, inspectSetting, machineConfigSetting, partySettings, rpcSetting } from "./common.ts";
import { address, positiveInt, privateKey } from "./parsers.ts";
import { setting } from "./settings.ts";

export const dsoDefaults = {
  /**
   * How long a request handler waits for the machine's answer before replying `unavailable` (the meter retries).
   * Longer than a meter's own request timeout: a busy DSO still answers, the meter just asks again.
   */
  machineReplyTimeoutMs: 10_000,
  /** Key epochs (PROTOCOL §5 v2): one day of 15-minute slots per msk_e, kept a week after the epoch's last slot. */
  epochSlots: 96,
  epochKeyRetentionSeconds: 7 * 24 * 60 * 60,
  /** Resting bids whose ciphertexts the certifier keeps for hints' Merkle proofs (≈ 11 kB each at n = 1,024, w = 1). */
  certifiedCiphertextCache: 20_000,
  /** How long `stop()` waits for effects already running (a settlement being written, terms being sent). */
  stopGraceMs: 5_000,
  /**
   * Readings are durable and may be consumed long after they were signed (a DSO outage): a signed reading is taken
   * this long after it was measured. Other signed requests use `adapterDefaults.signedMessageMaxAgeMs`.
   */
  readingMaxAgeMs: 24 * 60 * 60 * 1000,
  /** An opening for a match the DSO has not recorded yet waits this long for it, asking every `unknownMatchPollMs`. */
  unknownMatchWaitMs: 2_000,
  unknownMatchPollMs: 50,
  /** How long a database writer waits for a lock held by another connection. */
  databaseBusyTimeoutMs: 5_000,
  snapshotIntervalMs: adapterDefaults.snapshotIntervalMs,
  /**
   * The DSO reads the market's Matched logs itself (read-only RPC) this often, from its own cursor, so every match on
   * chain becomes a trade even when its notice never arrives over NATS; at most `chainMaxBlockRange` blocks per read.
   */
  chainReconcileIntervalMs: 2_000,
  chainMaxBlockRange: 1_000,
} as const;

/** d = n + 1 ≤ 127 (one ciphertext must fit the contract's limits, docs/contract.md). */
export const MAX_CLI_LEVELS = 126;

function clearingRule(raw: string): ClearingRule {
  const parsed = clearingRuleSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidArgumentError(`--clearing-rule must be midpoint, seller or buyer, got "${raw}"`);
  return parsed.data;
}

export const dsoSettings = {
  ...partySettings,
  rpc: rpcSetting(),
  key: setting({ flag: "--key <hex>", description: "the DSO's private key (deploys, signs tickets)", env: "GRIDVEIL_DSO_KEY", parse: privateKey("--key") }),
  keyFile: setting<string>({ flag: "--key-file <file>", description: "file holding the DSO's private key", env: "GRIDVEIL_DSO_KEY_FILE" }),
  dataDir: dataDirSetting("database (dso.sqlite), master key (msk.bin) and span file", "dso"),
  contract: setting({
    flag: "--contract <address>",
    description: "attach to this market contract",
    env: "GRIDVEIL_CONTRACT",
    defaultText: "the recorded one, else deploy",
    parse: address("--contract"),
  }),
  registry: setting<string>({ flag: "--registry <file>", description: 'provisioned meters: JSON [{ "meterId", "address", "name" }]', env: "GRIDVEIL_REGISTRY" }),
  levels: setting({
    flag: "--levels <n>",
    description: "price levels n (d = n + 1)",
    env: "GRIDVEIL_LEVELS",
    defaultText: "the --market-config file's priceLevels.count, else 10",
    parse: positiveInt("--levels", 2, MAX_CLI_LEVELS),
  }),
  clearingRule: setting({
    flag: "--clearing-rule <rule>",
    description: "midpoint, seller or buyer",
    env: "GRIDVEIL_CLEARING_RULE",
    defaultText: "the --market-config file's clearingRule, else midpoint",
    parse: clearingRule,
  }),
  marketConfig: setting<string>({
    flag: "--market-config <file>",
    description: "market economics (JSON, protocol/marketConfig.ts)",
    env: "GRIDVEIL_MARKET_CONFIG",
    defaultText: "the defaults of protocol/marketConfig.ts",
  }),
  streamReplicas: setting({
    flag: "--stream-replicas <n>",
    description: "copies of each JetStream stream (3 on a 3-node NATS cluster survive the loss of a node)",
    env: "GRIDVEIL_STREAM_REPLICAS",
    defaultText: "1 for new streams; existing ones keep theirs",
    parse: positiveInt("--stream-replicas", 1, 5),
  }),
  config: machineConfigSetting,
  inspect: inspectSetting,
};
