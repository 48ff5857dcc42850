// Password rotation without a failed request: two login roles take turns. Both are members of the tenant's
// NOLOGIN owner role (which owns the database and the schemas) and act as it in every session, so what either
// creates belongs to the owner. A rotation regenerates the idle login role's password, waits until PostgreSQL
// has it, then moves the backend to it; the login role it leaves keeps working until the next rotation.
// Pure functions: which login role is which, what the live platform says about the last rotation, and what
// this run does. The components wire ROTATION_ORDER with dependsOn and evidence waits.
import type { StackConfig } from "./config";
import type { KubeObject } from "./live/kubeObjects";

export type CredentialSlot = "a" | "b";
export const CREDENTIAL_SLOTS: CredentialSlot[] = ["a", "b"];
export const otherSlot = (slot: CredentialSlot): CredentialSlot => (slot === "a" ? "b" : "a");

/** One of the two login roles, with where its password lives. */
export interface LoginCredential {
    slot: CredentialSlot;
    /** `<tenant.roleName>_<slot>`: a member of the owner role tenant.roleName. */
    roleName: string;
    /** The basic-auth Secret CNPG reads the password from: `<tenant.passwordSecretName>-<slot>`. */
    passwordSecretName: string;
    /** The Vault secret under vault.keyPrefix: `<tenant.appName>-<slot>`. */
    vaultName: string;
}

export function loginCredentials(tenant: StackConfig["tenant"]): Record<CredentialSlot, LoginCredential> {
    const credential = (slot: CredentialSlot): LoginCredential => ({
        slot,
        roleName: `${tenant.roleName}_${slot}`,
        passwordSecretName: `${tenant.passwordSecretName}-${slot}`,
        vaultName: `${tenant.appName}-${slot}`,
    });
    return { a: credential("a"), b: credential("b") };
}

/** Annotations that record a rotation on the live objects, so the next run knows which login role is in use. */
export const ROTATION_ANNOTATIONS = {
    /** On each login role's infra ExternalSecret: the tenant.passwordRotation its password was generated for. */
    generation: "synergyflow-db/password-generation",
    /** On the backend's ExternalSecret: the login role the backend's Secret follows... */
    loginRole: "synergyflow-db/login-role",
    /** ...and the tenant.passwordRotation that moved it there. */
    rotation: "synergyflow-db/password-rotation",
} as const;

/** What the live platform says about the credentials, as the preflight read it. */
export interface LiveCredentials {
    /** The backend's ExternalSecret; undefined before the first `up`. */
    backend?: { loginRole?: string; rotation?: string };
    /** Each login role's infra ExternalSecret: the rotation its password was generated for. */
    generations: Partial<Record<CredentialSlot, string>>;
    /** Why the backend Deployment has not finished rolling out; undefined when it has (or does not exist). */
    rolloutPending?: string;
}

export interface RotationPlan {
    /** The login role the backend uses after this run. */
    active: CredentialSlot;
    /** Per login role, the tenant.passwordRotation its password is generated for (the random keeper). */
    generations: Record<CredentialSlot, string>;
    rotating: boolean;
}

export interface RotationProblem {
    key: string;
    message: string;
    remedy: string;
}

/**
 * This run's rotation, from tenant.passwordRotation and the live evidence. The same inputs give the same plan, so
 * a run that failed half-way is finished by running `up` again with the same value.
 */
