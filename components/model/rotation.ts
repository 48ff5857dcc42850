// Password rotation without a failed request: two login roles take turns. Both are members of the tenant's
// NOLOGIN owner role (which owns the database and the schemas) and act as it in every session, so what either
// creates belongs to the owner. A rotation regenerates the idle login role's password, waits until PostgreSQL
// has it, then moves the backend to it; the login role it leaves keeps working until the next rotation.
// Pure functions: which login role is which, what the live platform says about the last rotation, and what
// this run does. The components wire ROTATION_ORDER with dependsOn and evidence waits.
import type { Problem } from "./problem";
import type { StackConfig } from "./config";
import type { KubeObject } from "./kubeObject";

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
    /** The backend's ExternalSecret (the record of the last rotation); undefined before the first `up`. */
    backend?: { loginRole?: string; rotation?: string };
    /**
     * The backend Deployment's pods: the login role its pod template names (CREDENTIALS_VERSION_ANNOTATION), the
     * evidence of what the pods really use; undefined without a Deployment or with one on another credential.
     */
    pods?: { loginRole: string };
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

/**
 * This run's rotation, from tenant.passwordRotation and the live evidence. The same inputs give the same plan, so
 * a run that failed half-way is finished by running `up` again with the same value. The login role in use is the
 * one the pods run on (their template); the backend's ExternalSecret moves one step earlier (ROTATION_ORDER), so
 * where the two disagree only the rotation that moved the record may finish.
 */
