// `gridveil gateway`: runs the chain gateway as its own process (flags or environment), stopping gracefully on SIGTERM.
import { Command, InvalidArgumentError, Option } from "commander";
import { parseMachineConfig, type MachineConfig } from "../../../machines/config.ts";
import { ConfigError } from "../../../protocol/base/errors.ts";
import { startGatewayRuntime, type GatewayRuntime } from "../../gateway/runtime.ts";
import { StartAbortedError } from "../../gateway/marketLookup.ts";
import { createLogger } from "../../telemetry/logger.ts";
import { positiveInt, privateKey } from "../options.ts";
import {
  configOption,
  connectInspectorFlag,
  contractOption,
  dataDirOption,
  exitTwoOnUsageError,
  handleShutdown,
  inspectOption,
  keyOption,
  marketOption,
  natsCredentialsOf,
  natsOption,
  natsPasswordOption,
  natsUserOption,
  partyDataDir,
  readMachineConfigInput,
  rpcOption,
  startPartyTelemetry,
  untilExit,
  type PartyFlags,
} from "../partyProcess.ts";

type GatewayFlags = PartyFlags & {
  key?: string;
  contract?: string;
  batchSize?: number;
  batchDelay?: number;
  startBlock?: number;
  ackWait?: number;
  pollInterval?: number;
  gasLimit?: bigint;
  txMaxBids?: number;
  countCompares: boolean;
};

const MAX_MS = 24 * 60 * 60 * 1000;

function gasLimit(raw: string): bigint {
  if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError(`--gas-limit must be an integer, got "${raw}"`);
  const value = BigInt(raw.trim());
  if (value < 100_000n) throw new InvalidArgumentError("--gas-limit must be at least 100000");
  return value;
}

/** The machine configuration: `--config FILE` (JSON, `MachineConfigInput`), then the gateway flags on top. */
function machineConfigOf(flags: GatewayFlags): MachineConfig {
  const input = readMachineConfigInput(flags.config);
  const gateway = { ...(input.gateway ?? {}) };
  if (flags.batchSize !== undefined) gateway.batchMaxSize = flags.batchSize;
  if (flags.batchDelay !== undefined) gateway.batchMaxDelayMs = flags.batchDelay;
  return parseMachineConfig({ ...input, gateway });
}

export function registerGatewayCommand(program: Command): Command {
  const command = program
    .command("gateway")
    .description("run the chain gateway: bids from the durable queue into batched transactions, chain events back to NATS")
    .addOption(natsOption())
    .addOption(natsUserOption())
    .addOption(natsPasswordOption())
    .addOption(rpcOption())
    .addOption(marketOption())
    // No --key-file here, and the key is taken as given: white space around it is refused, not trimmed.
    .addOption(keyOption("the gateway account's private key (pays the gas)", "GRIDVEIL_GATEWAY_KEY", privateKey("--key", { trim: false })))
    .addOption(contractOption("market contract (default: ask the DSO)"))
    .addOption(dataDirOption("where the chain cursor and the span file live"))
    .addOption(configOption())
    .addOption(new Option("--batch-size <n>", "flush a batch at this many bids").argParser(positiveInt("--batch-size", 1, 256)))
    .addOption(new Option("--batch-delay <ms>", "…or this long after its first bid").argParser(positiveInt("--batch-delay", 0, MAX_MS)))
    .addOption(new Option("--start-block <n>", "follow from this block when no cursor is saved (default: deployment block)").argParser(positiveInt("--start-block", 0)))
    .addOption(new Option("--ack-wait <ms>", "ack wait of the bids consumer (redelivery after a crash)").argParser(positiveInt("--ack-wait", 100, MAX_MS)))
    .addOption(new Option("--poll-interval <ms>", "chain polling interval").argParser(positiveInt("--poll-interval", 10, 60_000)))
    .addOption(new Option("--gas-limit <gas>", "gas limit per transaction (default: the block gas limit)").argParser(gasLimit))
    .addOption(
      new Option("--tx-max-bids <n>", "bids per transaction: a larger batch goes out as several pipelined transactions (default: one per batch)")
        .env("GRIDVEIL_GATEWAY_TX_MAX_BIDS")
        .argParser(positiveInt("--tx-max-bids", 1, 256)),
    )
    .option("--no-count-compares", "do not trace transactions to count their Compares (faster on a busy node)")
    .addOption(inspectOption())
    .action(async (flags: GatewayFlags) => runGateway(flags));
  return exitTwoOnUsageError(command);
}

async function runGateway(flags: GatewayFlags): Promise<void> {
  if (flags.key === undefined) {
    throw new ConfigError("the gateway needs its account's private key", { hint: "--key 0x… or GRIDVEIL_GATEWAY_KEY" });
  }
  const config = machineConfigOf(flags);
  const natsCredentials = natsCredentialsOf(flags);
  const dataDir = partyDataDir(flags, "gateway");
  const logger = createLogger({ actor: "gateway", market: flags.market });
  const inspector = await connectInspectorFlag(flags.inspect);
  const telemetry = startPartyTelemetry("gateway", flags.market, dataDir);

  // A signal while starting aborts the start (the market lookup can wait for the DSO indefinitely).
  const aborter = new AbortController();
  let runtime: GatewayRuntime | undefined;
  const shutdown = handleShutdown({
    logger,
    telemetry,
    stop: async () => {
      aborter.abort();
      await runtime?.stop();
      inspector?.stop();
    },
  });

  try {
    runtime = await startGatewayRuntime({
      ...(inspector ? { inspect: inspector.inspect } : {}),
      marketId: flags.market,
      natsUrl: flags.nats,
      ...natsCredentials,
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
      txMaxBids: flags.txMaxBids,
      countCompares: flags.countCompares,
      signal: aborter.signal,
    });
  } catch (error) {
    // A signal during start: the shutdown exits 0 (and shuts telemetry down itself).
    if (error instanceof StartAbortedError) return untilExit();
    await telemetry.shutdown().catch(() => undefined);
    throw error;
  }
  // A signal that arrived while starting: stop what just started.
  if (shutdown.exiting) await runtime.stop();
  // Run until a signal: the shutdown exits.
  return untilExit();
}
