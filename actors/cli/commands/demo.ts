// `gridveil demo`: a whole market on the embedded default, with live progress and a summary (or --json).
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { InvalidSettingError } from "../../../protocol/base/errors.ts";
import { runDemo, type DemoProgress, type DemoSummary } from "../../demo/runDemo.ts";
import { runDay, type DayProgress, type DaySummary } from "../../demo/runDay.ts";
import { positiveInt } from "../../config/parsers.ts";
import { renderTable } from "../table.ts";
import { dayDemoDefaults, demoDefaults } from "../../config/tools.ts";

type DemoFlags = {
  design: "v1" | "v2";
  meters: number;
  rounds: number;
  slots: number;
  levels?: number;
  width: number;
  encryptAt: "dso" | "meter";
  daySeconds: number;
  seed: number;
  rpc?: string;
  nats?: string;
  dataDir: string;
  roundTimeout: number;
  json?: boolean;
};

function choice<T extends string>(flag: string, values: readonly T[]) {
  return (raw: string): T => {
    if (!(values as readonly string[]).includes(raw)) throw new InvalidArgumentError(`${flag} must be ${values.join(" or ")}, got "${raw}"`);
    return raw as T;
  };
}

export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description(
      "run a whole market: nats-server, a local chain, the DSO, the gateway and N prosumer meters — by default a day of delivery slots (version 2) in compressed time",
    )
    .option("--design <v>", "v2: a day of delivery slots (certified bids, slot market); v1: the paper's rounds (unary encoding)", choice("--design", ["v1", "v2"] as const), "v2")
    .option("--meters <n>", "number of prosumer meters", positiveInt("--meters", 2, 200), dayDemoDefaults.meters)
    .option("--slots <n>", "v2: delivery slots of the day (96 = 15 minutes; must divide the day into whole seconds)", positiveInt("--slots", 1, 144), dayDemoDefaults.slots)
    .option("--levels <n>", `price levels n (v2: default ${dayDemoDefaults.levels}, up to 1,024; v1: default ${demoDefaults.levels}, up to 100)`, positiveInt("--levels", 2, 1024))
    .option("--width <w>", "v2: block width w of the encoding (dimension 2^w + 1)", positiveInt("--width", 1, 8), dayDemoDefaults.width)
    .option("--encrypt-at <party>", "v2: dso (the DSO encrypts certified bids) or meter (the paper's mode: the meter encrypts, the DSO checks)", choice("--encrypt-at", ["dso", "meter"] as const), dayDemoDefaults.encryptAt)
    .option("--day-seconds <s>", "v2: wall seconds the day's 24 hours take (compressed time)", positiveInt("--day-seconds", 5, 86_400), dayDemoDefaults.daySeconds)
    .option("--rounds <r>", "v1: trading rounds (15-minute intervals from 6:00 to 22:00)", positiveInt("--rounds", 1, 96), demoDefaults.rounds)
    .option("--seed <s>", "seed of the prosumer profiles and meter keys", positiveInt("--seed", 0), demoDefaults.seed)
    .option("--rpc <url>", "use this Ethereum JSON-RPC node instead of starting one (needs GRIDVEIL_DSO_KEY, GRIDVEIL_GATEWAY_KEY; v2 moves its clock)")
    .option("--nats <url>", "use this NATS server instead of starting one (default: $NATS_URL)")
    .option("--data-dir <dir>", "span file, DSO database and gateway cursor", demoDefaults.dataDir)
    .option("--round-timeout <ms>", "give up when a round (v1) or the day (v2) does not settle in this time", positiveInt("--round-timeout", 1_000), demoDefaults.roundTimeoutMs)
    .option("--json", "print one JSON object instead of tables")
    .action(async (flags: DemoFlags) => {
      if (flags.design === "v1" && flags.levels !== undefined && flags.levels > 100)
        throw new InvalidSettingError({ setting: "--levels", expected: "at most 100 with --design v1 (its unary ciphertexts grow with n)", value: flags.levels });
      if (flags.design === "v2") return runDayCommand(flags);
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
          levels: flags.levels ?? demoDefaults.levels,
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

async function runDayCommand(flags: DemoFlags): Promise<void> {
  const bar = process.stderr.isTTY && !flags.json ? progressBar(flags.slots) : null;
  let lastPhase = "";
  const onProgress = (p: DayProgress) => {
    const line = `${p.phase} · slot ${Math.max(0, p.slot)}/${p.slots} · bids ${p.submitted} submitted, ${p.placed} placed · matches ${p.matches} · settled ${p.settled}`;
    if (bar) bar.update(Math.max(0, Math.min(p.slot, p.slots)), { status: line });
    else if (p.phase !== lastPhase && !flags.json) process.stderr.write(`gridveil demo: ${line}\n`);
    lastPhase = p.phase;
  };
  let summary: DaySummary;
  try {
    summary = await runDay({
      meters: flags.meters,
      slots: flags.slots,
      levels: flags.levels ?? dayDemoDefaults.levels,
      width: flags.width,
      encryptAt: flags.encryptAt,
      daySeconds: flags.daySeconds,
      seed: flags.seed,
      rpcUrl: flags.rpc,
      natsUrl: flags.nats,
      dataDir: flags.dataDir,
      timeoutMs: flags.roundTimeout,
      onProgress,
    });
  } finally {
    bar?.stop();
  }
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stdout.write(`${renderDaySummary(summary)}\n`);
}

function progressBar(total: number): SingleBar {
  const bar = new SingleBar({ format: "{bar} {status}", barsize: 20, hideCursor: true, stream: process.stderr, clearOnComplete: true });
  bar.start(total, 0, { status: "starting" });
  return bar;
}

const euros = (micro: number) => (micro / 1_000_000).toFixed(2);

function renderBills(bills: DemoSummary["bills"]): string {
  return renderTable(bills, [
    { header: "account", value: (bill) => bill.meterId, align: "left" },
    { header: "prosumer", value: (bill) => bill.name, align: "left" },
    { header: "period", value: (bill) => bill.period, align: "left" },
    { header: "trades", value: (bill) => bill.trades },
    { header: "balance €", value: (bill) => euros(bill.totalMicro) },
  ]);
}

function renderLatency(latencyMs: DemoSummary["latencyMs"]): string {
  return renderTable(Object.entries(latencyMs), [
    { header: "stage (span)", value: ([stage]) => stage, align: "left" },
    { header: "count", value: ([, l]) => l.count },
    { header: "p50 ms", value: ([, l]) => l.p50 },
    { header: "p90 ms", value: ([, l]) => l.p90 },
    { header: "p99 ms", value: ([, l]) => l.p99 },
    { header: "max ms", value: ([, l]) => l.max },
  ]);
}

function traceHint(summary: { sampleTradeId: string | null; dataDir: string }): string {
  return summary.sampleTradeId
    ? `Follow one trade end to end:\n  npm run gridveil -- trace ${summary.sampleTradeId} --spans ${summary.dataDir}/spans.jsonl`
    : "No trade settled in this run.";
}

const ctPerKWh = (micro: number | null) => (micro === null ? "–" : (micro / 10_000).toFixed(2));

export function renderDaySummary(summary: DaySummary): string {
  const headline = renderTable(
    [
      ["market", `${summary.marketId} (version 2, day ${summary.day})`],
      ["meters × slots", `${summary.meters} × ${summary.slots}`],
      ["encoding", `n = ${summary.levels}, w = ${summary.width}, encrypted at the ${summary.encryptAt === "dso" ? "DSO" : "meter"}`],
      ["bids placed on chain", summary.bids],
      ["matches", summary.matches],
      ["trades settled", summary.tradesSettled],
      ["expired at gate closure", summary.expired],
      ["voided, disputed", `${summary.voided}, ${summary.disputed}`],
      ["energy traded", `${(summary.energyWh / 1000).toFixed(2)} kWh`],
      ["ledger balanced", summary.ledgerBalanced ? "yes" : "NO"],
      ["transactions, gas", `${summary.transactions}, ${Number(summary.gasUsed).toLocaleString("en-US")}`],
      ["duration", `${(summary.durationMs / 1000).toFixed(1)} s`],
    ] as [string, string | number][],
    [
      { header: "the day", value: (row) => row[0], align: "left" },
      { header: "", value: (row) => row[1], align: "left" },
    ],
  );
  const slots = renderTable(
    summary.perSlot.filter((slot) => slot.bids > 0),
    [
      { header: "slot", value: (slot) => slot.hour, align: "left" },
      { header: "bids", value: (slot) => slot.bids },
      { header: "matches", value: (slot) => slot.matches },
      { header: "settled", value: (slot) => slot.settled },
      { header: "kWh", value: (slot) => (slot.energyWh / 1000).toFixed(2) },
      { header: "mean ct/kWh", value: (slot) => ctPerKWh(slot.meanPriceMicroPerKWh) },
    ],
  );
  return [
    headline,
    "",
    "Per delivery slot (slots with bids)",
    slots,
    "",
    "Bills (positive = credit, negative = owed)",
    renderBills(summary.bills),
    "",
    "Latency per stage",
    renderLatency(summary.latencyMs),
    "",
    traceHint(summary),
  ].join("\n");
}

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
  return [headline, "", "Bills (positive = credit, negative = owed)", renderBills(summary.bills), "", "Latency per stage", renderLatency(summary.latencyMs), "", traceHint(summary)].join("\n");
}
