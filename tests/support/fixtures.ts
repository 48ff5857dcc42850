import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import YAML from "yaml";
import type { LiveCluster } from "../../components/model/rolePatch";
import { readDumpFolder } from "../../components/live/kubeObjects";
import { ROOT } from "../harness";

/** The prod shared Cluster as its owner wrote it before our entry was added: five tenants, Flux owning the roles. */
export function sharedClusterFixture(): LiveCluster {
    const cluster = YAML.parse(fs.readFileSync(path.join(ROOT, "fixtures/live/prod/infra/shared-postgres.yaml"), "utf8")) as LiveCluster;
    // The prod Cluster without the entries the platform team added for us (owner and login roles).
    cluster.spec.managed!.roles = cluster.spec.managed!.roles!.filter((r) => !String(r["name"]).startsWith("synergyflow_app"));
    return cluster;
}

/**
 * A copy of fixtures/live/<stack> in a temporary folder, changed by `change` (which may edit, add or remove
 * objects of either cluster), with `servedKinds` declared served on the infra cluster. Returns the folder.
 */
export function livePlatformCopy(stack: string, change?: (infra: any[], apps: any[]) => void, servedKinds: { apiVersion: string; kind: string }[] = []): string {
    const source = path.join(ROOT, "fixtures/live", stack);
    const infra: any[] = readDumpFolder(path.join(source, "infra"));
    const apps: any[] = readDumpFolder(path.join(source, "apps"));
    change?.(infra, apps);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-live-"));
    for (const [side, objects] of [["infra", infra], ["apps", apps]] as const) {
        fs.mkdirSync(path.join(dir, side));
        fs.writeFileSync(path.join(dir, side, "objects.yaml"), objects.map((o) => YAML.stringify(o)).join("---\n"));
    }
    if (servedKinds.length > 0) fs.writeFileSync(path.join(dir, "infra", "served-kinds.yaml"), YAML.stringify({ apiVersion: "v1", kind: "List", items: servedKinds }));
    return dir;
}

/** What the live platform holds after an earlier `up` of the prod stack: the rotation's record (rotation.ts). */
export interface EarlierRun {
    /** The login role the backend's ExternalSecret follows, and the rotation that moved it there. */
    loginRole: string;
    rotation: string;
    /** The login role the pods' template names, when it differs from the record (a run stopped before the rollout). */
    podsOn?: string;
    /** Per login role slot, the rotation its password was generated for (undefined: annotation missing). */
    generations: { a?: string; b?: string };
    /** The backend Deployment's status: rolled out, or with older pods still running. */
    rollout: "complete" | "pending";
}

/** fixtures/live/prod plus this stack's ExternalSecrets and Deployment as an earlier run left them. */
export function platformAfter(run: EarlierRun): string {
    const labels = { "synergyflow-db/stack": "prod" };
    const externalSecret = (namespace: string, name: string, annotations: Record<string, string>) => ({ apiVersion: "external-secrets.io/v1", kind: "ExternalSecret", metadata: { name, namespace, labels, annotations } });
    return livePlatformCopy("prod", (infra, apps) => {
        for (const slot of ["a", "b"] as const) {
            const generation = run.generations[slot];
            infra.push(externalSecret("cnpg-system", `synergyflow-app-role-password-${slot}`, generation === undefined ? {} : { "synergyflow-db/password-generation": generation }));
        }
        apps.push(externalSecret("synergyflow", "synergyflow-db-credentials", { "synergyflow-db/login-role": run.loginRole, "synergyflow-db/password-rotation": run.rotation }));
        const complete = run.rollout === "complete";
        apps.push({
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "synergyflow-backend", namespace: "synergyflow", labels, generation: 4 },
            // The pods' template names the login role they run on (the rotation reads the role in use from it).
            spec: { replicas: 3, template: { metadata: { annotations: { "synergyflow.io/db-credentials-version": `${run.podsOn ?? run.loginRole}@3` } } } },
            status: { observedGeneration: 4, replicas: complete ? 3 : 4, updatedReplicas: complete ? 3 : 1, availableReplicas: 3 },
        });
    });
}

/** fixtures/live/prod plus the dedicated cluster's Secrets on the apps cluster and the migration's last record. */
export function migrationPlatform(record?: Record<string, string>): string {
    const b64 = (text: string) => Buffer.from(text).toString("base64");
    return livePlatformCopy("prod", (_infra, apps) => {
        apps.push({ apiVersion: "v1", kind: "Secret", type: "kubernetes.io/basic-auth", metadata: { name: "synergyflow-db-app", namespace: "synergyflow" }, data: { username: b64("app"), password: b64("not-a-real-one") } });
        apps.push({ apiVersion: "v1", kind: "Secret", metadata: { name: "synergyflow-db-ca", namespace: "synergyflow" }, data: { "ca.crt": b64("-----BEGIN CERTIFICATE-----\nDEDICATED\n-----END CERTIFICATE-----\n") } });
        if (record) apps.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "synergyflow-db-migration", namespace: "synergyflow", labels: { "synergyflow-db/stack": "prod" } }, data: record });
    });
}

/** prod's platform on CNPG 1.30 (DatabaseRole served), before the platform added any inline entry of ours. */
export function databaseRolePlatform(): string {
    return livePlatformCopy(
        "prod",
        (infra) => {
            const cluster = infra.find((o) => o.kind === "Cluster");
            cluster.spec.managed.roles = cluster.spec.managed.roles.filter((r: any) => !String(r.name).startsWith("synergyflow_app"));
        },
        [{ apiVersion: "postgresql.cnpg.io/v1", kind: "DatabaseRole" }],
    );
}
