// `gridveil meter`: runs one smart meter as its own process (flags or environment), stopping gracefully on SIGTERM.
import { Command, InvalidArgumentError, Option } from "commander";
import { z } from "zod";
import { plannedBidSchema, type PlannedBid } from "../../../machines/meter.ts";
import { ConfigError } from "../../../protocol/base/errors.ts";
import { startMeterRuntime, type MeterRuntime } from "../../meter/runtime.ts";
import { inboxIdSchema } from "../../../protocol/wire/schemas.ts";
import { createLogger } from "../../telemetry/logger.ts";
import { address } from "../../config/parsers.ts";
import {
  configOption,
  connectInspectorFlag,
  dataDirOption,
  exitTwoOnUsageError,
  handleShutdown,
  inspectOption,
  keyFileOption,
  keyOption,
  loadMachineConfig,
  marketOption,
  natsCredentialsOf,
  natsOption,
  natsPasswordOption,
  natsUserOption,
  partyDataDir,
  privateKeyOf,
  readJsonFile,
  rpcOption,
  startPartyTelemetry,
  untilExit,
  type KeyFlags,
  type PartyFlags,
} from "../partyProcess.ts";
import { meterIdSchema } from "../../../protocol/domain.ts";

type MeterFlags = PartyFlags &
  KeyFlags & {
    meterId?: string;
    inbox?: string;
    name?: string;
    dsoAddress?: string;
    plan?: string;
    bid: PlannedBid[];
    deliveryRatio?: number;
    neverOpen?: boolean;
    forgeOpening?: boolean;
    exitWhenDone?: boolean;
  };

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

/** `--plan FILE`: a JSON array of planned bids (the profile format; extra fields such as `round` are ignored). */
export function loadPlanFile(path: string): PlannedBid[] {
  const parsed = z.array(plannedBidSchema).max(10_000).safeParse(readJsonFile("--plan", path, 'a JSON array of { "planId", "side", "priceLevel", "quantityWh" }'));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError("the --plan file is not a list of planned bids", {
      value: issue ? `${issue.path.join(".")}: ${issue.message}` : path,
      hint: 'each entry: { "planId": "r0", "side": "sell", "priceLevel": 2, "quantityWh": 1200 }',
    });
  }
  return parsed.data;
}

export function registerMeterCommand(program: Command): Command {
  const command = program
    .command("meter")
    .description("run a smart meter: enrol with the DSO, bid its plan with one-time ids, open, verify, deliver and settle")
    .addOption(natsOption())
    .addOption(natsUserOption())
    .addOption(natsPasswordOption())
    .addOption(rpcOption("Ethereum JSON-RPC endpoint (read-only use)"))
    .addOption(marketOption())
    .addOption(new Option("--meter-id <id>", "permanent meter id (as provisioned with the DSO)").env("GRIDVEIL_METER_ID").argParser(meterId))
    .addOption(
      new Option("--inbox <id>", "inbox id provisioned with the DSO and NATS (its NATS user's only reply prefix; default: assigned at enrolment)")
        .env("GRIDVEIL_METER_INBOX")
        .argParser(inboxId),
    )
    .addOption(keyOption("the meter's long-term private key", "GRIDVEIL_METER_KEY"))
    .addOption(keyFileOption("file holding the meter's long-term private key", "GRIDVEIL_METER_KEY_FILE"))
    .addOption(new Option("--name <name>", "display name sent at enrolment (default: the meter id)").env("GRIDVEIL_METER_NAME"))
    .addOption(new Option("--dso-address <address>", "pin the DSO's address (default: trust the enrolment reply)").env("GRIDVEIL_DSO_ADDRESS").argParser(address("--dso-address")))
    .addOption(dataDirOption("span file (spans.jsonl) when no OTLP endpoint is set"))
    .addOption(new Option("--plan <file>", 'planned bids: JSON [{ "planId", "side", "priceLevel", "quantityWh" }]').env("GRIDVEIL_PLAN"))
    .addOption(new Option("--bid <side:level:wh>", "a bid to place, e.g. sell:3:1200 (repeatable)").argParser(parseBidFlag).default([]))
    .addOption(new Option("--delivery-ratio <ratio>", "simulated delivery: measured = quantity × ratio (default 1)").env("GRIDVEIL_DELIVERY_RATIO").argParser(ratio))
    .addOption(configOption())
    .addOption(new Option("--never-open", "fault: never send openings (the DSO voids and blames this meter)"))
    .addOption(new Option("--forge-opening", "fault: send openings that do not match the bids"))
    .addOption(new Option("--exit-when-done", "stop and exit once every planned bid has ended"))
    .addOption(inspectOption())
    .action(async (flags: MeterFlags) => runMeter(flags));
  return exitTwoOnUsageError(command);
}

