// Errors of the `gridveil` commands: each builds its message from the facts of the failure (protocol/base/errors.ts).
// Bad flags and files are the configuration family of protocol/base/errors.ts; these are the commands' own.
import { ConfigError, GridveilError, errorClass } from "../../protocol/base/errors.ts";

/** `--key-file` names a file that cannot be read. */
export class KeyFileUnreadableError extends errorClass(ConfigError, (params: { path: string; cause: unknown }) => [
  "cannot read the --key-file",
  { value: params.path, cause: params.cause },
]) {}

/** `gridveil diagrams --check`: the generated files or the README block differ from what the machines generate. */
export class DiagramsOutOfDateError extends errorClass(GridveilError, (params: { dir: string; stale: readonly string[] }) => [
  `machine diagrams out of date in ${params.dir}: ${params.stale.join(", ")}`,
  {
    hint: "run `npm run gridveil -- diagrams` and commit the result",
  },
]) {}

/** `gridveil trace`: no span of the trade where we looked (`knownTrades`: some trades the span file does hold). */
export class TradeNotTracedError extends GridveilError {
  constructor(params: { tradeId: string; spanFile: string; knownTrades: readonly string[] } | { tradeId: string; jaeger: true }) {
    if ("jaeger" in params) super(`Jaeger has no spans of trade ${params.tradeId}`);
    else {
      super(`no spans of trade ${params.tradeId} in ${params.spanFile}`, {
        hint: params.knownTrades.length > 0 ? `trades in this file include ${params.knownTrades.join(", ")}` : "the file holds no trade yet",
      });
    }
  }
}
