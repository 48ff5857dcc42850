// The synth library: runs the preflight against dumps of the live clusters (default fixtures/live/<stack>:
// DIR/infra/*.yaml, DIR/apps/*.yaml as `kubectl get -o yaml` prints them; a replacement for the shared Cluster's
// document optional), then evaluates the real program offline under Pulumi's mock runtime (no CLI, no clusters, no
// Vault) and writes what it would send where:
//   DIR/<stack>/infra/*.yaml, DIR/<stack>/apps/*.yaml   one manifest per Kubernetes resource (patches marked)
//   DIR/<stack>/vault/*.json                              what would be written to Vault, every value masked
//   DIR/<stack>/plan.json                                 every resource: type, name, parent, target
//   DIR/<stack>/outputs.json                              the stack outputs
// Secret values are replaced by MASK everywhere. Invalid config or a refusing preflight: ConfigError or
// PreflightError with every problem, nothing written. The CLI (scripts/synth.ts), the unit tests, the integration
// tier and the e2e import it.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import YAML from "yaml";
import { PROJECT, type StackConfig } from "../components/model/config";
import { computeRolePatch, type LiveCluster } from "../components/model/rolePatch";
import { PASSWORD_POLICY } from "../components/build/vaultCredential";
import { type KubeObject } from "../components/model/kubeObject";
import { fixtureLiveReader } from "../components/live/kubeObjects";
import type { TenantPlan } from "../components/model/preflight/rules";
import { runPreflight } from "../components/preflight";
import { loadStackConfig, synergyflowDb } from "../components/program";

export const MASK = "********";
const ROOT = path.join(__dirname, "..");
export const FIXTURES = {
    /** Each stack's two clusters as dumped before its first `up` (its preflight passes against them). */
    live: (stack: string) => `fixtures/live/${stack}`,
    infraStackOutputs: "fixtures/infra-stack-outputs.json",
};

// Pulumi's marker for a secret value inside mock inputs.
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export interface SynthOptions {
    stack: string;
    outDir: string;
    /** A file in the Pulumi.<stack>.yaml format; default Pulumi.<stack>.yaml. */
    configFile?: string;
    /** Dumps of the live clusters the preflight reads; default fixtures/live/<stack>. */
    liveDir?: string;
    /** A dump of the shared Cluster that replaces the one in liveDir. */
    liveClusterFile?: string;
}

export type Target = "infra" | "apps" | "vault" | "none";

export interface PlanEntry {
    type: string;
    name: string;
    parent: string | null;
    target: Target;
    operation: "create" | "read" | "patch" | "wait";
    /** Where a live-only value came from, when synth had to supply one. */
    liveValuesFrom?: string;
}

export interface SynthResult {
    dir: string;
    /** Every registration as the mock monitor saw it (secret inputs still wrapped). */
    resources: RecordedResource[];
    plan: PlanEntry[];
    outputs: Record<string, unknown>;
    files: string[];
    /** What the preflight took from the live dumps (undefined in split mode). */
    platform: TenantPlan | undefined;
}

/** Reads a stack file into Pulumi's flat config map; `secure:` values cannot be decrypted offline. */
export function readStackFile(file: string): { config: Record<string, string>; secretKeys: string[] } {
    const doc = (YAML.parse(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, value] of Object.entries(doc.config ?? {})) {
        if (value !== null && typeof value === "object" && "secure" in value) {
            config[key] = MASK;
            secretKeys.push(key);
        } else {
            config[key] = typeof value === "string" ? value : JSON.stringify(value);
        }
    }
    return { config, secretKeys };
}

export function isSecretWrapper(value: unknown): value is { value: unknown } {
    return value !== null && typeof value === "object" && (value as Record<string, unknown>)[SECRET_SIG] === SECRET_SIG_VALUE;
}

/** Replaces every secret in a mock input tree by MASK. */
export function maskSecrets(value: unknown): unknown {
    if (isSecretWrapper(value)) return MASK;
    if (Array.isArray(value)) return value.map(maskSecrets);
    if (value !== null && typeof value === "object") {
        return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, maskSecrets(v)]));
    }
    return value;
}

const hash = (text: string) => createHash("sha256").update(text).digest("hex");