export function planRotation(config: StackConfig, live: LiveCredentials): RotationPlan | Problem {
    const rotation = config.tenant.passwordRotation;
    const logins = loginCredentials(config.tenant);
    const slotOf = (role: string | undefined) => CREDENTIAL_SLOTS.find((slot) => logins[slot].roleName === role);
    const recorded = slotOf(live.backend?.loginRole);
    const onPods = slotOf(live.pods?.loginRole);
    const inUse = onPods ?? recorded;
    if (inUse === undefined) {
        // First run, or the backend still on the single-credential layout: both login roles are new.
        return { active: "a", generations: { a: rotation, b: rotation }, rotating: false };
    }
    const generations: Record<CredentialSlot, string> = { a: live.generations.a ?? rotation, b: live.generations.b ?? rotation };
    const deployment = `Deployment ${config.backend.namespace}/${config.backend.deploymentName}`;
    const record = `the backend's ExternalSecret ${config.backend.namespace}/${config.backend.credentialsSecretName}`;
    const lastRotation = live.backend?.rotation;
    if (recorded !== undefined && onPods !== undefined && recorded !== onPods) {
        // A run stopped between moving the backend's Secret and rolling the pods: its own rotation finishes the move.
        if (lastRotation === rotation) return { active: recorded, generations, rotating: false };
        return {
            key: "tenant.passwordRotation",
            message: `${record} was moved to ${logins[recorded].roleName} by rotation ${JSON.stringify(lastRotation)}, but the pods of ${deployment} still run on ${logins[onPods].roleName}: that rotation stopped before the rollout, and ${JSON.stringify(rotation)} would regenerate a login role the backend may be using`,
            remedy: `set tenant.passwordRotation back to ${JSON.stringify(lastRotation)} and run \`pulumi up\` (it moves the pods to ${logins[recorded].roleName}), then rotate`,
        };
    }
    if (lastRotation === rotation || live.backend === undefined) return { active: inUse, generations, rotating: false };

    if (live.rolloutPending) {
        return {
            key: "tenant.passwordRotation",
            message: `${JSON.stringify(rotation)} would start a new rotation while ${deployment} has not finished the last one (${live.rolloutPending}); its older pods may still use ${logins[otherSlot(inUse)].roleName}, whose password this rotation regenerates`,
            remedy: `set tenant.passwordRotation back to ${JSON.stringify(lastRotation)} and run \`pulumi up\` until the rollout completes (or fix what keeps the new pods from becoming available); stopping pods go within the Deployment's terminationGracePeriodSeconds; then rotate`,
        };
    }
    if (live.generations[inUse] === undefined) {
        return {
            key: "tenant.passwordRotation",
            message: `the backend runs on ${logins[inUse].roleName}, but its infra ExternalSecret ${config.sharedCluster.namespace}/${logins[inUse].passwordSecretName} carries no ${ROTATION_ANNOTATIONS.generation}: the run cannot tell which password that login role has, and might regenerate the one in use`,
            remedy: `run \`pulumi up\` once with tenant.passwordRotation ${JSON.stringify(lastRotation)} (it restores the annotation), then rotate`,
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

/**
 * The evidence of one credential: the login role and its Vault version, as a pair (each login role's Vault key
 * counts its versions from 1, so a version alone repeats across the two: a@2 after b@2). Carried by every
 * Secret ESO makes (CREDENTIALS_ANNOTATION), compared by the waits, and set on the backend's pod template.
 */
export const credentialsVersion = (loginRole: string, vaultVersion: string) => `${loginRole}@${vaultVersion}`;

/** The login role of a credentialsVersion; undefined for anything else (e.g. the migration's rollback marker). */
export function loginRoleOf(credentials: string | undefined): string | undefined {
    const at = credentials?.lastIndexOf("@") ?? -1;
    return at > 0 && /^\d+$/.test((credentials as string).slice(at + 1)) ? (credentials as string).slice(0, at) : undefined;
}

/** On every Secret ESO makes for this program: the credentialsVersion it holds (the waits' evidence). */
export const CREDENTIALS_ANNOTATION = "synergyflow-db/credentials";
/** On the backend's pod template: the credentialsVersion the pods were started on (rolls them on a change). */
export const POD_CREDENTIALS_ANNOTATION = "synergyflow.io/db-credentials-version";

/**
 * Why a live Deployment has not finished rolling out (older pods may still run); undefined when it has. `pods`
 * (the namespace's, when read) adds those still running on another credentials pair than the template's, stopping
 * ones included: the Deployment's status stops counting a pod as soon as it terminates, but it keeps serving, and
 * logging in, while it drains and shuts down.
 */
export function rolloutPending(deployment: KubeObject | undefined, pods: KubeObject[] = []): string | undefined {
    if (!deployment) return undefined;
    const spec = (deployment.spec ?? {}) as { replicas?: number };
    const status = (deployment.status ?? {}) as { observedGeneration?: number; replicas?: number; updatedReplicas?: number; availableReplicas?: number };
    const wanted = spec.replicas ?? 1;
    const generation = deployment.metadata.generation ?? 0;
    if ((status.observedGeneration ?? 0) < generation) return `generation ${generation} not yet observed by the controller`;
    if ((status.updatedReplicas ?? 0) < wanted) return `${status.updatedReplicas ?? 0} of ${wanted} pods updated`;
    if ((status.replicas ?? 0) > (status.updatedReplicas ?? 0)) return `${(status.replicas ?? 0) - (status.updatedReplicas ?? 0)} older pods still running`;
    if ((status.availableReplicas ?? 0) < wanted) return `${status.availableReplicas ?? 0} of ${wanted} pods available`;
    const template = templatePair(deployment);
    const older = pods.filter((pod) => {
        const pair = pod.metadata.annotations?.[POD_CREDENTIALS_ANNOTATION];
        return pair !== undefined && pair !== template;
    });
    if (older.length > 0) {
        const stopping = older.filter((pod) => pod.metadata.deletionTimestamp).length;
        return `${older.length} pods still on ${[...new Set(older.map((pod) => pod.metadata.annotations![POD_CREDENTIALS_ANNOTATION]))].join(", ")}${stopping ? ` (${stopping} of them stopping)` : ""}: ${older.map((pod) => pod.metadata.name).join(", ")}`;
    }
    return undefined;
}

/** The credentials pair the Deployment's pod template names (what its new pods start on). */
function templatePair(deployment: KubeObject | undefined): string | undefined {
    return (deployment?.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined)?.template?.metadata?.annotations?.[POD_CREDENTIALS_ANNOTATION];
}

/** The live evidence of the last rotation: the backend's and the login roles' ExternalSecrets, the Deployment and
 * the pods of the backend's namespace. */
export function liveCredentials(objects: { backendSecret?: KubeObject; loginSecrets: Partial<Record<CredentialSlot, KubeObject>>; deployment?: KubeObject; pods?: KubeObject[] }): LiveCredentials {
    const podsRole = loginRoleOf(templatePair(objects.deployment));
    const annotations = (object: KubeObject | undefined) => object?.metadata.annotations ?? {};
    const generations: Partial<Record<CredentialSlot, string>> = {};
    for (const slot of CREDENTIAL_SLOTS) {
        const generation = annotations(objects.loginSecrets[slot])[ROTATION_ANNOTATIONS.generation];
        if (generation !== undefined) generations[slot] = generation;
    }
    const backend = objects.backendSecret
        ? { loginRole: annotations(objects.backendSecret)[ROTATION_ANNOTATIONS.loginRole], rotation: annotations(objects.backendSecret)[ROTATION_ANNOTATIONS.rotation] }
        : undefined;
    return { ...(backend ? { backend } : {}), ...(podsRole ? { pods: { loginRole: podsRole } } : {}), generations, rolloutPending: rolloutPending(objects.deployment, objects.pods) };
}
