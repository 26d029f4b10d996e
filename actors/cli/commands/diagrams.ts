// `gridveil diagrams`: writes every protocol machine as a Mermaid state diagram, generated from its definition.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { renderMachineDocs, withReadmeMachines } from "../../diagrams/machineDocs.ts";
import { diagramsDefaults } from "../../config/tools.ts";
import { DiagramsOutOfDateError } from "../errors.ts";

/** Files under `dir` whose content differs from what the machines generate now (missing files included). */
export function staleDiagramFiles(dir: string, files: ReadonlyMap<string, string> = renderMachineDocs()): string[] {
  const stale: string[] = [];
  for (const [name, content] of files) {
    let current: string | undefined;
    try {
      current = readFileSync(join(dir, name), "utf8");
    } catch {
      current = undefined;
    }
    if (current !== content) stale.push(name);
  }
  return stale;
}

/** True when the README's machine block is not what the machines generate now (throws when it has no markers). */
export function readmeMachinesStale(readmePath: string): boolean {
  const current = readFileSync(readmePath, "utf8");
  return withReadmeMachines(current) !== current;
}

export function registerDiagramsCommand(program: Command): void {
  program
    .command("diagrams")
    .description("write each machine (dso, tradeSettlement, meter, bidSession, gateway) as a Mermaid stateDiagram-v2")
    .option("--out <dir>", "directory for <machine>.mmd and README.md", diagramsDefaults.dir)
    .option("--readme <file>", "README whose <!-- machines:start/end --> block shows the diagrams", diagramsDefaults.readme)
    .option("--check", "write nothing; exit 1 when the files in --out or the README block are not what the machines generate")
    .action((options: { out: string; readme: string; check?: boolean }) => {
      const dir = resolve(options.out);
      const readmePath = resolve(options.readme);
      const files = renderMachineDocs();
      if (options.check) {
        const stale = staleDiagramFiles(dir, files);
        if (readmeMachinesStale(readmePath)) stale.push(options.readme);
        if (stale.length > 0) {
          throw new DiagramsOutOfDateError({ dir: options.out, stale });
        }
        process.stdout.write(`diagrams in ${options.out} and ${options.readme} are up to date (${files.size} files)\n`);
        return;
      }
      // The README first: without its markers nothing is written.
      const readme = withReadmeMachines(readFileSync(readmePath, "utf8"));
      mkdirSync(dir, { recursive: true });
      for (const [name, content] of files) writeFileSync(join(dir, name), content);
      writeFileSync(readmePath, readme);
      process.stdout.write(`wrote ${[...files.keys()].map((name) => join(options.out, name)).join(", ")}, ${options.readme}\n`);
    });
}
