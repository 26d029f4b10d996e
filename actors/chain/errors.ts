// Errors of the chain connection: each builds its message from the facts of the failure (protocol/base/errors.ts).
import { GridveilError, errorClass } from "../../protocol/base/errors.ts";

/** The Ethereum JSON-RPC endpoint did not answer. */
export class ChainUnavailableError extends errorClass(GridveilError, (params: { rpcUrl: string; cause: unknown }) => [
  `cannot reach the Ethereum JSON-RPC endpoint at ${params.rpcUrl}`,
  {
    value: params.rpcUrl,
    hint: "start a node (the demo starts one itself when --rpc is omitted) or pass --rpc URL",
    cause: params.cause,
  },
]) {}
