// `gridveil dso`: runs the DSO (utility) as its own process (flags or environment), stopping gracefully on SIGTERM.
// Its flags, variables and defaults are actors/config/dso.ts.
import type { Command } from "commander";
import { checkLevelsForDesign, dsoSettings, slotMarketOf, type SlotSettings } from "../../config/dso.ts";
import { InvalidSettingError } from "../../../protocol/base/errors.ts";
import { BlockWidthError } from "../../../protocol/encoding/errors.ts";
import { MAX_BLOCK_WIDTH } from "../../../protocol/encoding/blockTokens.ts";
import type { MarketDesign } from "../../chain/marketLog.ts";
import { loadRegistryFile, type ProvisionedMeter } from "../../dso/registry.ts";
import { startDsoRuntime, type DsoRuntime } from "../../dso/runtime.ts";
import { parseMarketConfig, type ClearingRule, type MarketConfig } from "../../../protocol/marketConfig.ts";
import { registerPartyCommand, loadMachineConfig, runParty, privateKeyOf, readJsonFile, type KeyFlags, type PartyFlags } from "../partyProcess.ts";

type DsoFlags = PartyFlags &
  KeyFlags & {
    contract?: string;
    registry?: string;
    levels?: number;
    clearingRule?: ClearingRule;
    marketConfig?: string;
    streamReplicas?: number;
    design: MarketDesign;
    vaultKey?: string;
    vaultKeyFile?: string;
  } & SlotSettings;

/** `--market-config FILE` (JSON, protocol/marketConfig.ts), then `--levels` and `--clearing-rule` on top. */
export function marketConfigOf(flags: Pick<DsoFlags, "marketConfig" | "levels" | "clearingRule">): MarketConfig {
  const input = (flags.marketConfig === undefined ? {} : readJsonFile("--market-config", flags.marketConfig, "a JSON object of marketConfig.ts fields")) as Record<string, unknown>;
  const priceLevels = { ...((input.priceLevels as Record<string, unknown> | undefined) ?? {}) };
  if (flags.levels !== undefined) priceLevels.count = flags.levels;
  return parseMarketConfig({ ...input, priceLevels, ...(flags.clearingRule ? { clearingRule: flags.clearingRule } : {}) });
}

export function registerDsoCommand(program: Command): Command {
  const description =
    "run the DSO: FHIPE setup (version 2: epoch keys), market contract, enrolment and tickets (version 2: certified bids and hints), terms and settlement of trades";
  return registerPartyCommand<DsoFlags>(program, "dso", description, dsoSettings, runDso);
}

async function runDso(flags: DsoFlags): Promise<void> {
  // Everything that can be wrong with the flags fails here, before anything starts.
  const dsoPrivateKey = privateKeyOf(flags, {
    party: "DSO",
    key: "its private key (deployer and ticket signer)",
    hint: "--key-file FILE, or GRIDVEIL_DSO_KEY=0x… (or --key 0x…)",
  });
  const market = marketConfigOf(flags);
  checkLevelsForDesign(flags.design, market.priceLevels.count);
  const { width, encryptAt, slotSeconds, gateClosureSeconds, epochSlots, epochKeyRetentionSeconds } = flags;
  if (flags.design === "v2") {
    try {
      slotMarketOf({ width, encryptAt, slotSeconds, gateClosureSeconds, epochSlots, epochKeyRetentionSeconds }, market.priceLevels.count);
    } catch (cause) {
      if (cause instanceof BlockWidthError) throw new InvalidSettingError({ setting: "--width", expected: `at most ${Math.min(MAX_BLOCK_WIDTH, Math.ceil(Math.log2(market.priceLevels.count)))} bits for ${market.priceLevels.count} levels`, value: width, cause });
      throw cause;
    }
  }
  const config = loadMachineConfig(flags.config);
  const registry: ProvisionedMeter[] = flags.registry === undefined ? [] : loadRegistryFile(flags.registry);
  return runParty<DsoRuntime>({
    actor: "dso",
    flags,
    dataDirName: "dso",
    warnings: registry.length === 0 ? ["no provisioned meters (--registry): no meter can enrol"] : [],
    start: (basics) =>
      startDsoRuntime({
        ...basics,
        dsoPrivateKey,
        contractAddress: flags.contract,
        market,
        registry,
        config,
        design: flags.design,
        width,
        encryptAt,
        slotSeconds,
        gateClosureSeconds,
        epochSlots,
        epochKeyRetentionSeconds,
        vaultKey: flags.vaultKey,
        vaultKeyFile: flags.vaultKeyFile,
        ...(flags.streamReplicas === undefined ? {} : { streams: { replicas: flags.streamReplicas } }),
      }),
    started: (runtime) =>
      process.stdout.write(
        `${JSON.stringify({ dso: runtime.dso.address, contract: runtime.market.contractAddress, chainId: runtime.market.chainId, market: flags.market, design: flags.design })}\n`,
      ),
  });
}
