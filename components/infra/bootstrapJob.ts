// Runs the tenant's bootstrap SQL as the shared cluster's superuser: a Job under restricted Pod Security that
// reads the password only through a Secret reference, and re-runs whenever the SQL changes (its name
// carries a hash of the SQL, so a new SQL text is a new Job).
import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from "../securityContext";

export interface BootstrapJobArgs {
    jobName: string;
    namespace: string;
    clusterName: string;
    superuserSecretName: string;
    image: string;
    sql: string;
    labels: Record<string, string>;
    /** false when no controllers run (test clusters): do not wait for the Job to complete. */
    waitForCompletion: boolean;
    provider: k8s.Provider;
    dependsOn: pulumi.Resource[];
}

/** uid of the postgres user in CNPG's PostgreSQL images. */
const POSTGRES_UID = 26;

export class BootstrapJob extends pulumi.ComponentResource {
    public readonly job: k8s.batch.v1.Job;

    constructor(name: string, args: BootstrapJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:infra:BootstrapJob", name, {}, opts);
        const childOpts = { parent: this, provider: args.provider };
        const sqlHash = createHash("sha256").update(args.image).update(args.sql).digest("hex").slice(0, 8);

        const script = new k8s.core.v1.ConfigMap(
            `${name}-sql`,
            {
                metadata: { name: `${args.jobName}-sql-${sqlHash}`, namespace: args.namespace, labels: args.labels },
                data: { "bootstrap.sql": args.sql },
            },
            childOpts,
        );

        const superuser = (key: string) => ({ secretKeyRef: { name: args.superuserSecretName, key } });
        this.job = new k8s.batch.v1.Job(
            `${name}-job`,
            {
                metadata: {
                    name: `${args.jobName}-${sqlHash}`,
                    namespace: args.namespace,
                    labels: args.labels,
                    ...(args.waitForCompletion ? {} : { annotations: { "pulumi.com/skipAwait": "true" } }),
                },
                spec: {
                    // CNPG creates the role and database asynchronously: failed attempts are retried with backoff.
                    backoffLimit: 8,
                    template: {
                        metadata: { labels: args.labels },
                        spec: {
                            restartPolicy: "Never",
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurityContext(POSTGRES_UID),
                            containers: [
                                {
                                    name: "bootstrap-sql",
                                    image: args.image,
                                    command: ["psql", "--no-psqlrc", "--file=/sql/bootstrap.sql"],
                                    env: [
                                        { name: "PGHOST", value: `${args.clusterName}-rw` },
                                        { name: "PGPORT", value: "5432" },
                                        { name: "PGDATABASE", value: "postgres" },
                                        { name: "PGSSLMODE", value: "require" },
                                        { name: "PGCONNECT_TIMEOUT", value: "10" },
                                        { name: "PGAPPNAME", value: args.jobName },
                                        { name: "PGUSER", valueFrom: superuser("username") },
                                        { name: "PGPASSWORD", valueFrom: superuser("password") },
                                    ],
                                    securityContext: restrictedContainerSecurityContext,
                                    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "64Mi" } },
                                    volumeMounts: [{ name: "sql", mountPath: "/sql", readOnly: true }],
                                },
                            ],
                            volumes: [{ name: "sql", configMap: { name: script.metadata.name } }],
                        },
                    },
                },
            },
            { ...childOpts, dependsOn: args.dependsOn },
        );
        this.registerOutputs({ jobName: this.job.metadata.name });
    }
}
