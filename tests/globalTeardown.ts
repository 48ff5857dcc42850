// Removes the run's shared synth cache.
import * as fs from "node:fs";
import { SYNTH_CACHE_ENV } from "./synthCache";

export default function globalTeardown(): void {
    const dir = process.env[SYNTH_CACHE_ENV];
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
}
