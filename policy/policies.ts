// synergyflow-db's guard rails, enforced at preview by the policy pack. Each policy is a plain object whose
// validate function the tests call directly with built resource arguments.
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { declaredRoles, hbaProblems, poolerBudgetProblems } from "../conformance/operatorRules";
import type { KubeObject } from "../conformance/types";

type Props = Record<string, any>;

const isKubernetesObject = (type: string) => type.startsWith("kubernetes:") && !type.startsWith("kubernetes:index");

export const explicitProvider: ResourceValidationPolicy = {
    name: "kubernetes-explicit-provider",
    description: "Every Kubernetes resource names the infra or apps provider; a default provider would target the ambient kubeconfig.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isKubernetesObject(args.type)) return;
        const provider = args.provider;
        if (!provider || provider.name.startsWith("default")) {
            reportViolation(`${args.type} ${args.name} uses ${provider ? `the default provider ${provider.name}` : "no explicit provider"}; pass { provider: infra | apps }`);
        }
    },
};

const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|CREDENTIAL)/i;
const SECRET_VALUE = /(:\/\/[^/\s:@]+:[^@\s]+@|password=|-----BEGIN [A-Z ]*PRIVATE KEY-----)/i;

function podSpecs(type: string, props: Props): Props[] {
    if (type === "kubernetes:batch/v1:Job" || type === "kubernetes:apps/v1:Deployment" || type === "kubernetes:apps/v1:StatefulSet") return [props["spec"]?.template?.spec ?? {}];
    if (type === "kubernetes:core/v1:Pod") return [props["spec"] ?? {}];
    return [];
}

export const noSecretMaterial: ResourceValidationPolicy = {
    name: "no-secret-material-in-configmaps-or-env",
    description: "Passwords live in Secrets only: never in ConfigMap data or literal container env values.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type === "kubernetes:core/v1:ConfigMap") {
            for (const [key, value] of Object.entries((args.props["data"] ?? {}) as Record<string, string>)) {
                if (SECRET_NAME.test(key) || SECRET_VALUE.test(String(value))) reportViolation(`ConfigMap ${args.name} key ${key} looks like secret material`);
            }
        }
        for (const pod of podSpecs(args.type, args.props)) {
            for (const container of [...(pod["initContainers"] ?? []), ...(pod["containers"] ?? [])]) {
                for (const env of container.env ?? []) {
                    if (env.value !== undefined && (SECRET_NAME.test(env.name) || SECRET_VALUE.test(String(env.value)))) {
                        reportViolation(`${args.name} container ${container.name} sets ${env.name} as a literal value; use valueFrom.secretKeyRef`);
                    }
                }
                if ((container.command ?? []).concat(container.args ?? []).some((a: string) => SECRET_VALUE.test(a) || /--password[= ]\S/.test(a))) {
                    reportViolation(`${args.name} container ${container.name} has secret material on its command line`);
                }
            }
        }
    },
};

/** What Pod Security "restricted" requires of a pod spec; empty when it complies. */
export function restrictedViolations(pod: Props): string[] {
    const problems: string[] = [];
    const podContext = pod["securityContext"] ?? {};
    for (const container of [...(pod["initContainers"] ?? []), ...(pod["containers"] ?? [])]) {
        const sc = container.securityContext ?? {};
        const where = `container ${container.name}`;
        if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation must be false`);
        if (!(sc.capabilities?.drop ?? []).includes("ALL")) problems.push(`${where}: capabilities.drop must include ALL`);
        if ((sc.capabilities?.add ?? []).some((c: string) => c !== "NET_BIND_SERVICE")) problems.push(`${where}: only NET_BIND_SERVICE may be added`);
        if (sc.privileged) problems.push(`${where}: privileged is forbidden`);
        if (!(sc.runAsNonRoot ?? podContext.runAsNonRoot)) problems.push(`${where}: runAsNonRoot must be true`);
        if ((sc.runAsUser ?? podContext.runAsUser) === 0) problems.push(`${where}: runAsUser 0 is forbidden`);
        const seccomp = sc.seccompProfile?.type ?? podContext.seccompProfile?.type;
        if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") problems.push(`${where}: seccompProfile must be RuntimeDefault or Localhost`);
    }
    if ((pod["volumes"] ?? []).some((v: Props) => v["hostPath"])) problems.push("hostPath volumes are forbidden");
    if (pod["hostNetwork"] || pod["hostPID"] || pod["hostIPC"]) problems.push("host namespaces are forbidden");
    return problems;
}

export function restrictedInNamespace(namespace: string): ResourceValidationPolicy {
    return {
        name: "restricted-security-context-in-cnpg-system",
        description: `Pods the program runs in ${namespace} satisfy Pod Security "restricted" (the namespace enforces it).`,
        enforcementLevel: "mandatory",
        validateResource: (args, reportViolation) => {
            if (args.props["metadata"]?.namespace !== namespace) return;
            for (const pod of podSpecs(args.type, args.props)) {
                for (const problem of restrictedViolations(pod)) reportViolation(`${args.name}: ${problem}`);
            }
        },
    };
}

export const poolerHbaRestricted: ResourceValidationPolicy = {
    name: "pooler-pg-hba-restricted-to-tenant",
    description: "A Pooler's pg_hba admits named roles to named databases and rejects everything else (CNPG appends allow-all rules).",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== "kubernetes:postgresql.cnpg.io/v1:Pooler") return;
        for (const problem of hbaProblems(args.props as KubeObject)) reportViolation(`${args.name}: ${problem}`);
    },
};

/** The role entries the program declares, as CNPG would see them: DatabaseRoles and the role patch. */
function rolesOf(resources: PolicyResource[]): KubeObject[] {
    const objects: KubeObject[] = [];
    for (const r of resources) {
        if (r.type === "kubernetes:postgresql.cnpg.io/v1:DatabaseRole") objects.push(r.props as KubeObject);
        if (r.type.startsWith("pulumi-nodejs:dynamic") && Array.isArray(r.props["roles"])) {
            objects.push({ apiVersion: "postgresql.cnpg.io/v1", kind: "Cluster", metadata: { name: r.props["clusterName"], namespace: r.props["namespace"] }, spec: { managed: { roles: r.props["roles"] } } });
        }
    }
    return objects;
}

export const connectionBudget: StackValidationPolicy = {
    name: "pooler-connection-budget",
    description: "Pooler pods x max_db_connections stays within the connection limit of the role its pg_hba admits.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const roles = declaredRoles(rolesOf(args.resources));
        for (const pooler of args.resources.filter((r) => r.type === "kubernetes:postgresql.cnpg.io/v1:Pooler")) {
            for (const problem of poolerBudgetProblems(pooler.props as KubeObject, roles)) reportViolation(`${pooler.name}: ${problem}`);
        }
    },
};

export const policies = [explicitProvider, noSecretMaterial, restrictedInNamespace("cnpg-system"), poolerHbaRestricted, connectionBudget];
