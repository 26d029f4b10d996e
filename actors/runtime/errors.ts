// Errors of the actors' runtime helpers: each builds its message from the facts of the failure
// (protocol/base/errors.ts). A bad inspector URL is a configuration error (InvalidSettingError).
import { GridveilError, errorClass } from "../../protocol/base/errors.ts";

/** No Stately inspector bridge answers at the URL. */
export class InspectorUnreachableError extends errorClass(GridveilError, (params: { url: string; cause: unknown }) => [
  `the Stately inspector is not reachable at ${params.url}`,
  {
    value: params.url,
    hint: "start the bridge first (npx tsx actors/runtime/inspect.ts serve) and open http://localhost:8080 in a browser; or run without --inspect",
    cause: params.cause,
  },
]) {}
