// One synth per distinct input in a whole `npm test` run, shared by every test file (each jest worker is its own
// process): results are kept as JSON in a folder the run's global setup creates and its teardown removes, so
// nothing outlives the run. The key is every input a synth reads: the stack, its config file, the live dumps (by content).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..");

export const SYNTH_CACHE_ENV = "SYNERGYFLOW_SYNTH_CACHE";

/**
 * A file's or folder's content, names relative to it. Where it is counts only inside the repository (synth names
 * the folder of dumps in plan.json): a temporary copy with the same content (variantConfig, livePlatformCopy) is
 * the same input, whichever test file or worker wrote it.
 */
function hashInput(hash: ReturnType<typeof createHash>, input: string): void {
    const where = path.relative(ROOT, input);
    hash.update(where.startsWith("..") ? "outside" : where);
    const visit = (file: string, name: string): void => {
        if (!fs.existsSync(file)) return void hash.update(`missing:${name}`);
        if (fs.statSync(file).isDirectory()) {
            for (const entry of fs.readdirSync(file).sort()) visit(path.join(file, entry), `${name}/${entry}`);
            return;
        }
        hash.update(name).update(fs.readFileSync(file));
    };
    visit(input, ".");
}

/** The key of a synth: its stack and each input by role (config, dumps, ...), undefined ones left out. */
export function synthKey(stack: string, inputs: Record<string, string | undefined>): string {
    const hash = createHash("sha256").update(stack);
    for (const [role, input] of Object.entries(inputs)) {
        if (input === undefined) continue;
        hash.update(`\0${role}\0`);
        hashInput(hash, input);
    }
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
