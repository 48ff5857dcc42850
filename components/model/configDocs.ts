// One line per top-level config key: used for Pulumi.yaml's config block and the README's table.
import type { StackConfig } from "./config";

export const CONFIG_DESCRIPTIONS: Record<keyof StackConfig, string> = {
    infraCluster: "Infra cluster (CNPG side): kube context, optional kubeconfig (path or contents), stable clusterIdentifier.",
    appsCluster: "Apps cluster (backend side): kube context, optional kubeconfig (path or contents), stable clusterIdentifier.",
    sharedCluster:
        "The shared CNPG Cluster: name, namespace, operatorVersion (1.27 | 1.28 | 1.29 | 1.30: the PgBouncer allow-list follows it), roleStrategy (external | clusterPatch | databaseRole). Its max_connections, roles, superuser access and CA are read live by the preflight.",
    tenant: "The tenant: appName, roleName (the NOLOGIN owner; login roles <roleName>_a/_b take turns), databaseName, schemas, connectionLimit (per login role), passwordSecretName, databaseReclaimPolicy, roleReclaimPolicy (retain | delete), passwordRotation (a new value rotates).",
    pooler:
        "The PgBouncer Pooler: name, podDisruptionBudgetName, instances, poolMode, parameters (PgBouncer names), resources, authMode (operator | vault), auth role/secret/function names, bootstrapJobName, bootstrapImage (name[:tag] or name[:tag]@sha256:<64 hex>), bootstrapRunAsUser, exposure {mode: loadBalancer | clusterMesh | external, loadBalancerIP, host, appsMasquerade, appsNodeCidrs, appsPodCidrs, networkPolicyName, pathIdleTimeoutSeconds}, podMonitor, monitoringNamespaceSelector.",
    vault: "Vault: address, kvMount (KV v2 mount name, no /data), keyPrefix (credentials go to <keyPrefix>/<appName>-a and -b).",
    externalSecrets: "External Secrets: infraStore and appsStore (ClusterSecretStore names), refreshInterval.",
    backend:
        "The backend: namespace, namespaceMode (create | patch), podSecurityLevel, deploymentName, image (name[:tag] or name[:tag]@sha256:<64 hex>), runAsUser (the pod's uid, wait-for-db included), replicas, maxSurge, maxUnavailable, hikari settings, resources, credentialsSecretName, usernameEnv and passwordEnv (the Secret's keys; the backend reads them as files through SPRING_CONFIG_IMPORT), waitForDbImage, waitForDbAttempts.",
    waitForControllers: "Wait for ExternalSecrets, the bootstrap Job, role removal and the Deployment to become ready (false only on clusters without the CNPG/ESO controllers).",
    evidenceTimeoutSeconds: "Seconds each rotation step waits for External Secrets' and CNPG's evidence before `up` fails naming what is missing (nothing after that step changes; re-run `up` with the same tenant.passwordRotation).",
    migration:
        "Moving off the dedicated CNPG Cluster (absent = no migration): phase (copy -> cutover -> done, or cutover -> rollback), source {clusterName | host + caSecretName, port, database, secretName}, replaceTarget, extensions, image, runAsUser, resources, egressCidrs (where its NetworkPolicy lets it connect when the pooler or source is a DNS name), timeoutSeconds.",
    networkPolicies:
        "The pods' NetworkPolicies: jobs (the bootstrap and migration Jobs: egress to their databases and DNS only, no ingress), backend {mode: ingress | none, name, ingressFrom (namespace label selectors; [] = any source), extraPorts} (ingress only: its other egress is untouched), dnsNamespaceSelector, dnsPodSelector.",
    infraStack: "Split mode: the fully qualified infra stack (org/project/stack) whose outputs wire the apps side; this stack then creates only the apps side.",
};