/** A deterministic stand-in for RandomPassword.result, within the password policy's alphabet. */
export function mockPassword(seed: string): string {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + PASSWORD_POLICY.overrideSpecial;
    const digest = createHash("sha512").update(seed).digest();
    return "Aa1" + Array.from(digest.subarray(0, PASSWORD_POLICY.length - 3), (b) => alphabet[b % alphabet.length]).join("");
}

export interface RecordedResource {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    provider?: string;
    read: boolean;
    /** metadata.name as the object gets it (auto-named objects included). */
    objectName?: string;
    /** Names of the resources it is registered after (what the engine orders it by). */
    dependsOn?: string[];
    /** Its replacement deletes it before creating the new one (a fixed name). */
    deleteBeforeReplace?: boolean;
}

/**
 * The mock monitor sees what the engine would: each registration's dependencies (explicit dependsOn, a
 * component's children, and the resources whose outputs feed its inputs), as URNs, and its replacement order.
 * Kept by resource name.
 */
function recordRegistrations(mocks: SynthMocks): void {
    type Request = { getType(): string; getName(): string; getDependenciesList(): string[]; getDeletebeforereplace(): boolean };
    const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: Request, callback: unknown): unknown };
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, callback) => {
        mocks.registrations.set(`${req.getType()}::${req.getName()}`, { dependsOn: req.getDependenciesList().map((urn) => urn.split("::").pop() as string), deleteBeforeReplace: req.getDeletebeforereplace() });
        return register(req, callback);
    };
}

class SynthMocks implements pulumi.runtime.Mocks {
    readonly recorded: RecordedResource[] = [];
    /** "type::name" -> the names of the resources it waits for (dependsOn and inputs) and its replacement order, as the SDK tells the engine. */
    readonly registrations = new Map<string, Pick<RecordedResource, "dependsOn" | "deleteBeforeReplace">>();
    readonly liveValues = new Map<string, string>();

    constructor(private readonly fixtures: { infraOutputs: Record<string, unknown> }) {}

    newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
        const inputs = { ...(args.inputs as Record<string, unknown>) };
        delete inputs["__provider"];
        this.recorded.push({ type: args.type, name: args.name, inputs, provider: args.provider, read: args.id !== undefined && args.id !== "" });
        const unwrapped = unwrapSecrets(inputs) as Record<string, unknown>;
        switch (args.type) {
            case "random:index/randomPassword:RandomPassword":
                return { id: args.name, state: { ...inputs, result: mockPassword(`${args.name}/${JSON.stringify(unwrapped["keepers"])}`) } };
            case "vault:kv/secretV2:SecretV2":
                // KV v2 bumps its version on every write: stand in with one derived from the data.
                return { id: `${unwrapped["mount"]}/data/${unwrapped["name"]}`, state: { ...inputs, path: `${unwrapped["mount"]}/data/${unwrapped["name"]}`, metadata: { version: String((parseInt(hash(String(unwrapped["dataJson"])).slice(0, 6), 16) % 97) + 1) } } };
            case "pulumi:pulumi:StackReference":
                this.liveValues.set(`${args.type}::${args.name}`, `fixture ${FIXTURES.infraStackOutputs}`);
                return { id: String(unwrapped["name"]), state: { name: unwrapped["name"], outputs: this.fixtures.infraOutputs, secretOutputNames: [] } };
        }
        if (args.type.startsWith("kubernetes:") && !args.type.startsWith("kubernetes:index")) {
            const metadata = { ...((unwrapped["metadata"] as Record<string, unknown>) ?? {}) };
            // Pulumi auto-names objects without metadata.name (here from the content, so a change shows).
            if (!metadata["name"]) metadata["name"] = `${args.name}-${hash(JSON.stringify(unwrapped)).slice(0, 8)}`;
            this.recorded[this.recorded.length - 1]!.objectName = String(metadata["name"]);
            return { id: `${metadata["namespace"] ?? ""}/${metadata["name"]}`, state: { ...inputs, metadata } };
        }
        return { id: `${args.name}-id`, state: inputs };
    }

    call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        throw new Error(`synth: unexpected provider function call ${args.token}`);
    }
}

