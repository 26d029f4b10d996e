// A smart meter's runtime configuration: every tunable of its process with its flag, variable and default.
import { InvalidArgumentError } from "commander";
import type { PlannedBid } from "../../machines/meter.ts";
import { meterIdSchema } from "../../protocol/domain.ts";
import { inboxIdSchema } from "../../protocol/wire/schemas.ts";
import { adapterDefaults, dataDirSetting, inspectSetting, machineConfigSetting, partySettings, rpcSetting } from "./common.ts";
import { address, privateKey } from "./parsers.ts";
import { setting } from "./settings.ts";

export const meterDefaults = {
  /** A meter's wait for the DSO's answer to one request (its machine retries with backoff). */
  requestTimeoutMs: adapterDefaults.requestTimeoutMs,
  /** How long `stop()` waits for the running sessions to finish. */
  stopTimeoutMs: 30_000,
  /** Simulated delivery: the measured energy is the traded quantity times this ratio. */
  deliveryRatio: 1,
  snapshotIntervalMs: adapterDefaults.snapshotIntervalMs,
  /**
   * The meter reads its own bidders' matches, expiries and cancellations from the chain this often (read-only RPC),
   * so a notice NATS lost is taken from the record of truth one interval later; at most `chainMaxBlockRange` blocks
   * per read.
   */
  chainReconcileIntervalMs: 3_000,
  chainMaxBlockRange: 1_000,
} as const;

const MAX_DELIVERY_RATIO = 10;

function meterId(raw: string): string {
  if (!meterIdSchema.safeParse(raw).success) throw new InvalidArgumentError(`--meter-id must be 1–64 characters of [A-Za-z0-9_.:-], got "${raw}"`);
  return raw;
}

function inboxId(raw: string): string {
  if (!inboxIdSchema.safeParse(raw).success) throw new InvalidArgumentError(`--inbox must be 1–64 characters of [a-z0-9_-], got "${raw}"`);
  return raw;
}

function ratio(raw: string): number {
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value) || value < 0 || value > MAX_DELIVERY_RATIO)
    throw new InvalidArgumentError(`--delivery-ratio must be a number between 0 and ${MAX_DELIVERY_RATIO}, got "${raw}"`);
  return value;
}

/** `--bid side:level:wh` (repeatable): e.g. `sell:3:1200` sells 1.2 kWh at price level 3. */
export function parseBidFlag(raw: string, previous: PlannedBid[] = []): PlannedBid[] {
  const match = /^(buy|sell):(\d{1,4}):(\d{1,12})$/.exec(raw.trim());
  if (!match) throw new InvalidArgumentError(`--bid must be side:level:wh (e.g. sell:3:1200), got "${raw}"`);
  const quantityWh = Number(match[3]);
  if (quantityWh <= 0) throw new InvalidArgumentError(`--bid quantity must be a positive number of Wh, got "${raw}"`);
  const bid: PlannedBid = { planId: `bid-${previous.length + 1}`, side: match[1] as PlannedBid["side"], priceLevel: Number(match[2]), quantityWh };
  return [...previous, bid];
}

export const meterSettings = {
  ...partySettings,
  rpc: rpcSetting("Ethereum JSON-RPC endpoint (read-only use)"),
  meterId: setting({ flag: "--meter-id <id>", description: "permanent meter id (as provisioned with the DSO)", env: "GRIDVEIL_METER_ID", parse: meterId }),
  inbox: setting({
    flag: "--inbox <id>",
    description: "inbox id provisioned with the DSO and NATS (its NATS user's only reply prefix)",
    env: "GRIDVEIL_METER_INBOX",
    defaultText: "assigned at enrolment",
    parse: inboxId,
  }),
  key: setting({ flag: "--key <hex>", description: "the meter's long-term private key", env: "GRIDVEIL_METER_KEY", parse: privateKey("--key") }),
  keyFile: setting<string>({ flag: "--key-file <file>", description: "file holding the meter's long-term private key", env: "GRIDVEIL_METER_KEY_FILE" }),
  name: setting<string>({ flag: "--name <name>", description: "display name sent at enrolment", env: "GRIDVEIL_METER_NAME", defaultText: "the meter id" }),
  dsoAddress: setting({
    flag: "--dso-address <address>",
    description: "pin the DSO's address",
    env: "GRIDVEIL_DSO_ADDRESS",
    defaultText: "trust the enrolment reply",
    parse: address("--dso-address"),
  }),
  dataDir: dataDirSetting("span file (spans.jsonl) when no OTLP endpoint is set", "meter-<id>"),
  plan: setting<string>({ flag: "--plan <file>", description: 'planned bids: JSON [{ "planId", "side", "priceLevel", "quantityWh" }]', env: "GRIDVEIL_PLAN" }),
  bid: setting<PlannedBid[]>({ flag: "--bid <side:level:wh>", description: "a bid to place, e.g. sell:3:1200 (repeatable)", default: [], parse: parseBidFlag }),
  deliveryRatio: setting({
    flag: "--delivery-ratio <ratio>",
    description: "simulated delivery: measured = quantity × ratio",
    env: "GRIDVEIL_DELIVERY_RATIO",
    default: meterDefaults.deliveryRatio,
    parse: ratio,
  }),
  config: machineConfigSetting,
  neverOpen: setting<boolean>({ flag: "--never-open", description: "fault: never send openings (the DSO voids and blames this meter)" }),
  forgeOpening: setting<boolean>({ flag: "--forge-opening", description: "fault: send openings that do not match the bids" }),
  exitWhenDone: setting<boolean>({ flag: "--exit-when-done", description: "stop and exit once every planned bid has ended" }),
  inspect: inspectSetting,
};
