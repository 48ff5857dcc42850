// Runs the tenant's bootstrap SQL: a Job under restricted Pod Security that logs in with a basic-auth Secret
// (a login role's in `operator` pooler auth, the cluster superuser's in `vault` auth), verifies the server
// against the cluster's CA, and re-runs whenever the SQL changes (its name carries a hash of the SQL, so a new
// SQL text is a new Job).
import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type BootstrapScripts, bootstrapSqlText } from "./bootstrapSql";
import { POSTGRES_UID, restrictedContainerSecurityContext, restrictedJobPod } from "../securityContext";

export interface BootstrapJobArgs {
    jobName: string;
    namespace: string;
    clusterName: string;
    /** The basic-auth Secret (username, password) of the role the SQL runs as, and the database it starts in. */
    runAs: { secretName: string; database: string };
    /** The cluster's CA Secret (key ca.crt): the Job verifies the server it sends the password to. */
    caSecretName: string;
    image: string;
    sql: BootstrapScripts;
    /** With sql.perLoginRole: the basic-auth Secrets of the login roles that each run it for themselves. */
    loginRoleSecrets: string[];
    labels: Record<string, string>;
    /** false when no controllers run (test clusters): do not wait for the Job to complete. */
    waitForCompletion: boolean;
    provider: k8s.Provider;
    dependsOn: pulumi.Resource[];
}

/** The names of the Job and its SQL ConfigMap: a new SQL text or image is a new Job. */
export function bootstrapObjectNames(jobName: string, image: string, sql: string): { job: string; configMap: string } {
    const sqlHash = createHash("sha256").update(image).update(sql).digest("hex").slice(0, 8);
    return { job: `${jobName}-${sqlHash}`, configMap: `${jobName}-sql-${sqlHash}` };
}

export class BootstrapJob extends pulumi.ComponentResource {
    public readonly job: k8s.batch.v1.Job;

    constructor(name: string, args: BootstrapJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:infra:BootstrapJob", name, {}, opts);
        const childOpts = { parent: this, provider: args.provider };
        const names = bootstrapObjectNames(args.jobName, args.image, bootstrapSqlText(args.sql));

        const script = new k8s.core.v1.ConfigMap(
            `${name}-sql`,
            {
                metadata: { name: names.configMap, namespace: args.namespace, labels: args.labels },
                data: { "bootstrap.sql": args.sql.main, ...(args.sql.perLoginRole ? { "login-role.sql": args.sql.perLoginRole } : {}) },
            },
            childOpts,
        );

        const psql = (containerName: string, file: string, secretName: string, database: string) => ({
            name: containerName,
            image: args.image,
            command: ["psql", "--no-psqlrc", `--file=/sql/${file}`],
            env: [
                // The server certificate names the cluster's Services: verify-full holds.
                { name: "PGHOST", value: `${args.clusterName}-rw` },
                { name: "PGPORT", value: "5432" },
                { name: "PGDATABASE", value: database },
                { name: "PGSSLMODE", value: "verify-full" },
                { name: "PGSSLROOTCERT", value: "/ca/ca.crt" },
                { name: "PGCONNECT_TIMEOUT", value: "10" },
                { name: "PGAPPNAME", value: args.jobName },
                { name: "PGUSER", valueFrom: { secretKeyRef: { name: secretName, key: "username" } } },
                { name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: secretName, key: "password" } } },
            ],
            securityContext: restrictedContainerSecurityContext,
            resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "64Mi" } },
            volumeMounts: [
                { name: "sql", mountPath: "/sql", readOnly: true },
                { name: "ca", mountPath: "/ca", readOnly: true },
            ],
        });
        // A role may set only its own defaults without a superuser: each login role runs login-role.sql itself.
        const perLoginRole = args.sql.perLoginRole ? args.loginRoleSecrets.map((secret, i) => psql(`login-role-${i + 1}`, "login-role.sql", secret, args.runAs.database)) : [];
        this.job = new k8s.batch.v1.Job(
            `${name}-job`,
            {
                metadata: {
                    name: names.job,
                    namespace: args.namespace,
                    labels: args.labels,
                    ...(args.waitForCompletion ? {} : { annotations: { "pulumi.com/skipAwait": "true" } }),
                },
                spec: {
                    // CNPG creates the role, the database and its pooler role asynchronously: failed attempts are
                    // retried with backoff.
                    backoffLimit: 8,
                    template: {
                        metadata: { labels: args.labels },
                        spec: restrictedJobPod(POSTGRES_UID, {
                            initContainers: perLoginRole.length > 0 ? perLoginRole : undefined,
                            containers: [psql("bootstrap-sql", "bootstrap.sql", args.runAs.secretName, args.runAs.database)],
                            volumes: [
                                { name: "sql", configMap: { name: script.metadata.name } },
                                // Only the public certificate of the CA Secret (it also holds the CA's key).
                                { name: "ca", secret: { secretName: args.caSecretName, items: [{ key: "ca.crt", path: "ca.crt" }] } },
                            ],
                        }),
                    },
                },
            },
            { ...childOpts, dependsOn: args.dependsOn },
        );
        this.registerOutputs({ jobName: this.job.metadata.name });
    }
}
