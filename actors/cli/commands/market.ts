// `gridveil market up|down`: a market of separate processes on this machine (infra/market.ts), without containers.
import type { Command } from "commander";
import { marketDown, marketUp, type MarketFile } from "../../../infra/market.ts";
import { PLAN_ROUNDS } from "../../../infra/provision.ts";
import { positiveInt } from "../../config/parsers.ts";
import { marketDefaults } from "../../config/tools.ts";

type UpFlags = { meters: number; rounds: number; dir: string; natsPort?: number; rpcPort?: number; seed?: string; json?: boolean };

const log = (line: string): void => void process.stderr.write(`gridveil market: ${line}\n`);

export function registerMarketCommand(program: Command): void {
  const market = program
    .command("market")
    .description("run a market as separate processes (nats-server, chain, DSO, gateway, meters) from one directory");
  market
    .command("up")
    .description("provision into --dir (NATS users and config, registry, meter identities and plans) and start every party")
    .option("--meters <n>", "prosumer meters, each a process", positiveInt("--meters", 1, 64), marketDefaults.meters)
    .option("--rounds <r>", "trading rounds of every meter's plan (15-minute intervals over the day)", positiveInt("--rounds", 1, 96), PLAN_ROUNDS)
    .option("--dir <dir>", "provisioning, JetStream store, data, logs and market.json", marketDefaults.dir)
    .option("--nats-port <port>", "nats-server's client port (default: a free one)", positiveInt("--nats-port", 1, 65_535))
    .option("--rpc-port <port>", "the chain's JSON-RPC port (default: a free one)", positiveInt("--rpc-port", 1, 65_535))
    .option("--seed <secret>", "seed of the generated credentials (default: the development seed)")
    .option("--json", "print market.json instead of a summary")
    .action(async (flags: UpFlags) => {
      const started = await marketUp({
        dir: flags.dir,
        meters: flags.meters,
        rounds: flags.rounds,
        natsPort: flags.natsPort,
        rpcPort: flags.rpcPort,
        seed: flags.seed,
        onProgress: log,
      });
      process.stdout.write(flags.json ? `${JSON.stringify(started)}\n` : `${summary(started)}\n`);
    });
  market
    .command("down")
    .description("stop every process of the market started from --dir (SIGTERM, then SIGKILL after a grace period)")
    .option("--dir <dir>", "the directory of `market up`", marketDefaults.dir)
    .action(async (flags: { dir: string }) => {
      const stopped = await marketDown({ dir: flags.dir, onProgress: log });
      process.stdout.write(
        `stopped ${stopped.length} process${stopped.length === 1 ? "" : "es"}${stopped.length ? `: ${stopped.join(", ")}` : ""}\n`,
      );
    });
}

function summary(file: MarketFile): string {
  return [
    `market ${file.market} runs from ${file.dir}`,
    `  NATS ${file.natsUrl} · chain ${file.rpcUrl} · DSO database ${file.dsoDatabase}`,
    ...file.processes.map((entry) => `  ${entry.name.padEnd(10)} pid ${String(entry.pid).padEnd(8)} ${entry.log}`),
    `stop it with: gridveil market down --dir ${file.dir}`,
  ].join("\n");
}
