// The DSO's runtime configuration: every tunable and policy of its process with its flag, variable and default.
import { InvalidArgumentError } from "commander";
import { InvalidConfigurationError, InvalidSettingError } from "../../protocol/base/errors.ts";
import { encryptAtSchema, slotMarketSchema, type EncryptAt, type SlotMarketDescription } from "../../protocol/domain.ts";
import { blockParams, MAX_BLOCK_WIDTH, type BlockParams } from "../../protocol/encoding/blockTokens.ts";
import { clearingRuleSchema, MAX_PRICE_LEVELS, type ClearingRule } from "../../protocol/marketConfig.ts";
import type { MarketDesign } from "../chain/marketLog.ts";
import { adapterDefaults, dataDirSetting, inspectSetting, machineConfigSetting, partySettings, rpcSetting } from "./common.ts";
import { address, positiveInt, privateKey } from "./parsers.ts";
import { setting } from "./settings.ts";

export const dsoDefaults = {
  /**
   * How long a request handler waits for the machine's answer before replying `unavailable` (the meter retries).
   * Longer than a meter's own request timeout: a busy DSO still answers, the meter just asks again.
   */
  machineReplyTimeoutMs: 10_000,
  /**
   * Which protocol version the DSO runs (PROTOCOL "Versions"): version 1 until every party runs version 2; flipping
   * this one value flips the CLI's and the runtime's default.
   */
  design: "v1" as MarketDesign,
  /** Version 2's block width w (PROTOCOL §3.2: 1 is the cheapest relation, leaking the first differing bit). */
  width: 1,
  /** Version 2: the DSO encrypts certified bids (PROTOCOL §4 v2; `meter` is the paper's mode). */
  encryptAt: "dso" as EncryptAt,
  /** Version 2's delivery slots (PROTOCOL §5): 15 minutes, gate closure 5 minutes before a slot starts. */
  slotSeconds: 900,
  gateClosureSeconds: 300,
  /** Key epochs (PROTOCOL §5 v2): one day of 15-minute slots per msk_e, kept a week after the epoch's last slot. */
  epochSlots: 96,
  epochKeyRetentionSeconds: 7 * 24 * 60 * 60,
  /**
   * The epoch-key routine (prepare the current and next epochs' keys, destroy those past retention) runs again when
   * the market clock reaches the next epoch boundary or retention end, and at least this often (wall time): a clock
   * that jumps (tests, a compressed day) is caught up within it.
   */
  epochKeyCheckMaxMs: 5_000,
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

/** Version 1: d = n + 1 ≤ 127 (one ciphertext must fit the contract's limits, docs/contract.md). */
export const MAX_CLI_LEVELS = 126;
/** Version 2: the block encoding's dimension does not grow with n (PROTOCOL §3.2); the market's bound holds. */
export const MAX_V2_LEVELS = MAX_PRICE_LEVELS;

/** Version 2's encoding and calendar as the DSO is configured (`dsoDefaults` for what is not given). */
export type SlotSettings = {
  width: number;
  encryptAt: EncryptAt;
  slotSeconds: number;
  gateClosureSeconds: number;
  epochSlots: number;
  epochKeyRetentionSeconds: number;
};

/**
 * The version 2 part of the market description from the settings (PROTOCOL §5 setup): validated, and the width must
 * fit the levels. Throws `InvalidConfigurationError` / `BlockWidthError` naming the bad value.
 */
export function slotMarketOf(settings: Partial<SlotSettings>, levels: number): { slots: SlotMarketDescription; params: BlockParams } {
  const given = { ...pick(dsoDefaults), ...withoutUndefined(settings) };
  const parsed = slotMarketSchema.safeParse({
    width: given.width,
    encryptAt: given.encryptAt,
    calendar: { slotSeconds: given.slotSeconds, gateClosureSeconds: given.gateClosureSeconds, slotsPerEpoch: given.epochSlots, retentionSeconds: given.epochKeyRetentionSeconds },
  });
  if (!parsed.success) throw new InvalidConfigurationError({ what: "version 2 market settings", issues: parsed.error.issues, schemaIn: "protocol/domain.ts (slotMarketSchema)" });
  if (levels > MAX_V2_LEVELS) throw new InvalidSettingError({ setting: "the price levels", expected: `at most ${MAX_V2_LEVELS} in version 2`, value: levels });
  return { slots: parsed.data, params: blockParams(levels, parsed.data.width) };
}

function pick(defaults: typeof dsoDefaults): SlotSettings {
  const { width, encryptAt, slotSeconds, gateClosureSeconds, epochSlots, epochKeyRetentionSeconds } = defaults;
  return { width, encryptAt, slotSeconds, gateClosureSeconds, epochSlots, epochKeyRetentionSeconds };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}

/** Version 1 keeps its own bound on the levels (the unary dimension), version 2 the market's. */
export function checkLevelsForDesign(design: MarketDesign, levels: number): void {
  if (design === "v1" && levels > MAX_CLI_LEVELS)
    throw new InvalidSettingError({ setting: "--levels", expected: `at most ${MAX_CLI_LEVELS} in version 1 (d = n + 1)`, value: levels, hint: "--design v2 takes up to 1,024 levels" });
}

function design(raw: string): MarketDesign {
  if (raw !== "v1" && raw !== "v2") throw new InvalidArgumentError(`--design must be v1 or v2, got "${raw}"`);
  return raw;
}

function encryptAt(raw: string): EncryptAt {
  const parsed = encryptAtSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidArgumentError(`--encrypt-at must be dso or meter, got "${raw}"`);
  return parsed.data;
}

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
  dataDir: dataDirSetting("database (dso.sqlite), master key (msk.bin; version 2: vault.key) and span file", "dso"),
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
    description: `price levels n (version 1: d = n + 1, at most ${MAX_CLI_LEVELS}; version 2: at most ${MAX_V2_LEVELS})`,
    env: "GRIDVEIL_LEVELS",
    defaultText: "the --market-config file's priceLevels.count, else 10",
    parse: positiveInt("--levels", 2, MAX_V2_LEVELS),
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
  design: setting({ flag: "--design <version>", description: "protocol version: v1 (unary, one book) or v2 (block encoding, slots, certified bids)", env: "GRIDVEIL_DESIGN", default: dsoDefaults.design, parse: design }),
  width: setting({ flag: "--width <bits>", description: "version 2: block width w (PROTOCOL §3.2)", env: "GRIDVEIL_WIDTH", default: dsoDefaults.width, parse: positiveInt("--width", 1, MAX_BLOCK_WIDTH) }),
  encryptAt: setting({ flag: "--encrypt-at <party>", description: "version 2: who encrypts bids, dso or meter (PROTOCOL §4 v2)", env: "GRIDVEIL_ENCRYPT_AT", default: dsoDefaults.encryptAt, parse: encryptAt }),
  slotSeconds: setting({ flag: "--slot-seconds <s>", description: "version 2: length of a delivery slot", env: "GRIDVEIL_SLOT_SECONDS", default: dsoDefaults.slotSeconds, parse: positiveInt("--slot-seconds", 1, 86_400) }),
  gateClosureSeconds: setting({
    flag: "--gate-closure-seconds <s>",
    description: "version 2: a slot's books close this long before the slot starts",
    env: "GRIDVEIL_GATE_CLOSURE_SECONDS",
    default: dsoDefaults.gateClosureSeconds,
    parse: positiveInt("--gate-closure-seconds", 0, 86_400),
  }),
  epochSlots: setting({ flag: "--epoch-slots <n>", description: "version 2: delivery slots per key epoch", env: "GRIDVEIL_EPOCH_SLOTS", default: dsoDefaults.epochSlots, parse: positiveInt("--epoch-slots", 1, 100_000) }),
  epochKeyRetentionSeconds: setting({
    flag: "--epoch-key-retention <s>",
    description: "version 2: an epoch's key is destroyed this long after its last slot",
    env: "GRIDVEIL_EPOCH_KEY_RETENTION",
    default: dsoDefaults.epochKeyRetentionSeconds,
    parse: positiveInt("--epoch-key-retention", 0),
  }),
  vaultKey: setting<string>({
    flag: "--vault-key <hex>",
    description: "version 2: 32-byte key (64 hex) sealing the epoch keys at rest (prefer GRIDVEIL_VAULT_KEY: not in the process list)",
    env: "GRIDVEIL_VAULT_KEY",
    defaultText: "--vault-key-file, else vault.key in the data directory (created once)",
  }),
  vaultKeyFile: setting<string>({ flag: "--vault-key-file <file>", description: "version 2: file holding the vault key (32 raw bytes or 64 hex)", env: "GRIDVEIL_VAULT_KEY_FILE" }),
  config: machineConfigSetting,
  inspect: inspectSetting,
};
