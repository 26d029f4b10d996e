// `gridveil meter`: runs one smart meter as its own process (flags or environment), stopping gracefully on SIGTERM.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { isAddress } from "ethers";
import { z } from "zod";
import { parseMachineConfig, type MachineConfig, type MachineConfigInput } from "../../../machines/config.ts";
import { plannedBidSchema, type PlannedBid } from "../../../machines/meter.ts";
import { ConfigError } from "../../errors.ts";
import { startMeterRuntime, type MeterRuntime } from "../../meter/runtime.ts";
import { meterIdSchema } from "../../protocol/schemas.ts";
import { marketToken } from "../../protocol/subjects.ts";
import { createLogger } from "../../telemetry/logger.ts";
import { startProcessTelemetry } from "../../telemetry/telemetry.ts";
import { connectInspector } from "../../runtime/inspect.ts";

type MeterFlags = {
  inspect?: string | true;
  nats: string;
  rpc: string;
  market: string;
  meterId?: string;
  key?: string;
  keyFile?: string;
  name?: string;
  dsoAddress?: string;
  dataDir?: string;
  plan?: string;
  bid: PlannedBid[];
  deliveryRatio?: number;
  config?: string;
  neverOpen?: boolean;
  forgeOpening?: boolean;
  exitWhenDone?: boolean;
};

const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
const DEFAULT_RPC_URL = "http://127.0.0.1:8545";
const DEFAULT_MARKET = "m1";
const MAX_DELIVERY_RATIO = 10;

function marketId(raw: string): string {
  try {
    return marketToken(raw);
  } catch {
    throw new InvalidArgumentError(`--market must be 1–64 characters of a-z, 0-9, '_' or '-', got "${raw}"`);
  }
}

function meterId(raw: string): string {
  if (!meterIdSchema.safeParse(raw).success) throw new InvalidArgumentError(`--meter-id must be 1–64 characters of [A-Za-z0-9_.:-], got "${raw}"`);
  return raw;
}

function address(flag: string) {
  return (raw: string): string => {
    if (!/^0x[0-9a-fA-F]{40}$/.test(raw) || !isAddress(raw)) throw new InvalidArgumentError(`${flag} must be an address (0x + 40 hex), got "${raw}"`);
    return raw;
  };
}

function privateKey(source: string) {
  return (raw: string): string => {
    const trimmed = raw.trim();
    const key = trimmed.startsWith("0x") ? trimmed : `0x${trimmed}`;
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new InvalidArgumentError(`${source} must be a private key (64 hex digits)`);
    return key;
  };
}

function url(flag: string, schemes: string[]) {
  return (raw: string): string => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new InvalidArgumentError(`${flag} must be a URL, got "${raw}"`);
    }
    if (!schemes.includes(parsed.protocol)) throw new InvalidArgumentError(`${flag} must use ${schemes.join(" or ")}, got "${raw}"`);
    return raw;
  };
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

function readJson(flag: string, path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as unknown;
  } catch (cause) {
    throw new ConfigError(`cannot read the ${flag} file`, { value: path, hint: what, cause });
  }
}

/** `--plan FILE`: a JSON array of planned bids (the profile format; extra fields such as `round` are ignored). */
export function loadPlanFile(path: string): PlannedBid[] {
  const parsed = z.array(plannedBidSchema).max(10_000).safeParse(readJson("--plan", path, 'a JSON array of { "planId", "side", "priceLevel", "quantityWh" }'));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError("the --plan file is not a list of planned bids", {
      value: issue ? `${issue.path.join(".")}: ${issue.message}` : path,
      hint: 'each entry: { "planId": "r0", "side": "sell", "priceLevel": 2, "quantityWh": 1200 }',
    });
  }
  return parsed.data;
}

function machineConfigOf(flags: MeterFlags): MachineConfig {
  const input = (flags.config === undefined ? {} : readJson("--config", flags.config, "a JSON object of machines/config.ts fields")) as MachineConfigInput;
  return parseMachineConfig(input);
}

/** The key from `--key`/`GRIDVEIL_METER_KEY`, or from `--key-file` (keeps it out of the process list). */
function meterKeyOf(flags: MeterFlags): string {
  if (flags.key !== undefined && flags.keyFile !== undefined) throw new ConfigError("give the meter key once: --key or --key-file, not both");
  if (flags.key !== undefined) return flags.key;
  if (flags.keyFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.keyFile, "utf8");
    } catch (cause) {
      throw new ConfigError("cannot read the --key-file", { value: flags.keyFile, cause });
    }
    try {
      return privateKey("the --key-file content")(text);
    } catch (error) {
      throw new ConfigError(error instanceof Error ? error.message : "bad --key-file", { value: flags.keyFile });
    }
  }
  throw new ConfigError("the meter needs its long-term private key (its address is provisioned with the DSO)", {
    hint: "--key-file FILE, or GRIDVEIL_METER_KEY=0x… (or --key 0x…)",
  });
}

