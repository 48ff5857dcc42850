// The SynergyFlow backend Deployment: datasource from the ConfigMap, credentials from the synced Secret, a
// wait-for-db init container that proves the database is usable through the pooler, and a pod annotation
// carrying the Vault secret's version so a password rotation rolls the pods.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { BackendConfig } from "../config";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from "../securityContext";
import { SERVER_CA_DIR } from "../jdbc";
import { waitForDbEnv, waitForDbScript } from "./waitForDb";
import { POD_CREDENTIALS_ANNOTATION } from "../rotation";

const APP_UID = 1000;
/** uid of the postgres user in the alpine PostgreSQL image. */
const PSQL_UID = 70;

export interface BackendDeploymentArgs {
    config: BackendConfig;
    namespace: pulumi.Input<string>;
    datasourceConfigMapName: pulumi.Input<string>;
    /** The ConfigMap holding the shared cluster's CA certificate (ca.crt). */
    serverCaConfigMapName: pulumi.Input<string>;
    credentialsSecretName: pulumi.Input<string>;
    /** The keys of the username and password in that Secret (the backend's env names, or a CNPG Secret's). */
    credentialKeys: { username: string; password: string };
    credentialsVersion: pulumi.Input<string>;
    /** What wait-for-db expects of the session: the owner role and the search_path the bootstrap sets (none on the migration's source). */
    expectedSession?: { owner: string; searchPath: string };
    /** config.replicas, or 0 while a migration copies (migration/phases.ts). */
    replicas: number;
    labels: Record<string, string>;
    waitForReady: boolean;
    provider: k8s.Provider;
    dependsOn: pulumi.Resource[];
}

export class BackendDeployment extends pulumi.ComponentResource {
    public readonly deployment: k8s.apps.v1.Deployment;

    constructor(name: string, args: BackendDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("synergyflow-db:apps:BackendDeployment", name, {}, opts);
        const { config } = args;
        const secretKeys: Record<string, string> = { [config.usernameEnv]: args.credentialKeys.username, [config.passwordEnv]: args.credentialKeys.password };
        const fromSecret = (env: string) => ({ secretKeyRef: { name: args.credentialsSecretName, key: secretKeys[env] as string } });
        const probe = (path: string, failureThreshold: number) => ({
            httpGet: { path, port: "http" },
            periodSeconds: 10,
            timeoutSeconds: 3,
            failureThreshold,
        });

        const serverCaMount = { name: "server-ca", mountPath: SERVER_CA_DIR, readOnly: true };

        this.deployment = new k8s.apps.v1.Deployment(
            `${name}-deployment`,
            {
                metadata: {
                    name: config.deploymentName,
                    namespace: args.namespace,
                    labels: args.labels,
                    ...(args.waitForReady ? {} : { annotations: { "pulumi.com/skipAwait": "true" } }),
                },
                spec: {
                    replicas: args.replicas,
                    selector: { matchLabels: { "app.kubernetes.io/name": args.labels["app.kubernetes.io/name"] ?? "", "app.kubernetes.io/component": "backend" } },
                    // Surge is part of the connection budget: (replicas + maxSurge) x Hikari maximum pool.
                    strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: config.maxSurge, maxUnavailable: config.maxUnavailable } },
                    template: {
                        metadata: { labels: args.labels, annotations: { [POD_CREDENTIALS_ANNOTATION]: args.credentialsVersion } },
                        spec: {
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurityContext(APP_UID),
                            initContainers: [
                                {
                                    name: "wait-for-db",
                                    image: config.waitForDbImage,
                                    command: ["sh", "-c", waitForDbScript(config.waitForDbAttempts)],
                                    envFrom: [{ configMapRef: { name: args.datasourceConfigMapName } }],
                                    env: [
                                        ...waitForDbEnv(args.expectedSession),
                                        { name: "PGUSER", valueFrom: fromSecret(config.usernameEnv) },
                                        { name: "PGPASSWORD", valueFrom: fromSecret(config.passwordEnv) },
                                    ],
                                    securityContext: { ...restrictedContainerSecurityContext, runAsUser: PSQL_UID, runAsGroup: PSQL_UID },
                                    volumeMounts: [serverCaMount],
                                    resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
                                },
                            ],
                            containers: [
                                {
                                    name: "backend",
                                    image: config.image,
                                    ports: [{ name: "http", containerPort: 8080 }],
                                    envFrom: [{ configMapRef: { name: args.datasourceConfigMapName } }],
                                    env: [
                                        { name: config.usernameEnv, valueFrom: fromSecret(config.usernameEnv) },
                                        { name: config.passwordEnv, valueFrom: fromSecret(config.passwordEnv) },
                                        { name: "SPRING_DATASOURCE_USERNAME", valueFrom: fromSecret(config.usernameEnv) },
                                        { name: "SPRING_DATASOURCE_PASSWORD", valueFrom: fromSecret(config.passwordEnv) },
                                    ],
                                    livenessProbe: probe("/actuator/health/liveness", 3),
                                    readinessProbe: probe("/actuator/health/readiness", 3),
                                    startupProbe: probe("/actuator/health/liveness", 30),
                                    resources: config.resources,
                                    securityContext: restrictedContainerSecurityContext,
                                    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, serverCaMount],
                                },
                            ],
                            volumes: [
                                { name: "tmp", emptyDir: { sizeLimit: "256Mi" } },
                                { name: "server-ca", configMap: { name: args.serverCaConfigMapName } },
                            ],
                        },
                    },
                },
            },
            { parent: this, provider: args.provider, dependsOn: args.dependsOn },
        );
        this.registerOutputs({ deploymentName: this.deployment.metadata.name });
    }
}
