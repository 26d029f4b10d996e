// Reads the local span file (JSON lines written by FileSpanExporter), skipping lines that are not whole records.
import { existsSync, readFileSync } from "node:fs";
import { SpanFileError } from "./errors.ts";
import type { SpanRecord } from "./spanRecord.ts";

export function readSpanFile(path: string): SpanRecord[] {
  if (!existsSync(path)) {
    throw new SpanFileError({ path });
  }
  const records: SpanRecord[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const record = JSON.parse(line) as SpanRecord;
      if (typeof record.spanId === "string" && typeof record.traceId === "string") records.push(record);
    } catch {
      // A line cut short by a crash mid-write: the rest of the file is still good.
    }
  }
  return records;
}
