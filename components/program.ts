// The whole program: config -> providers -> infra tenant -> apps side -> stack outputs. index.ts runs it under
// the Pulumi engine; tools/synth.ts runs it under the mock runtime.
import * as pulumi from "@pulumi/pulumi";
import { AppsSide } from "./apps/appsSide";
import { CONFIG_KEYS, ConfigError, PROJECT, type StackConfig, parseStackConfig } from "./model/config";
import { InfraTenant } from "./infra/tenant";
import { appsSideInputs } from "./build/appsSide";
import { infraTenantInputs } from "./build/infraTenant";
import { type LiveReader } from "./model/kubeObject";
import { kubeLiveReader } from "./live/kubeObjects";
import { type TenantPlan, planNotices } from "./model/preflight/rules";
import { runPreflight } from "./preflight";
import { type CredentialFactory, vaultCredentials } from "./infra/vaultCredential";
import { credentialProviders, kubeProvider } from "./providers";
import { type InfraWiring, wiringFromStack } from "./wiring";

/** Reads every config key of the stack, rejecting keys this program does not know (a typo must not pass). */
export function loadStackConfig(all: Record<string, string>): StackConfig {
    const raw: Record<string, unknown> = {};
    const unknown: { key: string; message: string }[] = [];
    let disabledDefaults: string[] = [];
    for (const [fullKey, value] of Object.entries(all)) {
        const [namespace, key] = fullKey.split(":", 2) as [string, string];
        if (fullKey === DISABLE_DEFAULT_PROVIDERS) {
            const parsed = parseValue(value);
            disabledDefaults = Array.isArray(parsed) ? parsed.map(String) : [String(parsed)];
        }
        if (namespace === "pulumi") continue;
        if (namespace !== PROJECT) {
            unknown.push({ key: fullKey, message: `is not read by this program: its providers are configured from ${PROJECT}:* keys only (default providers are disabled)` });
        } else if (!(CONFIG_KEYS as string[]).includes(key)) {
            unknown.push({ key: fullKey, message: `unknown key (a typo?); allowed keys: ${CONFIG_KEYS.join(", ")}` });
        } else {
            raw[key] = parseValue(value);
        }
    }
    let config: StackConfig | undefined;
    const problems = [...unknown];
    try {
        config = parseStackConfig(raw);
    } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        problems.push(...error.problems);
    }
    problems.push(...defaultProviderProblems(disabledDefaults, config));
    if (problems.length > 0 || config === undefined) throw new ConfigError(problems);
    return config;
}

const DISABLE_DEFAULT_PROVIDERS = "pulumi:disable-default-providers";

/**
 * Default providers must be off for kubernetes, vault and random (a forgotten provider must fail, not land in
 * the ambient cluster), but not for pulumi-nodejs: the clusterPatch role patch and the rotation's evidence waits
 * are dynamic resources.
 */
function defaultProviderProblems(disabled: string[], config: StackConfig | undefined): { key: string; message: string }[] {
    const problems: { key: string; message: string }[] = [];
    const missing = ["kubernetes", "vault", "random"].filter((p) => !disabled.includes(p) && !disabled.includes("*"));
    if (missing.length > 0) {
        problems.push({ key: DISABLE_DEFAULT_PROVIDERS, message: `${JSON.stringify(disabled)} must include ${missing.join(", ")}: a resource that forgets its provider must fail instead of using the ambient kubeconfig or Vault` });
    }
    const dynamic = [
        ...(config?.sharedCluster.roleStrategy === "clusterPatch" && !config.infraStack ? ["the clusterPatch role patch"] : []),
        ...(config?.waitForControllers ? ["the rotation's evidence waits (waitForControllers)"] : []),
    ];
    if (dynamic.length > 0 && (disabled.includes("*") || disabled.includes("pulumi-nodejs"))) {
        problems.push({
            key: DISABLE_DEFAULT_PROVIDERS,
            message: `${JSON.stringify(disabled)} disables pulumi-nodejs, the provider of ${dynamic.join(" and ")} (dynamic resources); list the providers instead: ["kubernetes", "vault", "random"]`,
        });
    }
    return problems;
}

/** Structured config values arrive as JSON text; plain strings stay strings. */
function parseValue(value: string): unknown {
    try {
        return JSON.parse(value);
    } catch {
        return value;
    }
}

export interface ProgramOptions {
    /** Only for the real-engine test, where the random and Vault provider plugins cannot be built. */
    credentials?: CredentialFactory;
}

/** The live platform as the stack's kube contexts show it. */
export function stackLiveReader(config: StackConfig): LiveReader {
    return kubeLiveReader({ infra: config.infraCluster, apps: config.appsCluster });
}

/** The preflight, then the program: nothing is registered while the live platform refuses the stack. */
export async function runSynergyflowDb(config: StackConfig, reader: LiveReader, stack: string, options: ProgramOptions = {}): Promise<Record<string, pulumi.Output<unknown>>> {
    const platform = await runPreflight(config, reader, stack);
    return synergyflowDb(config, platform, stack, options);
}

export function synergyflowDb(config: StackConfig, platform: TenantPlan | undefined, stack: string, options: ProgramOptions = {}): Record<string, pulumi.Output<unknown>> {
    // What the preview says besides the changes: the budget's arithmetic, warnings, a migration phase's meaning.
    const notices = planNotices(config, platform);
    for (const warning of notices.warnings) pulumi.log.warn(warning);
    for (const info of notices.infos) pulumi.log.info(info);
    let wiring: InfraWiring;
    const outputs: Record<string, pulumi.Output<unknown>> = {};
    if (config.infraStack) {
        wiring = wiringFromStack(config.infraStack);
    } else {
        if (!platform) throw new Error("the infra side needs the preflight's facts of the live platform");
        const credentials = options.credentials ?? vaultCredentials(credentialProviders(config), config.vault.kvMount);
        const infra = new InfraTenant("synergyflow", { tenant: infraTenantInputs(config, platform, stack), provider: kubeProvider("infra", config.infraCluster), credentials });
        wiring = infra.wiring;
        outputs["connectionBudget"] = pulumi.output(platform.budget);
        outputs["roleStrategy"] = pulumi.output(infra.roleStrategy);
    }
    const apps = new AppsSide("synergyflow", { apps: appsSideInputs(config, stack, platform?.migration), wiring, provider: kubeProvider("apps", config.appsCluster) });
    return {
        ...wiring,
        ...outputs,
        appsNamespace: apps.namespace,
        datasourceConfigMap: apps.datasourceConfigMapName,
        ...(apps.migration ? { migration: apps.migration } : {}),
    };
}
