// `gridveil trace <tradeId>`: one trade, end to end, as a terminal waterfall (or JSON), from the span file or Jaeger.
import { join } from "node:path";
import type { Command } from "commander";
import { InvalidSettingError } from "../../../protocol/base/errors.ts";
import { TradeNotTracedError } from "../errors.ts";
import { readSpanFile } from "../../telemetry/readSpans.ts";
import { SPAN_FILE_NAME } from "../../telemetry/telemetry.ts";
import { fetchTradeSpansFromJaeger } from "../../trace/jaeger.ts";
import { tradeIdsIn, tradeSpans } from "../../trace/tradeSpans.ts";
import { renderWaterfall } from "../../trace/waterfall.ts";
import { demoDefaults } from "../../config/tools.ts";

export function registerTraceCommand(program: Command): void {
  program
    .command("trace")
    .description("show one trade end to end (both bids' traces and the trade's) as a waterfall")
    .argument("<tradeId>", "trade id (bytes32 hex, printed by `gridveil demo`)")
    .option("--spans <file>", "span file to read", join(demoDefaults.dataDir, SPAN_FILE_NAME))
    .option("--jaeger <url>", "read from a Jaeger query API instead (e.g. http://localhost:16686)")
    .option("--json", "print {\"spans\":[…]} instead of the waterfall")
    .action(async (tradeId: string, options: { spans: string; jaeger?: string; json?: boolean }) => {
      if (!/^0x[0-9a-fA-F]{64}$/.test(tradeId)) {
        throw new InvalidSettingError({ setting: "<tradeId>", expected: "a 0x-prefixed 32-byte hex string", value: tradeId });
      }
      let spans;
      if (options.jaeger) {
        spans = await fetchTradeSpansFromJaeger(options.jaeger, tradeId);
      } else {
        const all = readSpanFile(options.spans);
        spans = tradeSpans(all, tradeId);
        if (spans.length === 0) {
          throw new TradeNotTracedError({ tradeId, spanFile: options.spans, knownTrades: tradeIdsIn(all).slice(0, 3) });
        }
      }
      if (spans.length === 0) throw new TradeNotTracedError({ tradeId, jaeger: true });
      if (options.json) process.stdout.write(`${JSON.stringify({ spans })}\n`);
      else process.stdout.write(`${renderWaterfall(spans)}\n`);
    });
}
