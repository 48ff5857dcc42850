import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { exitStatus, parseArgs } from "../scripts/synth";
import { MASK, type SynthOptions, runSynth, unwrapSecrets } from "../tools/synth";
import { ROOT, SUPERUSER_PLATFORM, allRenderedText, generatedPasswords, synth, synthProcess, variantConfig, vaultAuthConfig } from "./harness";

/** A synth that must fail before anything is registered: its error, and nothing written. */
async function refusedSynth(options: Omit<SynthOptions, "outDir">): Promise<Error> {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-refused-"));
    const error = await runSynth({ ...options, outDir }).then(
        () => undefined,
        (e: unknown) => e as Error,
    );
    if (!error) throw new Error("expected synth to refuse");
    expect(fs.readdirSync(outDir)).toEqual([]);
    return error;
}

describe("synth", () => {
    test.each(["dev", "prod"])("%s writes one manifest per resource to each cluster, Vault files, plan and outputs", async (stack) => {
        const result = await synth(stack);
        const files = result.files.sort();
        expect(files).toEqual(expect.arrayContaining(["plan.json", "outputs.json"]));
        // Exactly one file per object sent to a cluster (the role patch included), in the folder of its cluster.
        for (const target of ["infra", "apps"] as const) {
            const sent = result.plan.filter((e) => e.target === target && e.operation !== "read" && !e.type.startsWith("pulumi:providers:"));
            expect(files.filter((f) => f.startsWith(`${target}/`))).toHaveLength(sent.length);
        }
        expect(files.filter((f) => f.startsWith("infra/")).length).toBeGreaterThanOrEqual(7);
        // One Vault secret per login role (rotation.ts).
        expect(files.filter((f) => f.startsWith("vault/")).length).toBe(2);
        const targets = new Set(result.plan.map((e) => e.target));
        expect([...targets].sort()).toEqual(["apps", "infra", "none", "vault"]);
        // Every Kubernetes object created goes to exactly one of the two clusters.
        for (const entry of result.plan.filter((e) => e.type.startsWith("kubernetes:") && !e.type.startsWith("kubernetes:index"))) {
            expect(["infra", "apps"]).toContain(entry.target);
        }
    });

    test("no generated password appears in any written file; secrets are masked", async () => {
        const result = await synth("prod", vaultAuthConfig(), undefined, SUPERUSER_PLATFORM);
        const passwords = generatedPasswords(result);
        expect(passwords).toHaveLength(3);
        // They are the values the program really handled: both sit in the data written to Vault.
        const vaultData = JSON.stringify(result.resources.filter((r) => r.type === "vault:kv/secretV2:SecretV2").map((r) => unwrapSecrets(r.inputs)));
        for (const password of passwords) expect(vaultData).toContain(password);
        const text = allRenderedText(result);
        for (const password of passwords) expect(text).not.toContain(password);
        expect(text).toContain(MASK);
    });

    test("the live read is marked with the dumps it came from; nothing else is read", async () => {
        const result = await synth("dev");
        const reads = result.plan.filter((e) => e.operation === "read");
        expect(reads.map((e) => e.liveValuesFrom)).toEqual(["fixture fixtures/live/dev"]);
        expect(result.resources.filter((r) => r.read)).toEqual([]);
    });

    test("a refusing preflight: every conflict named with its owner, nothing written", async () => {
        // The first design's names: Flux owns a Pooler and a PDB by them on the platform.
        const config = variantConfig("prod", {}, (c) => Object.assign(c["synergyflow-db:pooler"], { name: "synergyflow-pooler", podDisruptionBudgetName: "synergyflow-pooler" }));
        const error = await refusedSynth({ stack: "prod", configFile: config });
        expect(error.name).toBe("PreflightError");
        expect(exitStatus(error)).toBe(2);
        expect(error.message).toContain("preflight against the live platform: 2 problems, nothing was created");
        expect(error.message).toContain("synergyflow-db:pooler.name: the stack would create Pooler cnpg-system/synergyflow-pooler on the infra cluster, but one exists that is not this stack's");
        expect(error.message).toContain("synergyflow-db:pooler.podDisruptionBudgetName: the stack would create PodDisruptionBudget cnpg-system/synergyflow-pooler");
        expect(error.message).toContain("live: Pooler cnpg-system/synergyflow-pooler (Flux Kustomization flux-system/infra-databases; field managers: kustomize-controller (server-side apply))");
    });

    test("--live reads another folder of dumps; --live-cluster replaces the Cluster's", async () => {
        // The superuser platform passes prod with vault auth (the synth other files share).
        const vault = await synth("prod", vaultAuthConfig(), undefined, SUPERUSER_PLATFORM);
        expect(vault.plan.filter((e) => e.operation === "read").map((e) => e.liveValuesFrom)).toEqual(["fixture fixtures/live/superuser"]);
        // The prod Cluster as written (superuser access off) in place of the superuser platform's: refused.
        const refused = await refusedSynth({ stack: "prod", configFile: vaultAuthConfig(), liveDir: SUPERUSER_PLATFORM, liveClusterFile: path.join(ROOT, "fixtures/live/prod/infra/shared-postgres.yaml") });
        expect(exitStatus(refused)).toBe(2);
        expect(refused.message).toContain("synergyflow-db:pooler.authMode: \"vault\" needs superuser SQL");
        const mistyped = await refusedSynth({ stack: "prod", configFile: vaultAuthConfig(), liveDir: path.join(ROOT, "fixtures/live/no-such-platform") });
        expect(exitStatus(mistyped)).toBe(1);
        expect(mistyped.message).toContain("fixtures/live/no-such-platform holds no infra/ or apps/ folder of dumps");
    });

    test("invalid config: every problem at once, nothing written", async () => {
        const config = variantConfig("dev", {}, (c) => {
            c["synergyflow-db:pooler"].poolMode = "statement";
            c["synergyflow-db:tenant"].roleName = "postgres";
            c["synergyflow-db:backnd"] = {};
        });
        const error = await refusedSynth({ stack: "dev", configFile: config });
        expect(error.name).toBe("ConfigError");
        expect(exitStatus(error)).toBe(2);
        expect(error.message).toContain("synergyflow-db:pooler.poolMode");
        expect(error.message).toContain("synergyflow-db:tenant.roleName");
        expect(error.message).toContain("synergyflow-db:backnd");
    });
});

