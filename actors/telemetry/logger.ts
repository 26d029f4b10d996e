// Structured JSON-lines logging for every actor (pino), with actor and market on every line.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(bindings: { actor: string; market?: string; [key: string]: unknown }): Logger {
  const level = process.env.GRIDVEIL_LOG_LEVEL ?? (process.env.VITEST ? "silent" : "info");
  return pino({ level, base: bindings }, pino.destination(2));
}
