// Typed specs of the custom resources this program creates: the CNPG and External Secrets fields it uses.
// Types only (the builders in build/ check their objects against them with `satisfies`).
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

type In<T> = pulumi.Input<T>;

export interface LocalObjectReference {
    name: In<string>;
}

/** postgresql.cnpg.io/v1 role fields, shared by DatabaseRole.spec and Cluster.spec.managed.roles[]. */
export interface CnpgRoleFields {
    name: string;
    ensure?: "present" | "absent";
    login: boolean;
    inherit: boolean;
    connectionLimit: number;
    superuser: boolean;
    createdb: boolean;
    createrole: boolean;
    replication: boolean;
    bypassrls: boolean;
    comment?: string;
    /** Roles it is a member of (CNPG grants the membership). */
    inRoles?: string[];
    passwordSecret?: { name: string };
}

export interface DatabaseRoleSpec extends CnpgRoleFields {
    cluster: LocalObjectReference;
    databaseRoleReclaimPolicy: "retain" | "delete";
}

export interface DatabaseSpec {
    cluster: LocalObjectReference;
    name: string;
    owner: string;
    ensure?: "present" | "absent";
    databaseReclaimPolicy: "retain" | "delete";
    schemas: { name: string; owner: string; ensure?: "present" | "absent" }[];
}

export interface PoolerSpec {
    cluster: LocalObjectReference;
    instances: number;
    type: "rw" | "ro";
    pgbouncer: {
        poolMode: "session" | "transaction";
        parameters: Record<string, string>;
        pg_hba: string[];
        authQuerySecret?: LocalObjectReference;
        authQuery?: string;
    };
    template: {
        metadata: { labels: Record<string, string> };
        spec: {
            containers: k8s.types.input.core.v1.Container[];
            affinity?: k8s.types.input.core.v1.Affinity;
        };
    };
    deploymentStrategy: k8s.types.input.apps.v1.DeploymentStrategy;
    serviceTemplate?: {
        metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
        spec: { type: "ClusterIP" | "LoadBalancer"; externalTrafficPolicy?: "Cluster" | "Local" };
    };
}

export interface ExternalSecretSpec {
    refreshInterval: string;
    secretStoreRef: { kind: "ClusterSecretStore" | "SecretStore"; name: string };
    target: {
        name: string;
        creationPolicy: "Owner" | "Orphan" | "Merge" | "None";
        template: {
            type: string;
            engineVersion?: "v2";
            metadata?: { labels?: Record<string, string>; annotations?: Record<string, In<string>> };
        };
    };
    data: { secretKey: string; remoteRef: { key: In<string>; property: string; version?: In<string> } }[];
}

export interface PodMonitorSpec {
    selector: { matchLabels: Record<string, string> };
    podMetricsEndpoints: { port: string }[];
}
