// `gridveil gateway`: runs the chain gateway as its own process (flags or environment), stopping gracefully on SIGTERM.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { isAddress } from "ethers";
import { parseMachineConfig, type MachineConfig, type MachineConfigInput } from "../../../machines/config.ts";
import { ConfigError } from "../../errors.ts";
import { startGatewayRuntime, type GatewayRuntime } from "../../gateway/runtime.ts";
import { StartAbortedError } from "../../gateway/marketLookup.ts";
import { marketToken } from "../../protocol/subjects.ts";
import { createLogger } from "../../telemetry/logger.ts";
import { startProcessTelemetry } from "../../telemetry/telemetry.ts";
import { connectInspector } from "../../runtime/inspect.ts";
import { positiveInt } from "../options.ts";

type GatewayFlags = {
  inspect?: string | true;
  nats: string;
  rpc: string;
  market: string;
  key?: string;
  contract?: string;
  dataDir?: string;
  config?: string;
  batchSize?: number;
  batchDelay?: number;
  startBlock?: number;
  ackWait?: number;
  pollInterval?: number;
  gasLimit?: bigint;
  countCompares: boolean;
};

const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
const DEFAULT_RPC_URL = "http://127.0.0.1:8545";
const DEFAULT_MARKET = "m1";
const MAX_MS = 24 * 60 * 60 * 1000;

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

function privateKey(raw: string): string {
  const key = raw.startsWith("0x") ? raw : `0x${raw}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new InvalidArgumentError("--key must be a private key (64 hex digits)");
  return key;
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

function gasLimit(raw: string): bigint {
  if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError(`--gas-limit must be an integer, got "${raw}"`);
  const value = BigInt(raw.trim());
  if (value < 100_000n) throw new InvalidArgumentError("--gas-limit must be at least 100000");
  return value;
}

/** The machine configuration: `--config FILE` (JSON, `MachineConfigInput`), then the gateway flags on top. */
function machineConfigOf(flags: GatewayFlags): MachineConfig {
  let input: MachineConfigInput = {};
  if (flags.config !== undefined) {
    try {
      input = JSON.parse(readFileSync(flags.config, "utf8")) as MachineConfigInput;
    } catch (cause) {
      throw new ConfigError("cannot read the --config file", { value: flags.config, hint: "a JSON object of machines/config.ts fields", cause });
    }
  }
  const gateway = { ...(input.gateway ?? {}) };
  if (flags.batchSize !== undefined) gateway.batchMaxSize = flags.batchSize;
  if (flags.batchDelay !== undefined) gateway.batchMaxDelayMs = flags.batchDelay;
  return parseMachineConfig({ ...input, gateway });
}

export function registerGatewayCommand(program: Command): Command {
  const command = program
    .command("gateway")
    .description("run the chain gateway: bids from the durable queue into batched transactions, chain events back to NATS")
    .addOption(new Option("--nats <url>", "NATS server").env("NATS_URL").default(DEFAULT_NATS_URL).argParser(url("--nats", ["nats:", "tls:", "ws:", "wss:"])))
    .addOption(new Option("--rpc <url>", "Ethereum JSON-RPC endpoint").env("GRIDVEIL_RPC_URL").default(DEFAULT_RPC_URL).argParser(url("--rpc", ["http:", "https:", "ws:", "wss:"])))
    .addOption(new Option("--market <id>", "market id").env("GRIDVEIL_MARKET").default(DEFAULT_MARKET).argParser(marketId))
    .addOption(new Option("--key <hex>", "the gateway account's private key (pays the gas)").env("GRIDVEIL_GATEWAY_KEY").argParser(privateKey))
    .addOption(new Option("--contract <address>", "market contract (default: ask the DSO)").env("GRIDVEIL_CONTRACT").argParser(contractAddress))
    .addOption(new Option("--data-dir <dir>", "where the chain cursor and the span file live").env("GRIDVEIL_DATA_DIR"))
    .addOption(new Option("--config <file>", "machine configuration (JSON, machines/config.ts)").env("GRIDVEIL_CONFIG"))
    .addOption(new Option("--batch-size <n>", "flush a batch at this many bids").argParser(positiveInt("--batch-size", 1, 256)))
    .addOption(new Option("--batch-delay <ms>", "…or this long after its first bid").argParser(positiveInt("--batch-delay", 0, MAX_MS)))
    .addOption(new Option("--start-block <n>", "follow from this block when no cursor is saved (default: deployment block)").argParser(positiveInt("--start-block", 0)))
    .addOption(new Option("--ack-wait <ms>", "ack wait of the bids consumer (redelivery after a crash)").argParser(positiveInt("--ack-wait", 100, MAX_MS)))
    .addOption(new Option("--poll-interval <ms>", "chain polling interval").argParser(positiveInt("--poll-interval", 10, 60_000)))
    .addOption(new Option("--gas-limit <gas>", "gas limit per transaction (default: the block gas limit)").argParser(gasLimit))
    .option("--no-count-compares", "do not trace transactions to count their Compares (faster on a busy node)")
    .addOption(new Option("--inspect [url]", "send machine inspection events to a Stately inspector bridge (development only; default ws://127.0.0.1:8080)"))
    .action(async (flags: GatewayFlags) => runGateway(flags));
  // Bad flags exit with 2 (usage error), as every `gridveil` actor does; help and version stay 0.
  command.exitOverride((error) => {
    if (error.exitCode === 0) throw error;
    throw new CommanderError(2, error.code, error.message);
  });
  return command;
}

async function runGateway(flags: GatewayFlags): Promise<void> {
  if (flags.key === undefined) {
    throw new ConfigError("the gateway needs its account's private key", { hint: "--key 0x… or GRIDVEIL_GATEWAY_KEY" });
  }
  const config = machineConfigOf(flags);
  const dataDir = resolve(flags.dataDir ?? `.gridveil/${flags.market}/gateway`);
  const logger = createLogger({ actor: "gateway", market: flags.market });
  // Opt-in, and checked before anything starts: an unreachable inspector is a usage error.
  const inspector = flags.inspect === undefined ? undefined : await connectInspector(typeof flags.inspect === "string" ? { url: flags.inspect } : {});
  const telemetry = startProcessTelemetry({
    service: "gridveil-gateway",
    attributes: { "gridveil.market.id": flags.market },
    dataDir,
    otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT,
  });

  const aborter = new AbortController();
  let runtime: GatewayRuntime | undefined;
  let exiting = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (exiting) return;
    exiting = true;
    logger.info({ signal }, "shutting down");
    aborter.abort();
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
    runtime = await startGatewayRuntime({
      ...(inspector ? { inspect: inspector.inspect } : {}),
      marketId: flags.market,
      natsUrl: flags.nats,
      rpcUrl: flags.rpc,
      gatewayPrivateKey: flags.key,
      dataDir,
      contractAddress: flags.contract,
      tracer: telemetry.tracer,
      logger,
      config,
      startBlock: flags.startBlock,
      ackWaitMs: flags.ackWait,
      pollIntervalMs: flags.pollInterval,
      gasLimit: flags.gasLimit,
      countCompares: flags.countCompares,
      signal: aborter.signal,
    });
  } catch (error) {
    // A signal during start: the shutdown handler exits 0.
    if (error instanceof StartAbortedError) return new Promise<void>(() => undefined);
    await telemetry.shutdown().catch(() => undefined);
    throw error;
  }
  // A signal that arrived while starting: stop what just started.
  if (exiting) await runtime.stop();
  // Run until a signal: the shutdown handler exits.
  return new Promise<void>(() => undefined);
}
