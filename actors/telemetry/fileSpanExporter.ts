// A span exporter that appends one JSON line per span to a local file: the embedded default, read by `gridveil trace`.
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { toSpanRecord } from "./spanRecord.ts";

export class FileSpanExporter implements SpanExporter {
  constructor(private readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    try {
      // One append per batch: O_APPEND keeps lines from several processes whole.
      appendFileSync(this.path, spans.map((span) => `${JSON.stringify(toSpanRecord(span))}\n`).join(""));
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      resultCallback({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }

  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}
