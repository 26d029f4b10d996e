// The `gridveil` command line: one program, one subcommand per job (benchmarks, actors, demo, tools).
import { Command, CommanderError } from "commander";
import { GridveilError } from "../../protocol/base/errors.ts";
import { registerBenchCommands } from "./commands/bench.ts";
import { registerDiagramsCommand } from "./commands/diagrams.ts";
import { registerDsoCommand } from "./commands/dso.ts";
import { registerGatewayCommand } from "./commands/gateway.ts";
import { registerMeterCommand } from "./commands/meter.ts";
import { registerDemoCommand } from "./commands/demo.ts";
import { registerTraceCommand } from "./commands/trace.ts";
import { registerWatchCommand } from "./commands/watch.ts";
import { registerMarketCommand } from "./commands/market.ts";

const program = new Command()
  .name("gridveil")
  .description("Privacy-preserving P2P energy market: encrypted bids matched on chain with FHIPE on BN254")
  .showHelpAfterError()
  .exitOverride();

registerBenchCommands(program);
registerDiagramsCommand(program);
registerDsoCommand(program);
registerGatewayCommand(program);
registerMeterCommand(program);
registerDemoCommand(program);
registerTraceCommand(program);
registerWatchCommand(program);
registerMarketCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  if (error instanceof GridveilError) {
    process.stderr.write(`gridveil: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