describe("the synth command line", () => {
    test("reads the stack and every option, and rejects what it does not know", () => {
        expect(parseArgs(["prod", "--config", "c.yaml", "--out", "out", "--live", "live", "--live-cluster", "cluster.yaml"])).toEqual({
            stack: "prod",
            configFile: path.resolve("c.yaml"),
            outDir: path.resolve("out"),
            liveDir: path.resolve("live"),
            liveClusterFile: path.resolve("cluster.yaml"),
        });
        expect(parseArgs(["dev"])).toEqual({ stack: "dev", outDir: path.join(ROOT, "rendered") });
        expect(() => parseArgs([])).toThrow("usage: npm run synth -- <stack>");
        expect(() => parseArgs(["dev", "--out"])).toThrow("--out needs a value");
        expect(() => parseArgs(["dev", "--liv", "x"])).toThrow("unknown option --liv");
    });

    test("in its own process, a refused stack: exit status 2, the problems on stderr, nothing on stdout, nothing written", () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-refused-"));
        const run = synthProcess("prod", vaultAuthConfig(), out, ["--live", SUPERUSER_PLATFORM, "--live-cluster", path.join(ROOT, "fixtures/live/prod/infra/shared-postgres.yaml")]);
        expect(run.status).toBe(2);
        expect(run.stdout).toBe("");
        expect(run.stderr).toMatch(/preflight against the live platform: \d+ problems?, nothing was created/);
        expect(run.stderr).toContain("synergyflow-db:pooler.authMode: \"vault\" needs superuser SQL");
        expect(fs.readdirSync(out)).toEqual([]);
    });
});
