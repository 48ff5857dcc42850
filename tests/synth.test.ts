import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MASK, unwrapSecrets } from "../tools/synth";
import { ROOT, SUPERUSER_PLATFORM, allRenderedText, generatedPasswords, synth, synthProcess, variantConfig, vaultAuthConfig } from "./harness";

/** synth in its own process on a config it must refuse: exit status 2, nothing on stdout, nothing written. Its stderr. */
function refusedSynth(stack: string, config: string): string {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-refused-"));
    const run = synthProcess(stack, config, out);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe("");
    expect(fs.readdirSync(out)).toEqual([]);
    return run.stderr;
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

    test("a refusing preflight: exit status 2, every conflict named with its owner, nothing written", () => {
        // The first design's names: Flux owns a Pooler and a PDB by them on the platform.
        const config = variantConfig("prod", {}, (c) => Object.assign(c["synergyflow-db:pooler"], { name: "synergyflow-pooler", podDisruptionBudgetName: "synergyflow-pooler" }));
        const stderr = refusedSynth("prod", config);
        expect(stderr).toContain("preflight against the live platform: 2 problems, nothing was created");
        expect(stderr).toContain("synergyflow-db:pooler.name: the stack would create Pooler cnpg-system/synergyflow-pooler on the infra cluster, but one exists that is not this stack's");
        expect(stderr).toContain("synergyflow-db:pooler.podDisruptionBudgetName: the stack would create PodDisruptionBudget cnpg-system/synergyflow-pooler");
        expect(stderr).toContain("live: Pooler cnpg-system/synergyflow-pooler (Flux Kustomization flux-system/infra-databases; field managers: kustomize-controller (server-side apply))");
    });

    test("--live reads another folder of dumps; --live-cluster replaces the Cluster's", () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-live-"));
        const vault = synthProcess("prod", vaultAuthConfig(), out, ["--live", SUPERUSER_PLATFORM]);
        expect(vault.stderr).toBe("");
        expect(vault.status).toBe(0);
        // The prod Cluster as written (superuser access off) in place of the superuser platform's: refused.
        const refused = synthProcess("prod", vaultAuthConfig(), out, ["--live", SUPERUSER_PLATFORM, "--live-cluster", path.join(ROOT, "fixtures/live/prod/infra/shared-postgres.yaml")]);
        expect(refused.status).toBe(2);
        expect(refused.stderr).toContain("synergyflow-db:pooler.authMode: \"vault\" needs superuser SQL");
        const mistyped = synthProcess("prod", vaultAuthConfig(), out, ["--live", path.join(ROOT, "fixtures/live/no-such-platform")]);
        expect(mistyped.status).not.toBe(0);
        expect(mistyped.stderr).toContain("fixtures/live/no-such-platform holds no infra/ or apps/ folder of dumps");
    });

    test("invalid config: exit status 2, every problem on stderr, nothing written", () => {
        const config = variantConfig("dev", {}, (c) => {
            c["synergyflow-db:pooler"].poolMode = "statement";
            c["synergyflow-db:tenant"].roleName = "postgres";
            c["synergyflow-db:backnd"] = {};
        });
        const stderr = refusedSynth("dev", config);
        expect(stderr).toContain("synergyflow-db:pooler.poolMode");
        expect(stderr).toContain("synergyflow-db:tenant.roleName");
        expect(stderr).toContain("synergyflow-db:backnd");
    });
});
