// `gridveil demo`: a whole market on the embedded default, with live progress and a summary (or --json).
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { runDemo, type DemoProgress, type DemoSummary } from "../../demo/runDemo.ts";
import { positiveInt } from "../../config/parsers.ts";
import { renderTable } from "../table.ts";
import { demoDefaults } from "../../config/tools.ts";

type DemoFlags = {
  meters: number;
  rounds: number;
  levels: number;
  seed: number;
  rpc?: string;
  nats?: string;
  dataDir: string;
  roundTimeout: number;
  json?: boolean;
};

export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("run a whole market: nats-server, a local chain, the DSO, the gateway and N prosumer meters")
    .option("--meters <n>", "number of prosumer meters", positiveInt("--meters", 2, 200), demoDefaults.meters)
    .option("--rounds <r>", "trading rounds (15-minute intervals from 6:00 to 22:00)", positiveInt("--rounds", 1, 96), demoDefaults.rounds)
    .option("--levels <n>", "price levels n (FHIPE dimension n + 1)", positiveInt("--levels", 2, 100), demoDefaults.levels)
    .option("--seed <s>", "seed of the prosumer profiles and meter keys", positiveInt("--seed", 0), demoDefaults.seed)
    .option("--rpc <url>", "use this Ethereum JSON-RPC node instead of starting one (needs GRIDVEIL_DSO_KEY, GRIDVEIL_GATEWAY_KEY)")
    .option("--nats <url>", "use this NATS server instead of starting one (default: $NATS_URL)")
    .option("--data-dir <dir>", "span file, DSO database and gateway cursor", demoDefaults.dataDir)
    .option("--round-timeout <ms>", "give up when a round does not settle in this time", positiveInt("--round-timeout", 1_000), demoDefaults.roundTimeoutMs)
    .option("--json", "print one JSON object instead of tables")
    .action(async (flags: DemoFlags) => {
      const bar = process.stderr.isTTY && !flags.json ? progressBar(flags.rounds) : null;
      let lastLine = "";
      const onProgress = (p: DemoProgress) => {
        const line = `${p.phase} round ${p.round}/${p.rounds} · bids ${p.submitted} submitted, ${p.placed} placed · matches ${p.matches} · settled ${p.settled} · voided ${p.voided}`;
        if (bar) bar.update(p.round, { status: line });
        else if (line !== lastLine && !flags.json && p.phase !== "trading") process.stderr.write(`gridveil demo: ${line}\n`);
        lastLine = line;
      };
      let summary: DemoSummary;
      try {
        summary = await runDemo({
          meters: flags.meters,
          rounds: flags.rounds,
          levels: flags.levels,
          seed: flags.seed,
          rpcUrl: flags.rpc,
          natsUrl: flags.nats,
          dataDir: flags.dataDir,
          roundTimeoutMs: flags.roundTimeout,
          onProgress,
        });
      } finally {
        bar?.stop();
      }
      if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else process.stdout.write(`${renderSummary(summary)}\n`);
    });
}

function progressBar(rounds: number): SingleBar {
  const bar = new SingleBar({ format: "{bar} {status}", barsize: 20, hideCursor: true, stream: process.stderr, clearOnComplete: true });
  bar.start(rounds, 0, { status: "starting" });
  return bar;
}

const euros = (micro: number) => (micro / 1_000_000).toFixed(2);

export function renderSummary(summary: DemoSummary): string {
  const headline = renderTable(
    [
      ["market", summary.marketId],
      ["meters × rounds, levels", `${summary.meters} × ${summary.rounds}, n = ${summary.levels}`],
      ["bids placed on chain", summary.bids],
      ["matches", summary.matches],
      ["trades verified and settled", summary.tradesSettled],
      ["voided matches", summary.voided],
      ["disputed", summary.disputed],
      ["energy traded", `${(summary.energyWh / 1000).toFixed(2)} kWh`],
      ["ledger balanced", summary.ledgerBalanced ? "yes" : "NO"],
      ["transactions, gas", `${summary.transactions}, ${Number(summary.gasUsed).toLocaleString("en-US")}`],
      ["duration", `${(summary.durationMs / 1000).toFixed(1)} s`],
    ] as [string, string | number][],
    [
      { header: "summary", value: (row) => row[0], align: "left" },
      { header: "", value: (row) => row[1], align: "left" },
    ],
  );
  const bills = renderTable(summary.bills, [
    { header: "account", value: (bill) => bill.meterId, align: "left" },
    { header: "prosumer", value: (bill) => bill.name, align: "left" },
    { header: "period", value: (bill) => bill.period, align: "left" },
    { header: "trades", value: (bill) => bill.trades },
    { header: "balance €", value: (bill) => euros(bill.totalMicro) },
  ]);
  const latency = renderTable(Object.entries(summary.latencyMs), [
    { header: "stage (span)", value: ([stage]) => stage, align: "left" },
    { header: "count", value: ([, l]) => l.count },
    { header: "p50 ms", value: ([, l]) => l.p50 },
    { header: "p90 ms", value: ([, l]) => l.p90 },
    { header: "p99 ms", value: ([, l]) => l.p99 },
    { header: "max ms", value: ([, l]) => l.max },
  ]);
  const tryTrace = summary.sampleTradeId
    ? `Follow one trade end to end:\n  npm run gridveil -- trace ${summary.sampleTradeId} --spans ${summary.dataDir}/spans.jsonl`
    : "No trade settled in this run.";
  return [headline, "", "Bills (positive = credit, negative = owed)", bills, "", "Latency per stage", latency, "", tryTrace].join("\n");
}

