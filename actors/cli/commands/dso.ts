// `gridveil dso`: runs the DSO (utility) as its own process (flags or environment), stopping gracefully on SIGTERM.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { isAddress } from "ethers";
import { parseMachineConfig, type MachineConfig, type MachineConfigInput } from "../../../machines/config.ts";
import { loadRegistryFile, type ProvisionedMeter } from "../../dso/registry.ts";
import { startDsoRuntime, type DsoRuntime } from "../../dso/runtime.ts";
import { ConfigError } from "../../errors.ts";
import { parseMarketConfig, type MarketConfig } from "../../protocol/marketConfig.ts";
import { clearingRuleSchema, type ClearingRule } from "../../protocol/schemas.ts";
import { marketToken } from "../../protocol/subjects.ts";
import { createLogger } from "../../telemetry/logger.ts";
import { startProcessTelemetry } from "../../telemetry/telemetry.ts";
import { connectInspector } from "../../runtime/inspect.ts";
import { positiveInt } from "../options.ts";

type DsoFlags = {
  inspect?: string | true;
  nats: string;
  rpc: string;
  market: string;
  key?: string;
  keyFile?: string;
  dataDir?: string;
  contract?: string;
  registry?: string;
  levels?: number;
  clearingRule?: ClearingRule;
  marketConfig?: string;
  config?: string;
};

const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
const DEFAULT_RPC_URL = "http://127.0.0.1:8545";
const DEFAULT_MARKET = "m1";
/** d = n + 1 ≤ 127 (one ciphertext must fit the contract's limits, docs/contract.md). */
const MAX_LEVELS = 126;

function marketId(raw: string): string {
  try {
    return marketToken(raw);
  } catch {
    throw new InvalidArgumentError(`--market must be 1–64 characters of a-z, 0-9, '_' or '-', got "${raw}"`);
  }
}

function contractAddress(raw: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(raw) || !isAddress(raw)) throw new InvalidArgumentError(`--contract must be an address (0x + 40 hex), got "${raw}"`);
  return raw;
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

function clearingRule(raw: string): ClearingRule {
  const parsed = clearingRuleSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidArgumentError(`--clearing-rule must be midpoint, seller or buyer, got "${raw}"`);
  return parsed.data;
}

function readJson(flag: string, path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as unknown;
  } catch (cause) {
    throw new ConfigError(`cannot read the ${flag} file`, { value: path, hint: what, cause });
  }
}

/** `--market-config FILE` (JSON, actors/protocol/marketConfig.ts), then `--levels` and `--clearing-rule` on top. */
export function marketConfigOf(flags: Pick<DsoFlags, "marketConfig" | "levels" | "clearingRule">): MarketConfig {
  const input = (flags.marketConfig === undefined ? {} : readJson("--market-config", flags.marketConfig, "a JSON object of marketConfig.ts fields")) as Record<string, unknown>;
  const priceLevels = { ...((input.priceLevels as Record<string, unknown> | undefined) ?? {}) };
  if (flags.levels !== undefined) priceLevels.count = flags.levels;
  return parseMarketConfig({ ...input, priceLevels, ...(flags.clearingRule ? { clearingRule: flags.clearingRule } : {}) });
}

function machineConfigOf(flags: DsoFlags): MachineConfig {
  const input = (flags.config === undefined ? {} : readJson("--config", flags.config, "a JSON object of machines/config.ts fields")) as MachineConfigInput;
  return parseMachineConfig(input);
}

/** The key from `--key`/`GRIDVEIL_DSO_KEY`, or from `--key-file` (keeps it out of the process list). */
function dsoKeyOf(flags: DsoFlags): string {
  if (flags.key !== undefined && flags.keyFile !== undefined) throw new ConfigError("give the DSO key once: --key or --key-file, not both");
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
  throw new ConfigError("the DSO needs its private key (deployer and ticket signer)", {
    hint: "--key-file FILE, or GRIDVEIL_DSO_KEY=0x… (or --key 0x…)",
  });
}