export function registerMeterCommand(program: Command): Command {
  const command = program
    .command("meter")
    .description("run a smart meter: enrol with the DSO, bid its plan with one-time ids, open, verify, deliver and settle")
    .addOption(new Option("--nats <url>", "NATS server").env("NATS_URL").default(DEFAULT_NATS_URL).argParser(url("--nats", ["nats:", "tls:", "ws:", "wss:"])))
    .addOption(new Option("--rpc <url>", "Ethereum JSON-RPC endpoint (read-only use)").env("GRIDVEIL_RPC_URL").default(DEFAULT_RPC_URL).argParser(url("--rpc", ["http:", "https:", "ws:", "wss:"])))
    .addOption(new Option("--market <id>", "market id").env("GRIDVEIL_MARKET").default(DEFAULT_MARKET).argParser(marketId))
    .addOption(new Option("--meter-id <id>", "permanent meter id (as provisioned with the DSO)").env("GRIDVEIL_METER_ID").argParser(meterId))
    .addOption(new Option("--key <hex>", "the meter's long-term private key").env("GRIDVEIL_METER_KEY").argParser(privateKey("--key")))
    .addOption(new Option("--key-file <file>", "file holding the meter's long-term private key").env("GRIDVEIL_METER_KEY_FILE"))
    .addOption(new Option("--name <name>", "display name sent at enrolment (default: the meter id)").env("GRIDVEIL_METER_NAME"))
    .addOption(new Option("--dso-address <address>", "pin the DSO's address (default: trust the enrolment reply)").env("GRIDVEIL_DSO_ADDRESS").argParser(address("--dso-address")))
    .addOption(new Option("--data-dir <dir>", "span file (spans.jsonl) when no OTLP endpoint is set").env("GRIDVEIL_DATA_DIR"))
    .addOption(new Option("--plan <file>", 'planned bids: JSON [{ "planId", "side", "priceLevel", "quantityWh" }]').env("GRIDVEIL_PLAN"))
    .addOption(new Option("--bid <side:level:wh>", "a bid to place, e.g. sell:3:1200 (repeatable)").argParser(parseBidFlag).default([]))
    .addOption(new Option("--delivery-ratio <ratio>", "simulated delivery: measured = quantity × ratio (default 1)").env("GRIDVEIL_DELIVERY_RATIO").argParser(ratio))
    .addOption(new Option("--config <file>", "machine configuration (JSON, machines/config.ts)").env("GRIDVEIL_CONFIG"))
    .addOption(new Option("--never-open", "fault: never send openings (the DSO voids and blames this meter)"))
    .addOption(new Option("--forge-opening", "fault: send openings that do not match the bids"))
    .addOption(new Option("--exit-when-done", "stop and exit once every planned bid has ended"))
    .addOption(new Option("--inspect [url]", "send machine inspection events to a Stately inspector bridge (development only; default ws://127.0.0.1:8080)"))
    .action(async (flags: MeterFlags) => runMeter(flags));
  // Bad flags exit with 2 (usage error), as every `gridveil` actor does; help and version stay 0.
  command.exitOverride((error) => {
    if (error.exitCode === 0) throw error;
    throw new CommanderError(2, error.code, error.message);
  });
  return command;
}

async function runMeter(flags: MeterFlags): Promise<void> {
  // Everything that can be wrong with the flags fails here, before anything starts.
  if (flags.meterId === undefined) throw new ConfigError("the meter needs its permanent id", { hint: "--meter-id ID or GRIDVEIL_METER_ID" });
  const id = flags.meterId;
  const meterPrivateKey = meterKeyOf(flags);
  const config = machineConfigOf(flags);
  const plan = [...(flags.plan === undefined ? [] : loadPlanFile(flags.plan)), ...flags.bid];
  const planIds = new Set<string>();
  for (const bid of plan) {
    if (planIds.has(bid.planId)) throw new ConfigError("plan ids must be unique", { value: bid.planId });
    planIds.add(bid.planId);
  }
  // Levels are checked against the market's own count once enrolled (the machine records a refused bid).
  const dataDir = resolve(flags.dataDir ?? `.gridveil/${flags.market}/meter-${id}`);
  const logger = createLogger({ actor: "meter", market: flags.market });
  // Opt-in, and checked before anything starts: an unreachable inspector is a usage error.
  const inspector = flags.inspect === undefined ? undefined : await connectInspector(typeof flags.inspect === "string" ? { url: flags.inspect } : {});
  const telemetry = startProcessTelemetry({
    service: "gridveil-meter",
    // Only in the meter's own process (issue 5): its permanent id as a resource attribute.
    attributes: { "gridveil.market.id": flags.market, "gridveil.meter.id": id },
    dataDir,
    otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT,
  });

  let runtime: MeterRuntime | undefined;
  let exiting = false;
  const finish = (reason: string): void => {
    if (exiting) return;
    exiting = true;
    logger.info({ reason }, "shutting down");
    void (async () => {
      let code = 0;
      try {
        await runtime?.stop();
        inspector?.stop();
        if (runtime) {
          const { filledWh: _energy, ...counters } = runtime.counters();
          process.stdout.write(`${JSON.stringify({ meter: id, stopped: reason, ...counters })}\n`);
        }
      } catch (error) {
        logger.error({ err: error }, "stop failed");
        code = 1;
      }
      await telemetry.shutdown().catch(() => undefined);
      process.exit(code);
    })();
  };
  process.on("SIGTERM", () => finish("SIGTERM"));
  process.on("SIGINT", () => finish("SIGINT"));

  try {
    runtime = await startMeterRuntime({
      ...(inspector ? { inspect: inspector.inspect } : {}),
      marketId: flags.market,
      natsUrl: flags.nats,
      rpcUrl: flags.rpc,
      meterId: id,
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
    await telemetry.shutdown().catch(() => undefined);
    // A signal during start: the shutdown handler exits 0.
    if (exiting) return new Promise<void>(() => undefined);
    throw error;
  }
  process.stdout.write(`${JSON.stringify({ meter: id, address: runtime.address, market: flags.market })}\n`);
  if (exiting) await runtime.stop();
  const started = runtime;
  void started.enrolled.then(
    ({ inboxId }) => process.stdout.write(`${JSON.stringify({ meter: id, enrolled: true, inbox: inboxId })}\n`),
    () => undefined,
  );
  if (flags.exitWhenDone) {
    void started.enrolled.then(
      () => started.whenIdle().then(() => finish("done")),
      () => undefined,
    );
  }
  // Run until a signal (or until done): the shutdown path exits.
  return new Promise<void>(() => undefined);
}
