// Defaults shared by `gridveil demo` and the tools that read what it leaves behind (`gridveil trace`).
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The demo's data directory (span file, DSO database, gateway cursor) unless --data-dir is given. */
export const DEFAULT_DEMO_DATA_DIR = join(tmpdir(), "gridveil-demo");
