// One line per top-level config key: used for Pulumi.yaml's config block and the README's table.
import type { StackConfig } from "./config";

export const CONFIG_DESCRIPTIONS: Record<keyof StackConfig, string> = {
    infraCluster: "Infra cluster (CNPG side): kube context, optional kubeconfig (path or contents), stable clusterIdentifier.",
    appsCluster: "Apps cluster (backend side): kube context, optional kubeconfig (path or contents), stable clusterIdentifier.",
    sharedCluster:
        "The shared CNPG Cluster: name, namespace, operatorVersion (1.27 | 1.28 | 1.29 | 1.30: the PgBouncer allow-list follows it), roleStrategy (external | clusterPatch | databaseRole). Its max_connections, roles, superuser access and CA are read live by the preflight.",
    tenant: "The tenant: appName, roleName, databaseName, schemas, connectionLimit, passwordSecretName, databaseReclaimPolicy, roleReclaimPolicy (retain | delete), passwordRotation.",
    pooler:
        "The PgBouncer Pooler: name, podDisruptionBudgetName, instances, poolMode, parameters (PgBouncer names), resources, authMode (operator | vault), auth role/secret/function names, bootstrap Job, exposure {mode: loadBalancer | clusterMesh | external, loadBalancerIP, host, appsMasquerade, appsNodeCidrs, appsPodCidrs, networkPolicyName, pathIdleTimeoutSeconds}, podMonitor, monitoringNamespaceSelector.",
    vault: "Vault: address, kvMount (KV v2 mount name, no /data), keyPrefix (credentials go to <keyPrefix>/<appName>).",
    externalSecrets: "External Secrets: infraStore and appsStore (ClusterSecretStore names), refreshInterval.",
    backend:
        "The backend: namespace, namespaceMode (create | patch), podSecurityLevel, deploymentName, image, replicas, maxSurge, maxUnavailable, hikari settings, resources, credentialsSecretName, usernameEnv, passwordEnv, waitForDbImage, waitForDbAttempts.",
    waitForControllers: "Wait for ExternalSecrets, the bootstrap Job, role removal and the Deployment to become ready (false only on clusters without the CNPG/ESO controllers).",
    infraStack: "Split mode: the fully qualified infra stack (org/project/stack) whose outputs wire the apps side; this stack then creates only the apps side.",
};
