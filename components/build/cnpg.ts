// The CNPG objects the tenant's roles and database are declared with (CNPG >= 1.25 Database, >= 1.30
// DatabaseRole), built pure; infra/database.ts and infra/role.ts register them.
import type { CnpgRoleFields, DatabaseRoleSpec, DatabaseSpec } from "../model/crds";
import { databaseObjectName, databaseRoleObjectName } from "../model/names";


export interface DatabaseInputs {
    clusterName: string;
    namespace: string;
    databaseName: string;
    owner: string;
    schemas: string[];
    reclaimPolicy: "retain" | "delete";
    labels: Record<string, string>;
}

export function databaseManifest(inputs: DatabaseInputs) {
    return {
        apiVersion: "postgresql.cnpg.io/v1",
        kind: "Database",
        metadata: { name: databaseObjectName(inputs.clusterName, inputs.databaseName), namespace: inputs.namespace, labels: inputs.labels },
        spec: {
            cluster: { name: inputs.clusterName },
            name: inputs.databaseName,
            owner: inputs.owner,
            ensure: "present",
            databaseReclaimPolicy: inputs.reclaimPolicy,
            schemas: inputs.schemas.map((schema) => ({ name: schema, owner: inputs.owner, ensure: "present" })),
        } satisfies DatabaseSpec,
    };
}

export function databaseRoleManifest(role: CnpgRoleFields, cluster: { name: string; namespace: string }, reclaimPolicy: "retain" | "delete", labels: Record<string, string>) {
    return {
        apiVersion: "postgresql.cnpg.io/v1",
        kind: "DatabaseRole",
        metadata: { name: databaseRoleObjectName(role.name), namespace: cluster.namespace, labels },
        // ensure: absent is not allowed on a DatabaseRole: removal = deleting it.
        spec: { ...role, ensure: undefined, cluster: { name: cluster.name }, databaseRoleReclaimPolicy: reclaimPolicy } satisfies DatabaseRoleSpec,
    };
}
