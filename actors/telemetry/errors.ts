// Errors of the local telemetry files: each builds its message from the facts of the failure (protocol/base/errors.ts).
import { GridveilError, errorClass } from "../../protocol/base/errors.ts";

/** The span file to read is not there. */
export class SpanFileError extends errorClass(GridveilError, (params: { path: string }) => [
  `no span file at ${params.path}`,
  {
    value: params.path,
    hint: "run `gridveil demo` first (it writes spans.jsonl into its data directory), or pass --spans FILE",
  },
]) {}
