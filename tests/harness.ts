// Runs the real program under synth's mocks, one config after another in a test file (each run resets Pulumi's
// runtime state), each distinct config once per `npm test` (synthCache.ts).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import { type RecordedResource, type SynthResult, mockPassword, runSynth } from "../tools/synth";
import { cachedAcrossWorkers, synthKey } from "./synthCache";

export const ROOT = path.join(__dirname, "..");

export type HarnessResult = SynthResult & { warnings: string[]; infos: string[] };

/** The program under synth's mocks; a synth of the same inputs earlier in the run is shared (synthCache.ts). */
export async function synth(stack: string, configFile?: string, liveClusterFile?: string, liveDir?: string): Promise<HarnessResult> {
    const inputs = { config: configFile ?? path.join(ROOT, `Pulumi.${stack}.yaml`), liveCluster: liveClusterFile, live: liveDir ?? path.join(ROOT, "fixtures/live", stack), infraOutputs: path.join(ROOT, "fixtures/infra-stack-outputs.json") };
    return cachedAcrossWorkers(synthKey(stack, inputs), () => synthNow(stack, configFile, liveClusterFile, liveDir));
}

let queue: Promise<unknown> = Promise.resolve();
let inspectorUsed = false;

/**
 * One synth at a time in a file, in the file's own copy of the modules: each run resets Pulumi's runtime state
 * (setMocks: the monitor, the settings, the root stack), so runs one after another give what a fresh process gives
 * (the same bytes as the CLI), with the modules loaded and compiled once.
 */
function synthNow(stack: string, configFile?: string, liveClusterFile?: string, liveDir?: string): Promise<HarnessResult> {
    const run = queue.then(() => synthOnce(stack, configFile, liveClusterFile, liveDir));
    queue = run.catch(() => undefined);
    return run;
}

async function synthOnce(stack: string, configFile?: string, liveClusterFile?: string, liveDir?: string): Promise<HarnessResult> {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-synth-"));
    // Pulumi's mock log writes warnings and infos to the console: keep them for assertions instead.
    const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
    const log = jest.spyOn(console, "log").mockImplementation(() => undefined);
    inspectorUsed = true;
    try {
        const result = await runSynth({ stack, outDir, configFile, liveClusterFile, liveDir });
        return { ...result, warnings: warn.mock.calls.map((args) => args.join(" ")), infos: log.mock.calls.map((args) => args.join(" ")) };
    } finally {
        warn.mockRestore();
        log.mockRestore();
    }
}

// Serializing a dynamic provider opens a v8 inspector session that is never closed: close it when the file is done,
// or the worker cannot exit.
afterAll(async () => {
    if (!inspectorUsed) return;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const hooks = require("@pulumi/pulumi/runtime/closure/v8Hooks") as { getSessionAsync(): Promise<{ disconnect(): void }> };
    (await hooks.getSessionAsync()).disconnect();
});

/** A stack file derived from Pulumi.<base>.yaml with some top-level keys replaced (or removed with undefined). */
export function variantConfig(base: string, changes: Record<string, unknown>, deepChanges?: (config: Record<string, any>) => void): string {
    const doc = YAML.parse(fs.readFileSync(path.join(ROOT, `Pulumi.${base}.yaml`), "utf8")) as { config: Record<string, any> };
    for (const [key, value] of Object.entries(changes)) {
        if (value === undefined) delete doc.config[key];
        else doc.config[key] = value;
    }
    deepChanges?.(doc.config);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-config-")), `Pulumi.${base}-variant.yaml`);
    fs.writeFileSync(file, YAML.stringify(doc));
    return file;
}

/** The second platform of fixtures/live: a Cluster nobody else applies, with superuser access on. */
export const SUPERUSER_PLATFORM = path.join(ROOT, "fixtures/live/superuser");

/** prod's config on the superuser platform with vault pooler auth and the clusterPatch role strategy. */
export function vaultAuthConfig(deepChanges?: (config: Record<string, any>) => void): string {
    return variantConfig("prod", {}, (c) => {
        c["synergyflow-db:sharedCluster"].roleStrategy = "clusterPatch";
        c["synergyflow-db:pooler"].authMode = "vault";
        // The auth role's 4 connections come out of the login roles' share: 150 + 4 + 2 x 21 = 196 of 197.
        c["synergyflow-db:tenant"].connectionLimit = 21;
        deepChanges?.(c);
    });
}

/** synth as users run it, in its own process. */
export function synthProcess(stack: string, configFile: string, outDir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-synth-")), extraArgs: string[] = []) {
    return spawnSync(process.execPath, [require.resolve("ts-node/dist/bin.js"), "--transpile-only", "scripts/synth.ts", stack, "--config", configFile, "--out", outDir, ...extraArgs], {
        cwd: ROOT,
        encoding: "utf8",
    });
}

export function byType(result: Pick<SynthResult, "resources">, type: string): RecordedResource[] {
    return result.resources.filter((r) => r.type === type && !r.read);
}

export function readRendered(result: SynthResult, relative: string): any {
    const text = fs.readFileSync(path.join(result.dir, relative), "utf8");
    return relative.endsWith(".json") ? JSON.parse(text) : YAML.parse(text);
}

export function allRenderedText(result: SynthResult): string {
    return result.files.map((f) => fs.readFileSync(path.join(result.dir, f), "utf8")).join("\n");
}

/** The passwords the mocked RandomPasswords generated in a synth (what must never appear outside Vault). */
export function generatedPasswords(result: Pick<SynthResult, "resources">): string[] {
    return byType(result, "random:index/randomPassword:RandomPassword").map((r) => mockPassword(`${r.name}/${JSON.stringify((r.inputs as { keepers?: unknown }).keepers)}`));
}

/**
 * The preflight's refusal of a stack file against a folder of dumps: the text `synth` prints before it exits 2
 * (runPreflight's PreflightError), without a synth process.
 */
export async function preflightRefusal(configFile: string, liveDir: string, stack = "prod"): Promise<string> {
    const { loadStackConfig } = await import("../components/program");
    const { runPreflight } = await import("../components/preflight");
    const { fixtureLiveReader } = await import("../components/live/kubeObjects");
    const { readStackFile } = await import("../tools/synth");
    try {
        await runPreflight(loadStackConfig(readStackFile(configFile).config), fixtureLiveReader(liveDir), stack);
    } catch (error) {
        if ((error as Error).name === "PreflightError") return (error as Error).message;
        throw error;
    }
    throw new Error("expected the preflight to refuse");
}
