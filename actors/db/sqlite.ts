// Loads Node's built-in SQLite (`node:sqlite`, no native addon to build) without its one-time experimental warning.
import type { DatabaseSync } from "node:sqlite";
import { SqliteUnavailableError } from "./errors.ts";

export type SqliteModule = typeof import("node:sqlite");
export type { DatabaseSync };

let loaded: SqliteModule | undefined;

/**
 * `node:sqlite` prints "ExperimentalWarning: SQLite is an experimental feature" when first loaded (Node 22–24). The
 * API we use (DatabaseSync, prepare/run/get/all, exec) is stable in practice, and the warning would land in every
 * actor's output and every CLI run, so exactly that warning is filtered while the module loads; every other
 * warning passes through untouched. The module is loaded lazily (not by a static import) so the filter is in place
 * before Node evaluates it.
 */
export function loadSqlite(): SqliteModule {
  if (loaded) return loaded;
  const original = process.emitWarning;
  const filtered = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]): void {
    const text = typeof warning === "string" ? warning : warning.message;
    const type = typeof rest[0] === "string" ? rest[0] : typeof warning === "string" ? undefined : warning.name;
    if (type === "ExperimentalWarning" && /SQLite/i.test(text)) return;
    (original as (...args: unknown[]) => void).call(process, warning, ...rest);
  };
  process.emitWarning = filtered as typeof process.emitWarning;
  try {
    const sqlite = process.getBuiltinModule("node:sqlite");
    if (!sqlite) throw new Error("node:sqlite is not a built-in module of this Node.js");
    loaded = sqlite;
    return sqlite;
  } catch (cause) {
    throw new SqliteUnavailableError({ nodeVersion: process.version, cause });
  } finally {
    process.emitWarning = original;
  }
}
