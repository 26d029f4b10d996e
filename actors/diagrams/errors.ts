// Errors of the machine-diagram generator: each builds its message from the facts of the failure
// (protocol/base/errors.ts).
import { GridveilError, errorClass } from "../../protocol/base/errors.ts";

/** The README to update has no (or misordered) machine diagram markers. */
export class ReadmeMarkersMissingError extends errorClass(GridveilError, (params: { start: string; end: string }) => [
  "the README has no machine diagram markers",
  {
    value: { start: params.start, end: params.end },
    hint: `put ${params.start} and ${params.end} on their own lines where the diagrams belong`,
  },
]) {}