/** The plain values behind every secret in a mock input tree (for tests that inspect what is secret). */
export function unwrapSecrets(value: unknown): unknown {
    if (isSecretWrapper(value)) return unwrapSecrets(value.value);
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (value !== null && typeof value === "object") {
        return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

function targetOf(record: RecordedResource): Target {
    if (record.type.startsWith("pulumi:providers:")) {
        const kind = record.type.slice("pulumi:providers:".length);
        return kind === "vault" ? "vault" : kind === "kubernetes" && (record.name === "infra" || record.name === "apps") ? record.name : "none";
    }
    if (record.type.startsWith("vault:")) return "vault";
    if (record.type.startsWith("pulumi-nodejs:dynamic")) {
        // The role patch writes the shared Cluster; the waits name the cluster they read.
        if (record.type.endsWith(":ClusterRolePatch")) return "infra";
        return record.inputs["cluster"] === "apps" ? "apps" : "infra";
    }
    const providerName = record.provider?.split("::")[3];
    return providerName === "infra" || providerName === "apps" ? providerName : "none";
}

/** The value of an output, rejecting when the program failed computing it (as the engine would fail). */
function awaitOutput<T>(output: pulumi.Output<T>): Promise<T> {
    return (output as unknown as { promise(): Promise<T> }).promise();
}

const fileName = (...parts: string[]) => parts.join("-").toLowerCase().replace(/[^a-z0-9.-]+/g, "-");

/** Runs the program under mocks for one stack config and writes the rendered layout. */
export async function runSynth(options: SynthOptions): Promise<SynthResult> {
    const configFile = options.configFile ?? path.join(ROOT, `Pulumi.${options.stack}.yaml`);
    const { config: flatConfig, secretKeys } = readStackFile(configFile);
    // Validates before anything is registered or written.
    const config: StackConfig = loadStackConfig(flatConfig);

    const readFixture = (file: string) => YAML.parse(fs.readFileSync(path.resolve(ROOT, file), "utf8")) as Record<string, unknown>;
    const liveDir = path.resolve(ROOT, options.liveDir ?? FIXTURES.live(options.stack));
    const overrides = options.liveClusterFile ? [readFixture(options.liveClusterFile) as unknown as KubeObject] : [];
    // Refuses (PreflightError) before anything is registered or written.
    const platform = await runPreflight(config, fixtureLiveReader(liveDir, overrides), options.stack);
    const liveSource = path.relative(ROOT, options.liveClusterFile ?? liveDir) || ".";
    const mocks = new SynthMocks({ infraOutputs: readFixture(FIXTURES.infraStackOutputs) });
    await pulumi.runtime.setMocks(mocks, PROJECT, options.stack, false);
    pulumi.runtime.setAllConfig(flatConfig, secretKeys);
    recordRegistrations(mocks);

    const parents = new Map<string, string>();
    const resolved: Record<string, unknown> = {};
    // A program error raised inside an apply also rejects promises nobody awaits: the engine would fail the
    // update with it, and so does synth.
    const programErrors: unknown[] = [];
    const onRejection = (reason: unknown) => programErrors.push(reason);
    process.on("unhandledRejection", onRejection);
    try {
        await runProgram();
    } catch (error) {
        programErrors.unshift(error);
    } finally {
        process.off("unhandledRejection", onRejection);
    }
    if (programErrors.length > 0) {
        const first = programErrors[0];
        throw first instanceof Error ? first : new Error(String(first));
    }

    async function runProgram(): Promise<void> {
        await pulumi.runtime.runInPulumiStack(async () => {
            pulumi.runtime.registerStackTransformation((args) => {
                const parent = args.opts.parent as unknown as { __pulumiType?: string; __name?: string } | undefined;
                if (parent?.__name && parent.__pulumiType !== "pulumi:pulumi:Stack") parents.set(`${args.type}::${args.name}`, `${parent.__pulumiType}::${parent.__name}`);
                return undefined;
            });
            const outputs = synergyflowDb(config, platform, options.stack);
            for (const [key, output] of Object.entries(outputs)) {
                const value = await awaitOutput(output);
                resolved[key] = (await pulumi.isSecret(output)) ? MASK : value;
            }
            return {};
        });
        // Wait for every outstanding registration, including those no output depends on.
        await pulumi.runtime.disconnect();
    }

    const dir = path.join(options.outDir, options.stack);
    fs.rmSync(dir, { recursive: true, force: true });
    for (const sub of ["infra", "apps", "vault"]) fs.mkdirSync(path.join(dir, sub), { recursive: true });
    const files: string[] = [];
    const write = (relative: string, text: string) => {
        fs.writeFileSync(path.join(dir, relative), text);
        files.push(relative);
    };

    const plan: PlanEntry[] = [];
    for (const record of mocks.recorded) {
        const key = `${record.type}::${record.name}`;
        const target = targetOf(record);
        const masked = maskSecrets(record.inputs) as Record<string, unknown>;
        const dynamic = record.type.startsWith("pulumi-nodejs:dynamic");
        // The dynamic resources: the clusterPatch role patch writes; a rotation step's evidence wait and a Job's
        // result only read.
        const isPatch = dynamic && record.inputs["roles"] !== undefined;
        const isWait = dynamic && !isPatch;
        plan.push({
            type: record.type,
            name: record.name,
            parent: parents.get(key) ?? null,
            target,
            operation: record.read ? "read" : isPatch ? "patch" : isWait ? "wait" : "create",
            ...(mocks.liveValues.has(key) ? { liveValuesFrom: mocks.liveValues.get(key) } : {}),
        });
        if (record.read) continue;
        if (isWait) {
            const wait =
                masked["jobName"] !== undefined
                    ? { kind: "JobResultWait", note: "waits for the Job to finish and reads its result (the pod's termination message); see components/jobResult.ts", namespace: masked["namespace"], jobName: masked["jobName"], timeoutSeconds: masked["timeoutSeconds"] }
                    : { kind: "EvidenceWait", note: "a rotation step waits (polling, nothing written) until every item holds; see components/rotation.ts", step: masked["step"], timeoutSeconds: masked["timeoutSeconds"], waits: masked["waits"] };
            write(path.join(target, fileName("wait", record.name) + ".yaml"), YAML.stringify(wait));
        } else if (isPatch) {
            const roles = unwrapSecrets(record.inputs["roles"]) as Parameters<typeof computeRolePatch>[1];
            const patch = {
                kind: "JSONPatch",
                note: `RFC 6902 patch of the live Cluster (computed against ${liveSource}); not a manifest`,
                target: { apiVersion: "postgresql.cnpg.io/v1", kind: "Cluster", namespace: masked["namespace"], name: masked["clusterName"] },
                fieldManager: masked["fieldManager"],
                patch: computeRolePatch(platform?.cluster as LiveCluster, roles),
            };
            write(path.join("infra", fileName("patch", "cluster", String(masked["clusterName"]), "roles") + ".yaml"), YAML.stringify(maskSecrets(patch)));
        } else if (target === "vault" && record.type === "vault:kv/secretV2:SecretV2") {
            const data = JSON.parse(String(unwrapSecrets(record.inputs["dataJson"]))) as Record<string, unknown>;
            write(
                path.join("vault", fileName(String(masked["name"])) + ".json"),
                JSON.stringify({ mount: masked["mount"], name: masked["name"], data: Object.fromEntries(Object.keys(data).map((k) => [k, MASK])) }, null, 2) + "\n",
            );
        } else if ((target === "infra" || target === "apps") && record.type.startsWith("kubernetes:")) {
            const name = record.objectName ?? record.name;
            const manifest = { ...masked, metadata: { ...((masked["metadata"] ?? {}) as object), name } };
            if (record.type.endsWith("Patch")) {
                // A server-side apply patch of an object the program does not own.
                write(path.join(target, fileName("patch", String(masked["kind"]), name) + ".yaml"), `# server-side apply patch (${record.type}): only these fields are applied; the object is never created or deleted\n${YAML.stringify(manifest)}`);
            } else {
                write(path.join(target, fileName(String(masked["kind"] ?? record.type), name) + ".yaml"), YAML.stringify(manifest));
            }
        }
    }
    if (platform) {
        // Not a resource: the preflight reads the live Cluster (and the other objects) directly.
        plan.push({
            type: "postgresql.cnpg.io/v1:Cluster (live read)",
            name: `${config.sharedCluster.namespace}/${config.sharedCluster.name}`,
            parent: null,
            target: "infra",
            operation: "read",
            liveValuesFrom: `fixture ${liveSource}`,
        });
    }
    write("plan.json", JSON.stringify(plan, null, 2) + "\n");
    write("outputs.json", JSON.stringify(resolved, null, 2) + "\n");
    const resources = mocks.recorded.map((r) => ({ ...r, dependsOn: [], ...mocks.registrations.get(`${r.type}::${r.name}`) }));
    return { dir, resources, plan, outputs: resolved, files, platform };
}
