// `gridveil bench …`: benchmark commands; each prints a table, or one JSON object with --json.
import type { Command } from "commander";
import { registerBenchFhipe } from "./benchFhipe.ts";
import { registerBenchGas } from "./benchGas.ts";
import { registerBenchThroughput } from "./benchThroughput.ts";
import { registerBenchLoad } from "./benchLoad.ts";
import { registerBenchSoak } from "./benchSoak.ts";
import { registerBenchLeakage } from "./benchLeakage.ts";
import { registerBenchHints } from "./benchHints.ts";

export function registerBenchCommands(program: Command): Command {
  const bench = program.command("bench").description("measure crypto, gas, leakage, hints, throughput, load and a soak under faults (tables, or --json)");
  // Each benchmark registers itself here, one line each:
  registerBenchFhipe(bench);
  registerBenchGas(bench);
  registerBenchLeakage(bench);
  registerBenchHints(bench);
  registerBenchThroughput(bench);
  registerBenchLoad(bench);
  registerBenchSoak(bench);
  return bench;
}
