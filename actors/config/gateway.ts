// The chain gateway's runtime configuration: every tunable with its flag, variable and default, in one place.
import { InvalidArgumentError } from "commander";
import { defaultMachineConfig } from "../../machines/config.ts";
import { adapterDefaults, dataDirSetting, inspectSetting, machineConfigSetting, partySettings, rpcSetting } from "./common.ts";
import { address, positiveInt, privateKey } from "./parsers.ts";
import { setting } from "./settings.ts";

const MAX_MS = 24 * 60 * 60 * 1000;

export const gatewayDefaults = {
  /** Ack wait of the bids consumer: how long a delivery held by a dead gateway stays invisible. */
  ackWaitMs: adapterDefaults.ackWaitMs,
  /** Asking the DSO for the market description at start: each request's wait, and the retry backoff (doubling). */
  marketLookupTimeoutMs: 2_000,
  marketLookupRetryBaseMs: 250,
  marketLookupRetryMaxMs: 5_000,
  /** The block gas limit to assume when the node does not report one. */
  fallbackBlockGasLimit: 30_000_000n,
  /** Poll interval of the chain follower (it also wakes on every mined transaction). */
  pollIntervalMs: 100,
  /** Largest `eth_getLogs` range. */
  maxBlockRange: 1_000,
  /**
   * The longest wait for a sent transaction's receipt: past it the batch counts as failed and the machine sends it
   * again (bids it placed come back as duplicates), instead of holding its deliveries for good.
   */
  receiptTimeoutMs: 60_000,
  /** How long `stop()` waits for the machine to submit, publish and save what it holds. */
  stopTimeoutMs: 60_000,
  /** How long one pull of the bids consumer waits for messages (`stop()` takes at most this long to stop pulling). */
  fetchExpiresMs: 1_000,
  /** Check every point of a word-form ciphertext before it is placed (the compact form is checked as it decodes). */
  checkCiphertextPoints: true,
  /** Trace each transaction to count its Compares (re-executes it on the node). */
  countCompares: true,
  snapshotIntervalMs: adapterDefaults.snapshotIntervalMs,

  // --- version 2 (slot market) -------------------------------------------------------------------------------
  /**
   * Bids per `placeBids` transaction. Measured (test/gateway/v2Gas.test.ts, n = 1,024, w = 1): bids that each rest
   * inside a list (three zero tests, the most a placement runs) need ≈ 13.4 M gas for 20 (≈ 670,600 each), and 25
   * fit under EIP-7825's 2^24; the margin pays for expired heads a placement drops (a transaction that runs out of gas
   * anyway lowers the size for the next ones, docs/gateway.md).
   */
  slotTxMaxBids: 20,
  /** How long the gateway waits for the DSO's hints (`dso.hints`) before it makes them from public data. */
  dsoHintsTimeoutMs: 2_000,
  /** After the DSO's hints failed, batches are hinted from public data for this long before the DSO is asked again. */
  dsoHintsRetryAfterMs: 10_000,
  /** Placements of one bid at most: the first, and re-hinted ones after `StaleHint` (the book changed meanwhile). */
  placementAttempts: 3,
  /** How often the sweeper looks for closed slots that still hold bids (their expiry is announced by a purge). */
  sweepIntervalMs: 1_000,
  /** The longest wait before a closed slot's purge is tried again when the last one expired nothing (chain time lags). */
  sweepRetryMaxMs: 60_000,
  /** Bids one `purge` transaction unlinks at most (measured ≈ 10,500 gas each: 200 need ≈ 2.1 M, far below 2^24). */
  purgeMaxPerTx: 200,
  /** A cancel whose predecessor changed before its transaction (`StaleHint`) reads the list again this often. */
  staleCancelAttempts: 3,
  /** Slots whose book counts the state snapshot shows one by one (`gridveil watch`), earliest first. */
  watchSlots: 96,
} as const;

function gasLimit(raw: string): bigint {
  if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError(`--gas-limit must be an integer, got "${raw}"`);
  const value = BigInt(raw.trim());
  if (value < 100_000n) throw new InvalidArgumentError("--gas-limit must be at least 100000");
  return value;
}

export const gatewaySettings = {
  ...partySettings,
  rpc: rpcSetting(),
  // No --key-file here, and the key is taken as given: white space around it is refused, not trimmed.
  key: setting<string>({ flag: "--key <hex>", description: "the gateway account's private key (pays the gas)", env: "GRIDVEIL_GATEWAY_KEY", parse: privateKey("--key", { trim: false }) }),
  contract: setting<string>({
    flag: "--contract <address>",
    description: "a version 1 market's contract (a version 2 market is run from the DSO's description)",
    env: "GRIDVEIL_CONTRACT",
    defaultText: "ask the DSO",
    parse: address("--contract"),
  }),
  dataDir: dataDirSetting("where the chain cursor and the span file live", "gateway"),
  config: machineConfigSetting,
  batchSize: setting({
    flag: "--batch-size <n>",
    description: "flush a batch at this many bids",
    defaultText: `the --config file's gateway.batchMaxSize, else ${defaultMachineConfig.gateway.batchMaxSize}`,
    parse: positiveInt("--batch-size", 1, 256),
  }),
  batchDelay: setting({
    flag: "--batch-delay <ms>",
    description: "…or this long after its first bid",
    defaultText: `the --config file's gateway.batchMaxDelayMs, else ${defaultMachineConfig.gateway.batchMaxDelayMs}`,
    parse: positiveInt("--batch-delay", 0, MAX_MS),
  }),
  startBlock: setting({
    flag: "--start-block <n>",
    description: "follow from this block when no cursor is saved",
    defaultText: "the contract's deployment block",
    parse: positiveInt("--start-block", 0),
  }),
  ackWait: setting({
    flag: "--ack-wait <ms>",
    description: "ack wait of the bids consumer (redelivery after a crash)",
    default: gatewayDefaults.ackWaitMs,
    parse: positiveInt("--ack-wait", 100, MAX_MS),
  }),
  pollInterval: setting({ flag: "--poll-interval <ms>", description: "chain polling interval", default: gatewayDefaults.pollIntervalMs, parse: positiveInt("--poll-interval", 10, 60_000) }),
  gasLimit: setting({ flag: "--gas-limit <gas>", description: "gas limit per transaction", defaultText: "the block gas limit, or the node's per-transaction cap (EIP-7825) if lower", parse: gasLimit }),
  txMaxBids: setting({
    flag: "--tx-max-bids <n>",
    description: "bids per transaction: a larger batch goes out as several pipelined transactions",
    env: "GRIDVEIL_GATEWAY_TX_MAX_BIDS",
    defaultText: `version 1: one transaction per batch; version 2: ${gatewayDefaults.slotTxMaxBids} (measured to fit 2^24 gas)`,
    parse: positiveInt("--tx-max-bids", 1, 256),
  }),
  countCompares: setting<boolean>({ flag: "--no-count-compares", description: "do not trace transactions to count their Compares (faster on a busy node)" }),
  inspect: inspectSetting,
};
