// `gridveil gateway`: runs the chain gateway as its own process (flags or environment), stopping gracefully on SIGTERM.
// Its flags, variables and defaults are actors/config/gateway.ts.
import type { Command } from "commander";
import { parseMachineConfig, type MachineConfig } from "../../../machines/config.ts";
import { MissingSettingError } from "../../../protocol/base/errors.ts";
import { gatewaySettings } from "../../config/gateway.ts";
import { startGatewayRuntime, type GatewayRuntime } from "../../gateway/runtime.ts";
import { registerPartyCommand, readMachineConfigInput, runParty, type PartyFlags } from "../partyProcess.ts";

type GatewayFlags = PartyFlags & {
  key?: string;
  contract?: string;
  batchSize?: number;
  batchDelay?: number;
  startBlock?: number;
  ackWait: number;
  pollInterval: number;
  gasLimit?: bigint;
  txMaxBids?: number;
  countCompares: boolean;
};

/** The machine configuration: `--config FILE` (JSON, `MachineConfigInput`), then the gateway flags on top. */
function machineConfigOf(flags: GatewayFlags): MachineConfig {
  const input = readMachineConfigInput(flags.config);
  const gateway = { ...(input.gateway ?? {}) };
  if (flags.batchSize !== undefined) gateway.batchMaxSize = flags.batchSize;
  if (flags.batchDelay !== undefined) gateway.batchMaxDelayMs = flags.batchDelay;
  return parseMachineConfig({ ...input, gateway });
}

export function registerGatewayCommand(program: Command): Command {
  const description = "run the chain gateway: bids from the durable queue into batched transactions, chain events back to NATS";
  return registerPartyCommand<GatewayFlags>(program, "gateway", description, gatewaySettings, runGateway);
}

async function runGateway(flags: GatewayFlags): Promise<void> {
  if (flags.key === undefined) {
    throw new MissingSettingError({ who: "the gateway", setting: "its account's private key", hint: "--key 0x… or GRIDVEIL_GATEWAY_KEY" });
  }
  const gatewayPrivateKey = flags.key;
  const config = machineConfigOf(flags);
  // A signal while starting aborts the start (the market lookup can wait for the DSO indefinitely).
  return runParty<GatewayRuntime>({
    actor: "gateway",
    flags,
    dataDirName: "gateway",
    start: (basics) =>
      startGatewayRuntime({
        ...basics,
        gatewayPrivateKey,
        contractAddress: flags.contract,
        config,
        startBlock: flags.startBlock,
        ackWaitMs: flags.ackWait,
        pollIntervalMs: flags.pollInterval,
        gasLimit: flags.gasLimit,
        txMaxBids: flags.txMaxBids,
        countCompares: flags.countCompares,
      }),
    // A failed machine decides nothing more: stop (its deliveries go back to the queue) and exit 1 for a supervisor.
    started: (runtime, shutdown) => runtime.events.once("failed", () => shutdown.begin("the gateway machine failed", 1)),
  });
}
