// The bootstrap, built pure: its SQL in a ConfigMap, and the Job that runs it under restricted Pod Security,
// logging in with a basic-auth Secret (a login role's in `operator` pooler auth, the cluster superuser's in
// `vault` auth) and verifying the server against the cluster's CA. Its name carries a hash of the SQL and the
// image (infra/bootstrapJob.ts), so a new SQL text is a new Job.
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import type { BootstrapScripts } from "../model/bootstrapSql";
import { libpqEnv, restrictedPsqlContainer } from "./psqlContainer";
import { POSTGRES_UID, restrictedJobPod } from "./securityContext";

export interface BootstrapInputs {
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
}

export function bootstrapSqlConfigMap(inputs: BootstrapInputs, name: string): k8s.types.input.core.v1.ConfigMap {
    return {
        metadata: { name, namespace: inputs.namespace, labels: inputs.labels },
        data: { "bootstrap.sql": inputs.sql.main, ...(inputs.sql.perLoginRole ? { "login-role.sql": inputs.sql.perLoginRole } : {}) },
    };
}

export function bootstrapJob(inputs: BootstrapInputs, name: string, configMapName: Input<string>): k8s.types.input.batch.v1.Job {
    const psql = (containerName: string, file: string, secretName: string, database: string) =>
        restrictedPsqlContainer({
            name: containerName,
            image: inputs.image,
            command: ["psql", "--no-psqlrc", `--file=/sql/${file}`],
            // The server certificate names the cluster's Services: verify-full holds.
            env: libpqEnv({
                host: `${inputs.clusterName}-rw`,
                port: "5432",
                database,
                sslMode: "verify-full",
                sslRootCert: "/ca/ca.crt",
                appName: inputs.jobName,
                credentials: { secretName, usernameKey: "username", passwordKey: "password" },
            }),
            resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "64Mi" } },
            volumeMounts: [
                { name: "sql", mountPath: "/sql", readOnly: true },
                { name: "ca", mountPath: "/ca", readOnly: true },
            ],
        });
    // A role may set only its own defaults without a superuser: each login role runs login-role.sql itself.
    const perLoginRole = inputs.sql.perLoginRole ? inputs.loginRoleSecrets.map((secret, i) => psql(`login-role-${i + 1}`, "login-role.sql", secret, inputs.runAs.database)) : [];
    return {
        metadata: {
            name,
            namespace: inputs.namespace,
            labels: inputs.labels,
            ...(inputs.waitForCompletion ? {} : { annotations: { "pulumi.com/skipAwait": "true" } }),
        },
        spec: {
            // CNPG creates the role, the database and its pooler role asynchronously: failed attempts are
            // retried with backoff.
            backoffLimit: 8,
            template: {
                metadata: { labels: inputs.labels },
                spec: restrictedJobPod(POSTGRES_UID, {
                    initContainers: perLoginRole.length > 0 ? perLoginRole : undefined,
                    containers: [psql("bootstrap-sql", "bootstrap.sql", inputs.runAs.secretName, inputs.runAs.database)],
                    volumes: [
                        { name: "sql", configMap: { name: configMapName } },
                        // Only the public certificate of the CA Secret (it also holds the CA's key).
                        { name: "ca", secret: { secretName: inputs.caSecretName, items: [{ key: "ca.crt", path: "ca.crt" }] } },
                    ],
                }),
            },
        },
    };
}
