// The policy pack's policies, called directly with resource arguments built from synth (no PolicyPack server).
import type { PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs } from "@pulumi/policy";
import { connectionBudget, explicitProvider, noSecretMaterial, policies, poolerHbaRestricted, restrictedInNamespace } from "../policy/policies";
import { type RecordedResource, unwrapSecrets } from "../tools/synth";
import { type HarnessResult, synth } from "./harness";

function resourceArgs(r: { type: string; name: string; props: Record<string, any>; providerName?: string }): ResourceValidationArgs {
    return {
        type: r.type,
        name: r.name,
        props: r.props,
        urn: `urn:pulumi:prod::synergyflow-db::${r.type}::${r.name}`,
        opts: {} as any,
        provider: r.providerName ? { type: "pulumi:providers:kubernetes", name: r.providerName, props: {}, urn: "" } : undefined,
        stackTags: new Map(),
        isType: () => false,
        asType: () => undefined,
        getConfig: () => ({}),
        notApplicable: () => undefined,
    } as unknown as ResourceValidationArgs;
}

const fromRecorded = (r: RecordedResource) =>
    resourceArgs({ type: r.type, name: r.name, props: unwrapSecrets(r.inputs) as Record<string, any>, providerName: r.provider?.split("::")[3] });

function violations(policy: ResourceValidationPolicy, args: ResourceValidationArgs): string[] {
    const found: string[] = [];
    (policy.validateResource as any)(args, (message: string) => found.push(message));
    return found;
}

function stackViolations(resources: ResourceValidationArgs[]): string[] {
    const found: string[] = [];
    const args = { resources: resources as unknown as PolicyResource[], getConfig: () => ({}) } as unknown as StackValidationArgs;
    (connectionBudget.validateStack as any)(args, (message: string) => found.push(message));
    return found;
}

let prod: HarnessResult;
beforeAll(async () => {
    prod = await synth("prod");
});

describe("policy pack", () => {
    test("what the program emits for prod passes every policy", () => {
        const args = prod.resources.filter((r) => !r.read).map(fromRecorded);
        const found: string[] = [];
        for (const policy of policies) {
            if ("validateResource" in policy) for (const a of args) found.push(...violations(policy as ResourceValidationPolicy, a));
        }
        found.push(...stackViolations(args));
        expect(found).toEqual([]);
    });

    test("a Kubernetes resource on a default provider is rejected", () => {
        const cm = { type: "kubernetes:core/v1:ConfigMap", name: "cm", props: { metadata: { name: "cm" }, data: {} } };
        expect(violations(explicitProvider, resourceArgs({ ...cm, providerName: "default_4_34_2" }))).toEqual([
            "kubernetes:core/v1:ConfigMap cm uses the default provider default_4_34_2; pass { provider: infra | apps }",
        ]);
        expect(violations(explicitProvider, resourceArgs(cm))).toHaveLength(1);
        expect(violations(explicitProvider, resourceArgs({ ...cm, providerName: "apps" }))).toEqual([]);
    });

    test("secret material in a ConfigMap, a literal env value or a command line is rejected", () => {
        const cm = resourceArgs({ type: "kubernetes:core/v1:ConfigMap", name: "ds", props: { data: { DB_PASSWORD: "x", SPRING_DATASOURCE_URL: "postgresql://app:hunter2@h/db" } }, providerName: "apps" });
        expect(violations(noSecretMaterial, cm)).toEqual(["ConfigMap ds key DB_PASSWORD looks like secret material", "ConfigMap ds key SPRING_DATASOURCE_URL looks like secret material"]);
        const deployment = resourceArgs({
            type: "kubernetes:apps/v1:Deployment",
            name: "backend",
            providerName: "apps",
            props: { spec: { template: { spec: { containers: [{ name: "app", env: [{ name: "DB_PASSWORD", value: "hunter2" }], command: ["psql", "--password=hunter2"] }] } } } },
        });
        expect(violations(noSecretMaterial, deployment)).toEqual([
            "backend container app sets DB_PASSWORD as a literal value; use valueFrom.secretKeyRef",
            "backend container app has secret material on its command line",
        ]);
    });

    test("a pod in cnpg-system that is not restricted-compatible is rejected", () => {
        const job = resourceArgs({
            type: "kubernetes:batch/v1:Job",
            name: "bootstrap",
            providerName: "infra",
            props: { metadata: { namespace: "cnpg-system" }, spec: { template: { spec: { containers: [{ name: "psql", securityContext: { capabilities: { add: ["NET_ADMIN"] } } }] } } } },
        });
        expect(violations(restrictedInNamespace("cnpg-system"), job)).toEqual([
            "bootstrap: container psql: allowPrivilegeEscalation must be false",
            "bootstrap: container psql: capabilities.drop must include ALL",
            "bootstrap: container psql: only NET_BIND_SERVICE may be added",
            "bootstrap: container psql: runAsNonRoot must be true",
            "bootstrap: container psql: seccompProfile must be RuntimeDefault or Localhost",
        ]);
    });

    test("a Pooler whose pg_hba admits everyone is rejected", () => {
        const pooler = resourceArgs({ type: "kubernetes:postgresql.cnpg.io/v1:Pooler", name: "p", providerName: "infra", props: { spec: { pgbouncer: { pg_hba: ["host all all 0.0.0.0/0 scram-sha-256"] } } } });
        const found = violations(poolerHbaRestricted, pooler);
        expect(found[0]).toBe(`p: pg_hba rule "host all all 0.0.0.0/0 scram-sha-256" admits every database`);
        expect(found[1]).toMatch(/does not end with "host all all 0.0.0.0\/0 reject"/);
    });

    test("the first design's budget (3 pods x 50 against a role limit of 50) is rejected", () => {
        const pooler = resourceArgs({
            type: "kubernetes:postgresql.cnpg.io/v1:Pooler",
            name: "synergyflow-pooler",
            providerName: "infra",
            props: { spec: { instances: 3, pgbouncer: { parameters: { max_db_connections: "50" }, pg_hba: ["hostssl synergyflow synergyflow 0.0.0.0/0 scram-sha-256"] } } },
        });
        const patch = resourceArgs({ type: "pulumi-nodejs:dynamic/synergyflow-db:ClusterRolePatch", name: "roles", props: { namespace: "cnpg-system", clusterName: "shared-postgres", roles: [{ name: "synergyflow", connectionLimit: 50 }] } });
        expect(stackViolations([pooler, patch])).toEqual([
            "synergyflow-pooler: 3 pods x max_db_connections 50 = 150 server connections > connectionLimit 50 of role synergyflow (limits apply per PgBouncer pod)",
        ]);
    });
});
