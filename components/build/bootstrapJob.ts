// The bootstrap, built pure: its SQL in a ConfigMap, and the Job that runs it under restricted Pod Security,
// logging in with a basic-auth Secret (a login role's in `operator` pooler auth, the cluster superuser's in
// `vault` auth) and verifying the server against the cluster's CA. Its name carries a hash of the SQL and the
// image (infra/bootstrapJob.ts), so a new SQL text is a new Job.
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import type { BootstrapScripts } from "../model/bootstrapSql";
import type { NetworkPoliciesConfig } from "../model/config";
import { jobNetworkPolicy } from "./networkPolicy";
import { type CredentialFiles, credentialExports, credentialMount, credentialVolume, libpqEnv, restrictedPsqlContainer } from "./psqlContainer";
import { restrictedJobPod } from "./securityContext";

/** The PostgreSQL port on the cluster's instance pods (what the -rw Service forwards to). */
const POSTGRES_PORT = 5432;
// psql with one script: a CPU limit costs nothing and bounds a runaway.
const PSQL_RESOURCES = { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "200m", memory: "64Mi" } };

export interface BootstrapInputs {
    jobName: string;
    namespace: string;
    clusterName: string;
    /** The basic-auth Secret (username, password) of the role the SQL runs as, and the database it starts in. */
    runAs: { secretName: string; database: string };
    /** The cluster's CA Secret (key ca.crt): the Job verifies the server it sends the password to. */
    caSecretName: string;
    image: string;
    /** The pod's uid (pooler.bootstrapRunAsUser): psql runs as any uid once PGUSER is set. */
    runAsUser: number;
    sql: BootstrapScripts;
    /** With sql.perLoginRole: the basic-auth Secrets of the login roles that each run it for themselves. */
    loginRoleSecrets: string[];
    labels: Record<string, string>;
    /** false when no controllers run (test clusters): do not wait for the Job to complete. */
    waitForCompletion: boolean;
}

/** The Job's pods: their own component, so that the NetworkPolicy selects them and no other pod of the namespace. */
export function bootstrapPodLabels(inputs: BootstrapInputs): Record<string, string> {
    return { ...inputs.labels, "app.kubernetes.io/component": "bootstrap" };
}

/** The Job's pods reach the cluster's instances on 5432 and DNS, nothing else; nothing reaches them. */
export function bootstrapNetworkPolicy(inputs: BootstrapInputs, config: NetworkPoliciesConfig): k8s.types.input.networking.v1.NetworkPolicy {
    return jobNetworkPolicy({
        name: inputs.jobName,
        namespace: inputs.namespace,
        labels: inputs.labels,
        podSelector: bootstrapPodLabels(inputs),
        // The -rw Service's backend is the primary, which moves on a failover: every instance of the Cluster.
        egress: [{ to: [{ podSelector: { matchLabels: { "cnpg.io/cluster": inputs.clusterName } } }], ports: [{ protocol: "TCP", port: POSTGRES_PORT }] }],
        config,
    });
}

export function bootstrapSqlConfigMap(inputs: BootstrapInputs, name: string): k8s.types.input.core.v1.ConfigMap {
    return {
        metadata: { name, namespace: inputs.namespace, labels: inputs.labels },
        data: { "bootstrap.sql": inputs.sql.main, ...(inputs.sql.perLoginRole ? { "login-role.sql": inputs.sql.perLoginRole } : {}) },
    };
}

export function bootstrapJob(inputs: BootstrapInputs, name: string, configMapName: Input<string>): k8s.types.input.batch.v1.Job {
    // One credentials volume per distinct Secret (login role a's runs both its own settings and the main SQL).
    const secrets = [...new Set([...(inputs.sql.perLoginRole ? inputs.loginRoleSecrets : []), inputs.runAs.secretName])];
    const files = (secretName: string): CredentialFiles => {
        const i = secrets.indexOf(secretName) + 1;
        return { volume: `credentials-${i}`, dir: `/credentials/${i}`, secretName, usernameKey: "username", passwordKey: "password" };
    };
    const psql = (containerName: string, file: string, secretName: string, database: string) =>
        restrictedPsqlContainer({
            name: containerName,
            image: inputs.image,
            command: ["psql", "--no-psqlrc", `--file=/sql/${file}`],
            // The server certificate names the cluster's Services: verify-full holds.
            env: libpqEnv({
                host: `${inputs.clusterName}-rw`,
                port: String(POSTGRES_PORT),
                database,
                sslMode: "verify-full",
                sslRootCert: "/ca/ca.crt",
                appName: inputs.jobName,
            }),
            credentials: credentialExports(files(secretName)),
            resources: PSQL_RESOURCES,
            volumeMounts: [{ name: "sql", mountPath: "/sql", readOnly: true }, { name: "ca", mountPath: "/ca", readOnly: true }, credentialMount(files(secretName))],
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
                metadata: { labels: bootstrapPodLabels(inputs) },
                spec: restrictedJobPod(inputs.runAsUser, {
                    initContainers: perLoginRole.length > 0 ? perLoginRole : undefined,
                    containers: [psql("bootstrap-sql", "bootstrap.sql", inputs.runAs.secretName, inputs.runAs.database)],
                    volumes: [
                        { name: "sql", configMap: { name: configMapName } },
                        // Only the public certificate of the CA Secret (it also holds the CA's key).
                        { name: "ca", secret: { secretName: inputs.caSecretName, items: [{ key: "ca.crt", path: "ca.crt" }] } },
                        ...secrets.map((secretName) => credentialVolume(files(secretName))),
                    ],
                }),
            },
        },
    };
}
