// Names: the project's (its config namespace), and those of the objects the program declares that others (the
// preflight, the evidence waits) must find by name.

import { createHash } from "node:crypto";

export const PROJECT = "synergyflow-db";

/** The Database object's name: the cluster's and the database's, as Kubernetes spells names. */
export const databaseObjectName = (clusterName: string, databaseName: string) => `${clusterName}-${databaseName.replace(/_/g, "-")}`;

/** A DatabaseRole's object name: the role's, as Kubernetes spells names. */
export const databaseRoleObjectName = (roleName: string) => roleName.replace(/_/g, "-");

/** The names of the Job and its SQL ConfigMap: a new SQL text or image is a new Job. */
export function bootstrapObjectNames(jobName: string, image: string, sql: string): { job: string; configMap: string } {
    const sqlHash = createHash("sha256").update(image).update(sql).digest("hex").slice(0, 8);
    return { job: `${jobName}-${sqlHash}`, configMap: `${jobName}-sql-${sqlHash}` };
}
