// One synth per distinct input in a whole `npm test` run, shared by every test file (each jest worker is its own
// process): results are kept as JSON in a folder the run's global setup creates and its teardown removes, so
// nothing outlives the run. The key is every input a synth reads: the stack, its config file, the live dumps.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

export const SYNTH_CACHE_ENV = "SYNERGYFLOW_SYNTH_CACHE";

function hashInputs(hash: ReturnType<typeof createHash>, file: string): void {
    if (!fs.existsSync(file)) return void hash.update(`missing:${file}`);
    if (fs.statSync(file).isDirectory()) {
        for (const entry of fs.readdirSync(file).sort()) hashInputs(hash, path.join(file, entry));
        return;
    }
    hash.update(file).update(fs.readFileSync(file));
}

export function synthKey(stack: string, files: string[]): string {
    const hash = createHash("sha256").update(stack);
    for (const file of files) hashInputs(hash, file);
    return hash.digest("hex");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The cached value of `key`, computing it once across workers (the first to claim it computes, others wait). */
export async function cachedAcrossWorkers<T>(key: string, compute: () => Promise<T>): Promise<T> {
    const dir = process.env[SYNTH_CACHE_ENV];
    if (!dir) return compute();
    const result = path.join(dir, `${key}.json`);
    const claim = path.join(dir, `${key}.claim`);
    for (;;) {
        if (fs.existsSync(result)) return JSON.parse(fs.readFileSync(result, "utf8")) as T;
        try {
            fs.writeFileSync(claim, String(process.pid), { flag: "wx" });
        } catch {
            // Another worker computes it.
            await sleep(100);
            continue;
        }
        try {
            const value = await compute();
            fs.writeFileSync(`${result}.tmp`, JSON.stringify(value));
            fs.renameSync(`${result}.tmp`, result);
            return value;
        } catch (error) {
            fs.rmSync(claim, { force: true });
            throw error;
        }
    }
}
