// `gridveil dso`: runs the DSO (utility) as its own process (flags or environment), stopping gracefully on SIGTERM.
import { Command, InvalidArgumentError, Option } from "commander";
import { loadRegistryFile, type ProvisionedMeter } from "../../dso/registry.ts";
import { startDsoRuntime, type DsoRuntime } from "../../dso/runtime.ts";
import { parseMarketConfig, type MarketConfig, clearingRuleSchema, type ClearingRule } from "../../../protocol/marketConfig.ts";
import { createLogger } from "../../telemetry/logger.ts";
import { positiveInt } from "../../config/parsers.ts";
import {
  configOption,
  connectInspectorFlag,
  contractOption,
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

type DsoFlags = PartyFlags &
  KeyFlags & {
    contract?: string;
    registry?: string;
    levels?: number;
    clearingRule?: ClearingRule;
    marketConfig?: string;
  };

/** d = n + 1 ≤ 127 (one ciphertext must fit the contract's limits, docs/contract.md). */
const MAX_LEVELS = 126;

function clearingRule(raw: string): ClearingRule {
  const parsed = clearingRuleSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidArgumentError(`--clearing-rule must be midpoint, seller or buyer, got "${raw}"`);
  return parsed.data;
}

/** `--market-config FILE` (JSON, protocol/marketConfig.ts), then `--levels` and `--clearing-rule` on top. */
export function marketConfigOf(flags: Pick<DsoFlags, "marketConfig" | "levels" | "clearingRule">): MarketConfig {
  const input = (flags.marketConfig === undefined ? {} : readJsonFile("--market-config", flags.marketConfig, "a JSON object of marketConfig.ts fields")) as Record<string, unknown>;
  const priceLevels = { ...((input.priceLevels as Record<string, unknown> | undefined) ?? {}) };
  if (flags.levels !== undefined) priceLevels.count = flags.levels;
  return parseMarketConfig({ ...input, priceLevels, ...(flags.clearingRule ? { clearingRule: flags.clearingRule } : {}) });
}

export function registerDsoCommand(program: Command): Command {
  const command = program
    .command("dso")
    .description("run the DSO: FHIPE setup, market contract, enrolment and tickets, verification and settlement of trades")
    .addOption(natsOption())
    .addOption(natsUserOption())
    .addOption(natsPasswordOption())
    .addOption(rpcOption())
    .addOption(marketOption())
    .addOption(keyOption("the DSO's private key (deploys, signs tickets)", "GRIDVEIL_DSO_KEY"))
    .addOption(keyFileOption("file holding the DSO's private key", "GRIDVEIL_DSO_KEY_FILE"))
    .addOption(dataDirOption("database (dso.sqlite), master key (msk.bin) and span file"))
    .addOption(contractOption("attach to this market contract (default: the recorded one, else deploy)"))
    .addOption(new Option("--registry <file>", 'provisioned meters: JSON [{ "meterId", "address", "name" }]').env("GRIDVEIL_REGISTRY"))
    .addOption(new Option("--levels <n>", "price levels n (d = n + 1)").env("GRIDVEIL_LEVELS").argParser(positiveInt("--levels", 2, MAX_LEVELS)))
    .addOption(new Option("--clearing-rule <rule>", "midpoint, seller or buyer").env("GRIDVEIL_CLEARING_RULE").argParser(clearingRule))
    .addOption(new Option("--market-config <file>", "market economics (JSON, protocol/marketConfig.ts)").env("GRIDVEIL_MARKET_CONFIG"))
    .addOption(configOption())
    .addOption(inspectOption())
    .action(async (flags: DsoFlags) => runDso(flags));
  return exitTwoOnUsageError(command);
}

async function runDso(flags: DsoFlags): Promise<void> {
  // Everything that can be wrong with the flags fails here, before anything starts.
  const dsoPrivateKey = privateKeyOf(flags, {
    party: "DSO",
    message: "the DSO needs its private key (deployer and ticket signer)",
    hint: "--key-file FILE, or GRIDVEIL_DSO_KEY=0x… (or --key 0x…)",
  });
  const market = marketConfigOf(flags);
  const natsCredentials = natsCredentialsOf(flags);
  const config = loadMachineConfig(flags.config);
  const registry: ProvisionedMeter[] = flags.registry === undefined ? [] : loadRegistryFile(flags.registry);
  const dataDir = partyDataDir(flags, "dso");
  const logger = createLogger({ actor: "dso", market: flags.market });
  if (registry.length === 0) logger.warn({}, "no provisioned meters (--registry): no meter can enrol");
  const inspector = await connectInspectorFlag(flags.inspect);
  const telemetry = startPartyTelemetry("dso", flags.market, dataDir);

  let runtime: DsoRuntime | undefined;
  const shutdown = handleShutdown({
    logger,
    telemetry,
    stop: async () => {
      await runtime?.stop();
      inspector?.stop();
    },
  });

  try {
    runtime = await startDsoRuntime({
      ...(inspector ? { inspect: inspector.inspect } : {}),
      marketId: flags.market,
      natsUrl: flags.nats,
      ...natsCredentials,
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
    // A signal during start: the shutdown exits 0.
    return shutdown.startFailed(error);
  }
  process.stdout.write(
    `${JSON.stringify({ dso: runtime.dso.address, contract: runtime.market.contractAddress, chainId: runtime.market.chainId, market: flags.market })}\n`,
  );
  if (shutdown.exiting) await runtime.stop();
  // Run until a signal: the shutdown exits.
  return untilExit();
}
