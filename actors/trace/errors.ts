// Errors of reading traces back: each builds its message from the facts of the failure (protocol/base/errors.ts).
import { GridveilError } from "../../protocol/base/errors.ts";

/** The Jaeger query API could not be reached, or answered with an HTTP error. */
export class JaegerQueryError extends GridveilError {
  constructor(params: { url: string; cause: unknown } | { url: string; status: number }) {
    if ("status" in params) super(`Jaeger answered HTTP ${params.status}`, { value: params.url });
    else
      super("cannot reach the Jaeger query API", {
        value: params.url,
        hint: "check --jaeger URL (e.g. http://localhost:16686)",
        cause: params.cause,
      });
  }
}