export function planRotation(config: StackConfig, live: LiveCredentials): RotationPlan | RotationProblem {
    const rotation = config.tenant.passwordRotation;
    const logins = loginCredentials(config.tenant);
    const slotOf = (role: string | undefined) => CREDENTIAL_SLOTS.find((slot) => logins[slot].roleName === role);
    const inUse = slotOf(live.backend?.loginRole);
    if (!live.backend || inUse === undefined) {
        // First run, or the backend still on the single-credential layout: both login roles are new.
        return { active: "a", generations: { a: rotation, b: rotation }, rotating: false };
    }
    const generations: Record<CredentialSlot, string> = { a: live.generations.a ?? rotation, b: live.generations.b ?? rotation };
    if (live.backend.rotation === rotation) return { active: inUse, generations, rotating: false };

    const where = `the backend's ExternalSecret ${config.backend.namespace}/${config.backend.credentialsSecretName}`;
    if (live.rolloutPending) {
        return {
            key: "tenant.passwordRotation",
            message: `${JSON.stringify(rotation)} would start a new rotation while Deployment ${config.backend.namespace}/${config.backend.deploymentName} has not finished the last one (${live.rolloutPending}); its older pods may still use ${logins[otherSlot(inUse)].roleName}, whose password this rotation regenerates`,
            remedy: `set tenant.passwordRotation back to ${JSON.stringify(live.backend.rotation)} and run \`pulumi up\` until the rollout completes (or fix what keeps the new pods from becoming available), then rotate`,
        };
    }
    if (live.generations[inUse] === undefined) {
        return {
            key: "tenant.passwordRotation",
            message: `${where} follows ${logins[inUse].roleName}, but its infra ExternalSecret ${config.sharedCluster.namespace}/${logins[inUse].passwordSecretName} carries no ${ROTATION_ANNOTATIONS.generation}: the run cannot tell which password that login role has, and might regenerate the one in use`,
            remedy: `run \`pulumi up\` once with tenant.passwordRotation ${JSON.stringify(live.backend.rotation)} (it restores the annotation), then rotate`,
        };
    }
    const next = otherSlot(inUse);
    return { active: next, generations: { ...generations, [next]: rotation }, rotating: true };
}

/**
 * The order of a rotation, each step waiting for evidence of the one before (when controllers run). The
 * components encode it with dependsOn; the integration test plays it step by step with a client under load.
 */
export const ROTATION_ORDER = [
    /** The idle login role's new password becomes a new Vault version. */
    "vault",
    /** Its infra ExternalSecret, annotated with that version, syncs at once: the Secret carries the version. */
    "infraSecret",
    /** CNPG applies the password (reload label): its status names the Secret's resourceVersion. */
    "postgres",
    /** The backend's ExternalSecret moves to that login role's Vault key and version: its Secret carries it. */
    "appsSecret",
    /** The pod template's credentials version changes: the rollout completes on the new login role. */
    "backend",
] as const;
export type RotationStep = (typeof ROTATION_ORDER)[number];

/** What the backend's pods are told changed: the login role and its Vault version (each role's versions count from 1). */
export const credentialsVersion = (loginRole: string, vaultVersion: string) => `${loginRole}@${vaultVersion}`;

/** Why a live Deployment has not finished rolling out (older pods may still run); undefined when it has. */
export function rolloutPending(deployment: KubeObject | undefined): string | undefined {
    if (!deployment) return undefined;
    const spec = (deployment.spec ?? {}) as { replicas?: number };
    const status = (deployment.status ?? {}) as { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number };
    const wanted = spec.replicas ?? 1;
    const generation = deployment.metadata.generation ?? 0;
    if ((status.observedGeneration ?? 0) < generation) return `generation ${generation} not yet observed by the controller`;
    if ((status.updatedReplicas ?? 0) < wanted) return `${status.updatedReplicas ?? 0} of ${wanted} pods updated`;
    if ((status.replicas ?? 0) > (status.updatedReplicas ?? 0)) return `${(status.replicas ?? 0) - (status.updatedReplicas ?? 0)} older pods still running`;
    if ((status.availableReplicas ?? 0) < wanted) return `${status.availableReplicas ?? 0} of ${wanted} pods available`;
    return undefined;
}

/** The live evidence of the last rotation: the backend's and the login roles' ExternalSecrets, the Deployment. */
export function liveCredentials(objects: { backendSecret?: KubeObject; loginSecrets: Partial<Record<CredentialSlot, KubeObject>>; deployment?: KubeObject }): LiveCredentials {
    const annotations = (object: KubeObject | undefined) => object?.metadata.annotations ?? {};
    const generations: Partial<Record<CredentialSlot, string>> = {};
    for (const slot of CREDENTIAL_SLOTS) {
        const generation = annotations(objects.loginSecrets[slot])[ROTATION_ANNOTATIONS.generation];
        if (generation !== undefined) generations[slot] = generation;
    }
    const backend = objects.backendSecret
        ? { loginRole: annotations(objects.backendSecret)[ROTATION_ANNOTATIONS.loginRole], rotation: annotations(objects.backendSecret)[ROTATION_ANNOTATIONS.rotation] }
        : undefined;
    return { ...(backend ? { backend } : {}), generations, rolloutPending: rolloutPending(objects.deployment) };
}
