// What every `gridveil bench …` command shares: a --levels list, a --json flag, progress on stderr, and one report on
// stdout (a table for people, or one JSON object `{ <bench>: rows }` for machines).
import type { Command } from "commander";
import { intList } from "../../config/parsers.ts";
import { withProgress, type Progress } from "../progress.ts";

export type BenchSpec = {
  name: string;
  description: string;
  /** The price level counts n it accepts, their default, and how --help describes them. */
  levels: { min: number; max: number; defaults: readonly number[]; help: string };
};

/** A bench subcommand with --levels first, the bench's own options (`options`), then --json. */
export function benchCommand(bench: Command, spec: BenchSpec, options: (command: Command) => Command): Command {
  const command = bench
    .command(spec.name)
    .description(spec.description)
    .option("--levels <list>", spec.levels.help, intList("--levels", spec.levels.min, spec.levels.max), [...spec.levels.defaults]);
  return options(command).option("--json", "print one JSON object instead of the table");
}

/** Runs a bench with progress on stderr, then prints `{ [name]: json(rows) }` with --json, else the table. */
export async function runBench<R>(
  name: string,
  flags: { json?: boolean },
  run: (onProgress: Progress["update"]) => Promise<R[]>,
  render: { json: (rows: R[]) => unknown; table: (rows: R[]) => string },
): Promise<void> {
  const rows = await withProgress(`bench ${name}`, run);
  process.stdout.write(flags.json ? `${JSON.stringify({ [name]: render.json(rows) })}\n` : `${render.table(rows)}\n`);
}