export function registerDsoCommand(program: Command): Command {
  const command = program
    .command("dso")
    .description("run the DSO: FHIPE setup, market contract, enrolment and tickets, verification and settlement of trades")
    .addOption(new Option("--nats <url>", "NATS server").env("NATS_URL").default(DEFAULT_NATS_URL).argParser(url("--nats", ["nats:", "tls:", "ws:", "wss:"])))
    .addOption(new Option("--rpc <url>", "Ethereum JSON-RPC endpoint").env("GRIDVEIL_RPC_URL").default(DEFAULT_RPC_URL).argParser(url("--rpc", ["http:", "https:", "ws:", "wss:"])))
    .addOption(new Option("--market <id>", "market id").env("GRIDVEIL_MARKET").default(DEFAULT_MARKET).argParser(marketId))
    .addOption(new Option("--key <hex>", "the DSO's private key (deploys, signs tickets)").env("GRIDVEIL_DSO_KEY").argParser(privateKey("--key")))
    .addOption(new Option("--key-file <file>", "file holding the DSO's private key").env("GRIDVEIL_DSO_KEY_FILE"))
    .addOption(new Option("--data-dir <dir>", "database (dso.sqlite), master key (msk.bin) and span file").env("GRIDVEIL_DATA_DIR"))
    .addOption(new Option("--contract <address>", "attach to this market contract (default: the recorded one, else deploy)").env("GRIDVEIL_CONTRACT").argParser(contractAddress))
    .addOption(new Option("--registry <file>", 'provisioned meters: JSON [{ "meterId", "address", "name" }]').env("GRIDVEIL_REGISTRY"))
    .addOption(new Option("--levels <n>", "price levels n (d = n + 1)").env("GRIDVEIL_LEVELS").argParser(positiveInt("--levels", 2, MAX_LEVELS)))
    .addOption(new Option("--clearing-rule <rule>", "midpoint, seller or buyer").env("GRIDVEIL_CLEARING_RULE").argParser(clearingRule))
    .addOption(new Option("--market-config <file>", "market economics (JSON, actors/protocol/marketConfig.ts)").env("GRIDVEIL_MARKET_CONFIG"))
    .addOption(new Option("--config <file>", "machine configuration (JSON, machines/config.ts)").env("GRIDVEIL_CONFIG"))
    .addOption(new Option("--inspect [url]", "send machine inspection events to a Stately inspector bridge (development only; default ws://127.0.0.1:8080)"))
    .action(async (flags: DsoFlags) => runDso(flags));
  // Bad flags exit with 2 (usage error), as every `gridveil` actor does; help and version stay 0.
  command.exitOverride((error) => {
    if (error.exitCode === 0) throw error;
    throw new CommanderError(2, error.code, error.message);
  });
  return command;
}

async function runDso(flags: DsoFlags): Promise<void> {
  // Everything that can be wrong with the flags fails here, before anything starts.
  const dsoPrivateKey = dsoKeyOf(flags);
  const market = marketConfigOf(flags);
  const config = machineConfigOf(flags);
  const registry: ProvisionedMeter[] = flags.registry === undefined ? [] : loadRegistryFile(flags.registry);
  const dataDir = resolve(flags.dataDir ?? `.gridveil/${flags.market}/dso`);
  const logger = createLogger({ actor: "dso", market: flags.market });
  if (registry.length === 0) logger.warn({}, "no provisioned meters (--registry): no meter can enrol");
  // Opt-in, and checked before anything starts: an unreachable inspector is a usage error.
  const inspector = flags.inspect === undefined ? undefined : await connectInspector(typeof flags.inspect === "string" ? { url: flags.inspect } : {});
  const telemetry = startProcessTelemetry({
    service: "gridveil-dso",
    attributes: { "gridveil.market.id": flags.market },
    dataDir,
    otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT,
  });

  let runtime: DsoRuntime | undefined;
  let exiting = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (exiting) return;
    exiting = true;
    logger.info({ signal }, "shutting down");
    void (async () => {
      let code = 0;
      try {
        await runtime?.stop();
        inspector?.stop();
      } catch (error) {
        logger.error({ err: error }, "stop failed");
        code = 1;
      }
      await telemetry.shutdown().catch(() => undefined);
      process.exit(code);
    })();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);

  try {
    runtime = await startDsoRuntime({
      ...(inspector ? { inspect: inspector.inspect } : {}),
      marketId: flags.market,
      natsUrl: flags.nats,
      rpcUrl: flags.rpc,
      dsoPrivateKey,
      dataDir,
      contractAddress: flags.contract,
      market,
      registry,
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
  process.stdout.write(
    `${JSON.stringify({ dso: runtime.dso.address, contract: runtime.market.contractAddress, chainId: runtime.market.chainId, market: flags.market })}\n`,
  );
  if (exiting) await runtime.stop();
  // Run until a signal: the shutdown handler exits.
  return new Promise<void>(() => undefined);
}
