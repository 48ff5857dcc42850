// The SynergyFlow backend Deployment, built pure: datasource from the ConfigMap, credentials as files of the synced
// Secret (Spring Boot reads them as a config tree), a wait-for-db init container that proves the session is the owner with the tenant's search_path
// through the pooler, and the pod template's credentials pair (login role @ Vault version) so a rotation rolls
// the pods. The component (apps/backend.ts) only registers it.
import type * as k8s from "@pulumi/kubernetes";
import type { Input } from "@pulumi/pulumi";
import type { BackendConfig } from "../model/config";
import { SERVER_CA_DIR } from "../model/jdbc";
import { POD_CREDENTIALS_ANNOTATION } from "../model/rotation";
import { waitForDbEnv, waitForDbScript } from "../model/waitForDb";
import { type CredentialFiles, credentialExports, credentialMount, credentialVolume, restrictedPsqlContainer } from "./psqlContainer";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from "./securityContext";

export const BACKEND_HTTP_PORT = 8080;
/**
 * Spring Boot's config tree (since 2.4): every file in the directory is a property named like the file. Imported
 * through the environment, it ranks above the application's own application.yml and below OS environment
 * variables; not `optional:`, so a missing directory stops the start instead of starting without credentials.
 */
export const SPRING_CREDENTIALS_DIR = "/etc/synergyflow-db/spring-credentials/";
const WAIT_FOR_DB_CREDENTIALS_DIR = "/etc/synergyflow-db/db-credentials";
/**
 * A stopping pod keeps serving this long before it gets SIGTERM: the endpoints that route to it (kube-proxy's or
 * Cilium's rules, an ingress) drop it only once the API server says it terminates, and Spring Boot's graceful
 * shutdown refuses new connections at once. Without it, every rollout (each rotation rolls the pods) drops the
 * requests sent in that gap: the e2e saw 1 of 7,755 fail ("socket hang up") across three rotations. The `sleep`
 * action needs nothing in the image (GA in Kubernetes 1.34, the platform's).
 */
export const BACKEND_DRAIN_SECONDS = 5;
/** Spring Boot's graceful shutdown waits up to 30 s for requests in flight (spring.lifecycle.timeout-per-shutdown-phase). */
const SPRING_SHUTDOWN_SECONDS = 30;
// One psql query in a loop: a CPU limit costs nothing.
const WAIT_FOR_DB_RESOURCES = { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } };

/** The pods' selector (the Deployment's and the backend NetworkPolicy's). */
export const backendPodSelector = (labels: Record<string, string>) => ({ "app.kubernetes.io/name": labels["app.kubernetes.io/name"] ?? "", "app.kubernetes.io/component": "backend" });

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
    const probe = (path: string, failureThreshold: number, periodSeconds = 10) => ({
        httpGet: { path, port: "http" },
        periodSeconds,
        timeoutSeconds: 3,
        failureThreshold,
    });
    const serverCaMount = { name: "server-ca", mountPath: SERVER_CA_DIR, readOnly: true };
    const dbCredentials: CredentialFiles = { volume: "db-credentials", dir: WAIT_FOR_DB_CREDENTIALS_DIR, secretName: inputs.credentialsSecretName, usernameKey: inputs.credentialKeys.username, passwordKey: inputs.credentialKeys.password };
    return {
        metadata: {
            name: config.deploymentName,
            namespace: inputs.namespace,
            labels: inputs.labels,
            ...(inputs.waitForReady ? {} : { annotations: { "pulumi.com/skipAwait": "true" } }),
        },
        spec: {
            replicas: inputs.replicas,
            selector: { matchLabels: backendPodSelector(inputs.labels) },
            // Surge is part of the connection budget: (replicas + maxSurge) x Hikari maximum pool.
            strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: config.maxSurge, maxUnavailable: config.maxUnavailable } },
            template: {
                metadata: { labels: inputs.labels, annotations: { [POD_CREDENTIALS_ANNOTATION]: inputs.credentialsVersion } },
                spec: {
                    automountServiceAccountToken: false,
                    // The drain, then Spring's graceful shutdown, with room to spare before the SIGKILL.
                    terminationGracePeriodSeconds: BACKEND_DRAIN_SECONDS + SPRING_SHUTDOWN_SECONDS + 10,
                    securityContext: restrictedPodSecurityContext(config.runAsUser),
                    initContainers: [
                        restrictedPsqlContainer({
                            name: "wait-for-db",
                            image: config.waitForDbImage,
                            command: ["sh", "-c", waitForDbScript(config.waitForDbAttempts)],
                            envFrom: [{ configMapRef: { name: inputs.datasourceConfigMapName } }],
                            env: waitForDbEnv(inputs.expectedSession),
                            credentials: credentialExports(dbCredentials),
                            volumeMounts: [serverCaMount, credentialMount(dbCredentials)],
                            resources: WAIT_FOR_DB_RESOURCES,
                        }),
                    ],
                    containers: [
                        {
                            name: "backend",
                            image: config.image,
                            ports: [{ name: "http", containerPort: BACKEND_HTTP_PORT }],
                            envFrom: [{ configMapRef: { name: inputs.datasourceConfigMapName } }],
                            env: [{ name: "SPRING_CONFIG_IMPORT", value: `configtree:${SPRING_CREDENTIALS_DIR}` }],
                            livenessProbe: probe("/actuator/health/liveness", 3),
                            // Every 3 s (no shorter than its 3 s timeout), the same 30 s of failures tolerated as 3 x 10
                            // s: Spring reports ready a moment after live, and a pod whose first readiness check came
                            // too early waited out a 10 s period (in one e2e run, two of its three rollouts under
                            // load, so two rotations, took 10 s more).
                            readinessProbe: probe("/actuator/health/readiness", 10, 3),
                            // The same 300 s to start, checked every 2 s: a pod is Ready (and a rollout, so a
                            // rotation, moves on) within 2 s of starting instead of up to 10.
                            startupProbe: probe("/actuator/health/liveness", 150, 2),
                            lifecycle: { preStop: { sleep: { seconds: BACKEND_DRAIN_SECONDS } } },
                            resources: config.resources,
                            securityContext: restrictedContainerSecurityContext,
                            volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, serverCaMount, { name: "spring-credentials", mountPath: SPRING_CREDENTIALS_DIR, readOnly: true }],
                        },
                    ],
                    volumes: [
                        { name: "tmp", emptyDir: { sizeLimit: "256Mi" } },
                        { name: "server-ca", configMap: { name: inputs.serverCaConfigMapName } },
                        credentialVolume(dbCredentials),
                        {
                            name: "spring-credentials",
                            secret: {
                                secretName: inputs.credentialsSecretName,
                                items: [
                                    { key: inputs.credentialKeys.username, path: "spring.datasource.username" },
                                    { key: inputs.credentialKeys.password, path: "spring.datasource.password" },
                                ],
                                defaultMode: 0o440,
                            },
                        },
                    ],
                },
            },
        },
    };
}
