// What a rotation waits for between its steps (rotation.ts ROTATION_ORDER), as data and pure checks: the
// evidence the controllers leave on live objects. ControllerEvidence (controllerEvidence.ts) polls it.
import { databaseRoleObjectName } from "./names";
import { type ClusterSide, describeRef, type KubeObject, type ObjectRef } from "./kubeObject";
import { CREDENTIALS_ANNOTATION } from "./rotation";

export type EvidenceWait =
    /**
     * ESO synced the ExternalSecret after it changed: its Secret carries the credentialsVersion (login role and
     * Vault version: the pair, since each role's key counts its own versions) it was told to read.
     */
    | { kind: "secretSynced"; cluster: ClusterSide; namespace: string; secretName: string; credentials: string }
    /**
     * CNPG applied the Secret's password to the role in PostgreSQL: it records the Secret's resourceVersion it
     * applied, in the Cluster's status.managedRolesStatus.passwordStatus (inline roles) or the DatabaseRole's
     * status.secretResourceVersion.
     */
    | { kind: "passwordApplied"; namespace: string; clusterName: string; roleName: string; secretName: string; declaredBy: "cluster" | "databaseRole" };

/** The live objects a wait reads. */
export function evidenceRefs(wait: EvidenceWait): ObjectRef[] {
    if (wait.kind === "secretSynced") return [{ cluster: wait.cluster, apiVersion: "v1", kind: "Secret", namespace: wait.namespace, name: wait.secretName }];
    const secret: ObjectRef = { cluster: "infra", apiVersion: "v1", kind: "Secret", namespace: wait.namespace, name: wait.secretName };
    const status: ObjectRef =
        wait.declaredBy === "cluster"
            ? { cluster: "infra", apiVersion: "postgresql.cnpg.io/v1", kind: "Cluster", namespace: wait.namespace, name: wait.clusterName }
            : { cluster: "infra", apiVersion: "postgresql.cnpg.io/v1", kind: "DatabaseRole", namespace: wait.namespace, name: databaseRoleObjectName(wait.roleName) };
    return [secret, status];
}

/** What is not yet true of a wait, given the objects of evidenceRefs (undefined = absent); undefined when met. */
export function missingEvidence(wait: EvidenceWait, objects: (KubeObject | undefined)[]): string | undefined {
    const [secret, status] = objects;
    const refs = evidenceRefs(wait);
    const secretRef = describeRef(refs[0] as ObjectRef);
    if (!secret) return `${secretRef} does not exist yet`;
    if (wait.kind === "secretSynced") {
        const held = secret.metadata.annotations?.[CREDENTIALS_ANNOTATION];
        return held === wait.credentials ? undefined : `${secretRef} on the ${wait.cluster} cluster holds ${held ?? "no recorded credentials"}, not ${wait.credentials}: External Secrets has not synced it yet`;
    }
    const statusRef = describeRef(refs[1] as ObjectRef);
    const applied =
        wait.declaredBy === "cluster"
            ? (status?.status?.["managedRolesStatus"] as { passwordStatus?: Record<string, { resourceVersion?: string }> } | undefined)?.passwordStatus?.[wait.roleName]?.resourceVersion
            : (status?.status?.["secretResourceVersion"] as string | undefined);
    const current = secret.metadata.resourceVersion;
    if (applied !== undefined && applied === current) return undefined;
    const why = cnpgReason(wait, status);
    return `CNPG has not applied ${secretRef} (resourceVersion ${current}) to role ${wait.roleName}: ${statusRef} reports ${applied === undefined ? "no password applied" : `resourceVersion ${applied}`}${why ? `; CNPG says: ${why}` : ""}`;
}

/**
 * Why CNPG could not apply a role, as it reports it: status.managedRolesStatus.cannotReconcile[role] on the
 * Cluster (e.g. a Secret whose username is not the role's), or the DatabaseRole's status.message when not applied.
 */
function cnpgReason(wait: EvidenceWait & { kind: "passwordApplied" }, status: KubeObject | undefined): string | undefined {
    if (wait.declaredBy === "cluster") {
        const reasons = (status?.status?.["managedRolesStatus"] as { cannotReconcile?: Record<string, string[]> } | undefined)?.cannotReconcile?.[wait.roleName];
        return reasons?.length ? reasons.join("; ") : undefined;
    }
    const roleStatus = status?.status as { applied?: boolean; message?: string } | undefined;
    return roleStatus?.applied === false && roleStatus.message ? roleStatus.message : undefined;
}
