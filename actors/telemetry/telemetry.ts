// OpenTelemetry for one actor: resource attributes, exporter choice (OTLP/HTTP or the local span file), a tracer.
import { join } from "node:path";
import { context, propagation, trace, type Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { NodeSDK } from "@opentelemetry/sdk-node";
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  TracerProvider,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace";
import { FileSpanExporter } from "./fileSpanExporter.ts";

export type ActorService = "gridveil-dso" | "gridveil-gateway" | "gridveil-meter" | "gridveil-cli";

export type TelemetryOptions = {
  service: ActorService;
  /** Extra resource attributes, e.g. `gridveil.market.id` (never secrets, never a permanent id: PROTOCOL §1). */
  attributes?: Record<string, string>;
  /** Where the local span file lives when no OTLP endpoint is configured. */
  dataDir: string;
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`; when set, spans go there over OTLP/HTTP instead of the file. */
  otlpEndpoint?: string | undefined;
};

export type Telemetry = { tracer: Tracer; shutdown(): Promise<void> };

export const SPAN_FILE_NAME = "spans.jsonl";

export function spanFilePath(dataDir: string): string {
  return join(dataDir, SPAN_FILE_NAME);
}

function exporterFor(options: TelemetryOptions): SpanExporter {
  return options.otlpEndpoint
    ? new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/$/, "")}/v1/traces` })
    : new FileSpanExporter(spanFilePath(options.dataDir));
}

function processorFor(options: TelemetryOptions): SpanProcessor {
  const exporter = exporterFor(options);
  // The file exporter is synchronous and cheap; network exporters batch.
  return options.otlpEndpoint ? new BatchSpanProcessor({ exporter }) : new SimpleSpanProcessor({ exporter });
}

function resourceAttributes(options: TelemetryOptions): Record<string, string> {
  return { "service.name": options.service, ...options.attributes };
}

/** A standalone actor process: starts @opentelemetry/sdk-node, which registers the global provider and propagator. */
export function startProcessTelemetry(options: TelemetryOptions): Telemetry {
  const sdk = new NodeSDK({
    resource: resourceFromAttributes(resourceAttributes(options)),
    spanProcessors: [processorFor(options)],
    textMapPropagator: new W3CTraceContextPropagator(),
    instrumentations: [],
  });
  sdk.start();
  return { tracer: trace.getTracer("gridveil"), shutdown: () => sdk.shutdown() };
}

let globalsInstalled = false;

/**
 * Several actors in one process (the demo, tests): each gets its own provider and resource, while the context
 * manager and the W3C propagator are process-wide.
 */
export function startInProcessTelemetry(options: TelemetryOptions): Telemetry {
  if (!globalsInstalled) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    globalsInstalled = true;
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes(resourceAttributes(options)),
    spanProcessors: [processorFor(options)],
  });
  return { tracer: provider.getTracer("gridveil"), shutdown: () => provider.shutdown() };
}
