// Creates the run's shared synth cache (synthCache.ts); globalTeardown.ts removes it.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SYNTH_CACHE_ENV } from "./synthCache";

export default function globalSetup(): void {
    process.env[SYNTH_CACHE_ENV] = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-synth-cache-"));
}
