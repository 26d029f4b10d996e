// Errors of the market demo: each builds its message from the facts of the failure (protocol/base/errors.ts). Missing
// keys for an external chain are a configuration error (MissingSettingError).
import { GridveilError, errorClass } from "../../protocol/base/errors.ts";

/** The family of the demo's own failures. */
export class DemoError extends GridveilError {}

/** A round (or the wait for the last trades, without `round`) did not come to rest in time. */
export class MarketNotSettledError extends errorClass(DemoError, (params: { round?: number; timeoutMs: number }) => {
  const what = params.round === undefined ? "the last trades" : `round ${params.round}`;
  return [
    `the market did not settle ${what} within ${params.timeoutMs} ms`,
    {
      hint: "raise --round-timeout, or look at the actors' logs with GRIDVEIL_LOG_LEVEL=info",
    },
  ];
}) {}

/** A setting of the day demo that cannot make a day of slots. */
export class DayDemoSettingError extends errorClass(DemoError, (params: { setting: string; value: unknown; expected: string }) => [
  `${params.setting} cannot make a day of delivery slots`,
  { value: params.value, hint: `expected ${params.expected}` },
]) {}
