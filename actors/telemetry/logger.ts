// Structured JSON-lines logging for every actor (pino), with actor and market on every line.
import { pino, type Logger } from "pino";

export type { Logger };

/**
 * `GRIDVEIL_LOG_LEVEL` wins; otherwise `defaultLevel` (info for a standalone actor, warn in the demo, whose own
 * progress and summary are the output) — and silent under vitest.
 */
export function createLogger(
  bindings: { actor: string; market?: string; [key: string]: unknown },
  defaultLevel: "info" | "warn" = "info",
): Logger {
  const level = process.env.GRIDVEIL_LOG_LEVEL ?? (process.env.VITEST ? "silent" : defaultLevel);
  return pino({ level, base: bindings }, pino.destination(2));
}
