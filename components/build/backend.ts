// The SynergyFlow backend Deployment, built pure: datasource from the ConfigMap, credentials from the synced
// Secret, a wait-for-db init container that proves the session is the owner with the tenant's search_path
// through the pooler, and the pod template's credentials pair (login role @ Vault version) so a rotation rolls
// the pods. The component (apps/backend.ts) only registers it.
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import type { BackendConfig } from "../model/config";
import { SERVER_CA_DIR } from "../model/jdbc";
import { POD_CREDENTIALS_ANNOTATION } from "../model/rotation";
import { waitForDbEnv, waitForDbScript } from "../model/waitForDb";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from "./securityContext";

const APP_UID = 1000;
/** uid of the postgres user in the alpine PostgreSQL image. */
const PSQL_UID = 70;

export interface BackendInputs {
    config: BackendConfig;
    namespace: Input<string>;
    datasourceConfigMapName: Input<string>;
    /** The ConfigMap holding the shared cluster's CA certificate (ca.crt). */
    serverCaConfigMapName: Input<string>;
    credentialsSecretName: Input<string>;
    /** The keys of the username and password in that Secret (the backend's env names, or a CNPG Secret's). */
    credentialKeys: { username: string; password: string };
    credentialsVersion: Input<string>;
    /** What wait-for-db expects of the session: the owner role and the search_path the bootstrap sets (none on the migration's source). */
    expectedSession?: { owner: string; searchPath: string };
    /** config.replicas, or 0 while a migration copies (migration/phases.ts). */
    replicas: number;
    labels: Record<string, string>;
    waitForReady: boolean;
}

export function backendDeployment(inputs: BackendInputs): k8s.types.input.apps.v1.Deployment {
    const { config } = inputs;
    const secretKeys: Record<string, string> = { [config.usernameEnv]: inputs.credentialKeys.username, [config.passwordEnv]: inputs.credentialKeys.password };
    const fromSecret = (env: string) => ({ secretKeyRef: { name: inputs.credentialsSecretName, key: secretKeys[env] as string } });
    const probe = (path: string, failureThreshold: number) => ({
        httpGet: { path, port: "http" },
        periodSeconds: 10,
        timeoutSeconds: 3,
        failureThreshold,
    });
    const serverCaMount = { name: "server-ca", mountPath: SERVER_CA_DIR, readOnly: true };
    return {
        metadata: {
            name: config.deploymentName,
            namespace: inputs.namespace,
            labels: inputs.labels,
            ...(inputs.waitForReady ? {} : { annotations: { "pulumi.com/skipAwait": "true" } }),
        },
        spec: {
            replicas: inputs.replicas,
            selector: { matchLabels: { "app.kubernetes.io/name": inputs.labels["app.kubernetes.io/name"] ?? "", "app.kubernetes.io/component": "backend" } },
            // Surge is part of the connection budget: (replicas + maxSurge) x Hikari maximum pool.
            strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: config.maxSurge, maxUnavailable: config.maxUnavailable } },
            template: {
                metadata: { labels: inputs.labels, annotations: { [POD_CREDENTIALS_ANNOTATION]: inputs.credentialsVersion } },
                spec: {
                    automountServiceAccountToken: false,
                    securityContext: restrictedPodSecurityContext(APP_UID),
                    initContainers: [
                        {
                            name: "wait-for-db",
                            image: config.waitForDbImage,
                            command: ["sh", "-c", waitForDbScript(config.waitForDbAttempts)],
                            envFrom: [{ configMapRef: { name: inputs.datasourceConfigMapName } }],
                            env: [
                                ...waitForDbEnv(inputs.expectedSession),
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
                            envFrom: [{ configMapRef: { name: inputs.datasourceConfigMapName } }],
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
                        { name: "server-ca", configMap: { name: inputs.serverCaConfigMapName } },
                    ],
                },
            },
        },
    };
}