async function runMeter(flags: MeterFlags): Promise<void> {
  // Everything that can be wrong with the flags fails here, before anything starts.
  if (flags.meterId === undefined) throw new ConfigError("the meter needs its permanent id", { hint: "--meter-id ID or GRIDVEIL_METER_ID" });
  const id = flags.meterId;
  const meterPrivateKey = privateKeyOf(flags, {
    party: "meter",
    message: "the meter needs its long-term private key (its address is provisioned with the DSO)",
    hint: "--key-file FILE, or GRIDVEIL_METER_KEY=0x… (or --key 0x…)",
  });
  const natsCredentials = natsCredentialsOf(flags);
  const config = loadMachineConfig(flags.config);
  const plan = [...(flags.plan === undefined ? [] : loadPlanFile(flags.plan)), ...flags.bid];
  const planIds = new Set<string>();
  for (const bid of plan) {
    if (planIds.has(bid.planId)) throw new ConfigError("plan ids must be unique", { value: bid.planId });
    planIds.add(bid.planId);
  }
  // Levels are checked against the market's own count once enrolled (the machine records a refused bid).
  const dataDir = partyDataDir(flags, `meter-${id}`);
  const logger = createLogger({ actor: "meter", market: flags.market });
  const inspector = await connectInspectorFlag(flags.inspect);
  // Only in the meter's own process (issue 5): its permanent id as a resource attribute.
  const telemetry = startPartyTelemetry("meter", flags.market, dataDir, { "gridveil.meter.id": id });

  let runtime: MeterRuntime | undefined;
  // The reason is a signal, or "done" (--exit-when-done); the last line reports it with the counters.
  const shutdown = handleShutdown({
    logger,
    telemetry,
    reasonField: "reason",
    stop: async (reason) => {
      await runtime?.stop();
      inspector?.stop();
      if (runtime) {
        const { filledWh: _energy, ...counters } = runtime.counters();
        process.stdout.write(`${JSON.stringify({ meter: id, stopped: reason, ...counters })}\n`);
      }
    },
  });

  try {
    runtime = await startMeterRuntime({
      ...(inspector ? { inspect: inspector.inspect } : {}),
      marketId: flags.market,
      natsUrl: flags.nats,
      ...natsCredentials,
      rpcUrl: flags.rpc,
      meterId: id,
      ...(flags.inbox === undefined ? {} : { inboxId: flags.inbox }),
      meterPrivateKey,
      name: flags.name ?? id,
      plan,
      faults: { neverOpen: flags.neverOpen === true, forgeOpening: flags.forgeOpening === true },
      ...(flags.deliveryRatio === undefined ? {} : { deliveryRatio: flags.deliveryRatio }),
      ...(flags.dsoAddress === undefined ? {} : { dsoAddress: flags.dsoAddress }),
      tracer: telemetry.tracer,
      logger,
      config,
    });
  } catch (error) {
    // A signal during start: the shutdown exits 0.
    return shutdown.startFailed(error);
  }
  process.stdout.write(`${JSON.stringify({ meter: id, address: runtime.address, market: flags.market })}\n`);
  if (shutdown.exiting) await runtime.stop();
  const started = runtime;
  void started.enrolled.then(
    ({ inboxId }) => process.stdout.write(`${JSON.stringify({ meter: id, enrolled: true, inbox: inboxId })}\n`),
    () => undefined,
  );
  if (flags.exitWhenDone) {
    void started.enrolled.then(
      () => started.whenIdle().then(() => shutdown.begin("done")),
      () => undefined,
    );
  }
  // Run until a signal (or until done): the shutdown exits.
  return untilExit();
}
