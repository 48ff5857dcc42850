import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { checkPoolerSizing, checkTimeouts } from "../components/model/budget";
import { ConfigError, parseStackConfig } from "../components/model/config";
import { type Problem, describeProblems, qualifiedKey } from "../components/model/problem";
import { loadStackConfig } from "../components/program";
import { readStackFile } from "../tools/synth";
import { projectConfigBlock } from "../scripts/project-config";
import { ROOT } from "./harness";

/** The dev stack's config as the program receives it (project prefix stripped, values parsed). */
function devRaw(): Record<string, any> {
    const { config } = readStackFile(path.join(ROOT, "Pulumi.dev.yaml"));
    const raw: Record<string, any> = {};
    for (const [key, value] of Object.entries(config)) {
        if (key.startsWith("synergyflow-db:")) raw[key.slice("synergyflow-db:".length)] = JSON.parse(value);
    }
    return raw;
}

/**
 * What a stack config's problems are before anything live is read: the config check's (ConfigError), or for a
 * valid config the sizing the plan checks first (planTenant), as the refusal would print them.
 */
function problemsOf(mutate: (raw: Record<string, any>) => void): { problems: Problem[]; message: string } {
    const raw = devRaw();
    mutate(raw);
    let config;
    try {
        config = parseStackConfig(raw);
    } catch (error) {
        if (error instanceof ConfigError) return { problems: error.problems.map((p) => ({ ...p, key: qualifiedKey(p.key) })), message: error.message };
        throw error;
    }
    const sizing = [...checkPoolerSizing(config), ...checkTimeouts(config)];
    if (sizing.length === 0) throw new Error("expected the config to be rejected");
    return { problems: sizing.map((p) => ({ ...p, key: qualifiedKey(p.key) })), message: describeProblems(sizing) };
}

describe("stack config validation", () => {
    test.each(["dev", "prod", "local"])("Pulumi.%s.yaml is valid and sets pulumi:disable-default-providers", (stack) => {
        const { config } = readStackFile(path.join(ROOT, `Pulumi.${stack}.yaml`));
        expect(JSON.parse(config["pulumi:disable-default-providers"] ?? "[]")).toEqual(["kubernetes", "vault", "random"]);
        expect(() => loadStackConfig(config)).not.toThrow();
    });

    test("Pulumi.yaml declares every key with a description and the schema's default (migration is off when absent)", () => {
        const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
        expect(project.config).toEqual(projectConfigBlock());
        for (const declaration of Object.values(project.config) as any[]) {
            expect(declaration.description.length).toBeGreaterThan(20);
            expect(declaration).toHaveProperty("default");
        }
        // Pulumi requires a declared key without a default in every stack: the optional migration block is not declared.
        expect(project.config["synergyflow-db:migration"]).toBeUndefined();
    });

    // Each case: what is wrong, the full key the message must name, and a fragment of what it says.
    const cases: [string, (raw: Record<string, any>) => void, string, string][] = [
        ["unknown role strategy", (r) => (r.sharedCluster.roleStrategy = "inline"), "synergyflow-db:sharedCluster.roleStrategy", '"databaseRole" | "clusterPatch" | "external"'],
        ["databaseRole on CNPG 1.27", (r) => (r.sharedCluster.roleStrategy = "databaseRole"), "synergyflow-db:sharedCluster.roleStrategy", "needs CNPG >= 1.30"],
        ["reserved role name", (r) => (r.tenant.roleName = "postgres"), "synergyflow-db:tenant.roleName", "reserved by CloudNativePG"],
        ["pg_ role prefix", (r) => (r.pooler.authRoleName = "pg_auth"), "synergyflow-db:pooler.authRoleName", "reserved"],
        ["cnpg_ role prefix", (r) => (r.tenant.roleName = "cnpg_app"), "synergyflow-db:tenant.roleName", "reserved"],
        ["auth role equals the app role", (r) => Object.assign(r.pooler, { authMode: "vault", authRoleName: "synergyflow_app" }), "synergyflow-db:pooler.authRoleName", "never be the application's role"],
        ["a limit typed by hand (now read live)", (r) => (r.sharedCluster.otherTenantRoleLimits = { gitlab_app: 50 }), "synergyflow-db:sharedCluster.otherTenantRoleLimits", "read from the live Cluster"],
        ["max_connections typed by hand (now read live)", (r) => (r.sharedCluster.maxConnections = 200), "synergyflow-db:sharedCluster.maxConnections", "spec.postgresql.parameters.max_connections"],
        ["a Vault token in the stack config", (r) => (r.vaultToken = "s.abc"), "synergyflow-db:vaultToken", "export VAULT_TOKEN"],
        ["an operator minor with no known allow-list", (r) => (r.sharedCluster.operatorVersion = "1.26"), "synergyflow-db:sharedCluster.operatorVersion", '"1.27" | "1.28" | "1.29" | "1.30"'],
        ["a parameter CNPG 1.28.0 rejects", (r) => Object.assign(r, { sharedCluster: { ...r.sharedCluster, operatorVersion: "1.28" }, pooler: { ...r.pooler, parameters: { ...r.pooler.parameters, client_tls_ciphers: "HIGH" } } }), "synergyflow-db:pooler.parameters.client_tls_ciphers", "allow-list of CloudNativePG 1.28 (read from v1.28.0"],
        ["vault auth on a stack whose destroy drops the roles", (r) => (r.pooler.authMode = "vault"), "synergyflow-db:tenant.roleReclaimPolicy", "CNPG's plain DROP ROLE fails"],
        ["bad pool mode", (r) => (r.pooler.poolMode = "statement"), "synergyflow-db:pooler.poolMode", '"transaction" | "session"'],
        ["bad auth mode", (r) => (r.pooler.authMode = "userlist"), "synergyflow-db:pooler.authMode", '"vault" | "operator"'],
        ["bad exposure mode", (r) => (r.pooler.exposure.mode = "nodePort"), "synergyflow-db:pooler.exposure.mode", '"loadBalancer" | "clusterMesh" | "external"'],
        ["external exposure without host", (r) => (r.pooler.exposure = { mode: "external" }), "synergyflow-db:pooler.exposure.host", "required"],
        ["masquerading apps cluster without node CIDRs", (r) => (r.pooler.exposure.appsNodeCidrs = []), "synergyflow-db:pooler.exposure.appsNodeCidrs", "admits nothing"],
        ["non-masquerading apps cluster without pod CIDRs", (r) => Object.assign(r.pooler.exposure, { appsMasquerade: false, appsPodCidrs: [] }), "synergyflow-db:pooler.exposure.appsPodCidrs", "admits nothing"],
        ["loadBalancer without a fixed address", (r) => delete r.pooler.exposure.loadBalancerIP, "synergyflow-db:pooler.exposure.loadBalancerIP", "cannot be read in the run that creates its Service"],
        ["not a CIDR", (r) => (r.pooler.exposure.appsPodCidrs = ["10.0.0.0"]), "synergyflow-db:pooler.exposure.appsPodCidrs[0]", "CIDR"],
        ["a CIDR with an octet over 255", (r) => (r.pooler.exposure.appsNodeCidrs = ["10.300.0.0/16"]), "synergyflow-db:pooler.exposure.appsNodeCidrs[0]", '"10.300.0.0" is not an IPv4 or IPv6 address'],
        ["an IPv4 prefix over 32", (r) => (r.pooler.exposure.appsNodeCidrs = ["10.81.20.0/33"]), "synergyflow-db:pooler.exposure.appsNodeCidrs[0]", "from 0 to 32"],
        ["an address with an octet over 255", (r) => (r.pooler.exposure.loadBalancerIP = "10.80.12.400"), "synergyflow-db:pooler.exposure.loadBalancerIP", "IPv4 or IPv6 address"],
        ["a host that is neither an address nor a DNS name", (r) => (r.pooler.exposure.host = "https://db.platform.internal"), "synergyflow-db:pooler.exposure.host", "IP address or a lowercase DNS name"],
        ["an empty monitoring namespace selector", (r) => (r.pooler.monitoringNamespaceSelector = {}), "synergyflow-db:pooler.monitoringNamespaceSelector", "would admit every namespace"],
        ["a monitoring selector value the API server rejects", (r) => (r.pooler.monitoringNamespaceSelector = { "kubernetes.io/metadata.name": "monitoring system" }), "synergyflow-db:pooler.monitoringNamespaceSelector.kubernetes.io/metadata.name", "Kubernetes label value"],
        ["a quantity the API server rejects", (r) => (r.backend.resources.requests.memory = "1 Gi"), "synergyflow-db:backend.resources.requests.memory", "Kubernetes quantity"],
        ["parameter CNPG sets itself", (r) => (r.pooler.parameters.pool_mode = "session"), "synergyflow-db:pooler.parameters.pool_mode", "set by CloudNativePG"],
        ["parameter not on the allow-list", (r) => (r.pooler.parameters.max_clients = 10), "synergyflow-db:pooler.parameters.max_clients", "allow-list"],
        ["non-integer count", (r) => (r.pooler.parameters.default_pool_size = "ten"), "synergyflow-db:pooler.parameters.default_pool_size", "non-negative integer"],
        ["prepared statements not set", (r) => delete r.pooler.parameters.max_prepared_statements, "synergyflow-db:pooler.parameters.max_prepared_statements", "set explicitly"],
        ["prepared statements off in transaction mode", (r) => (r.pooler.parameters.max_prepared_statements = 0), "synergyflow-db:pooler.parameters.max_prepared_statements", "does not exist"],
        ["pods x max_db_connections over the role limit", (r) => (r.pooler.parameters.max_db_connections = 50), "synergyflow-db:pooler.parameters.max_db_connections", "2 pooler pods x max_db_connections 50 = 100 server connections > tenant.connectionLimit 21"],
        ["backend over the pooler's client capacity", (r) => (r.backend.replicas = 10), "synergyflow-db:pooler.parameters.max_client_conn", "= 110 client connections > pooler capacity 100"],
        ["reserve pool above headroom", (r) => (r.pooler.parameters.reserve_pool_size = 5), "synergyflow-db:pooler.parameters.reserve_pool_size", "headroom 2"],
        ["min pool above default pool", (r) => (r.pooler.parameters.min_pool_size = 9), "synergyflow-db:pooler.parameters.min_pool_size", "9 > default_pool_size 8"],
        ["Hikari lifetime past server_lifetime", (r) => (r.backend.hikari.maxLifetimeMs = 4_000_000), "synergyflow-db:backend.hikari.maxLifetimeMs", "below pooler.parameters.server_lifetime"],
        ["minimumIdle above maximumPoolSize", (r) => (r.backend.hikari.minimumIdle = 50), "synergyflow-db:backend.hikari.minimumIdle", "exceeds"],
        ["rollout that cannot progress", (r) => (r.backend.maxSurge = 0), "synergyflow-db:backend.maxSurge", "stall"],
        ["unknown nested key", (r) => (r.backend.replica = 3), "synergyflow-db:backend.replica", "allowed here: namespace"],
        ["unknown top-level key", (r) => (r.backnd = {}), "synergyflow-db:backnd", "unknown key"],
        ["a role name the login roles' suffix would push past 63", (r) => (r.tenant.roleName = "r".repeat(62)), "synergyflow-db:tenant.roleName", "is 62 characters; at most 61: the login roles are"],
        ["a password Secret name the suffix would push past 63", (r) => (r.tenant.passwordSecretName = "s".repeat(62)), "synergyflow-db:tenant.passwordSecretName", "at most 61"],
        ["an app name too long for the migration's Job names", (r) => Object.assign(r, { migration: { phase: "copy", source: { clusterName: "old", secretName: "old-app" } }, tenant: { ...r.tenant, appName: "a".repeat(43) } }), "synergyflow-db:tenant.appName", "the migration's Jobs are named"],
        ["a migration on a stack that does not wait for its Jobs", (r) => Object.assign(r, { migration: { phase: "copy", source: { clusterName: "old", secretName: "old-app" } }, waitForControllers: false }), "synergyflow-db:migration", "needs waitForControllers true"],
        ["KV mount given with /data", (r) => (r.vault.kvMount = "secret/data"), "synergyflow-db:vault.kvMount", "never ending in /data"],
        ["Vault address not a URL", (r) => (r.vault.address = "vault:8200"), "synergyflow-db:vault.address", "http(s) URL"],
        ["bad namespace mode", (r) => (r.backend.namespaceMode = "adopt"), "synergyflow-db:backend.namespaceMode", '"create" | "patch"'],
        ["Kubernetes name with underscores", (r) => (r.pooler.name = "synergyflow_pooler"), "synergyflow-db:pooler.name", "RFC 1123"],
        ["negative replicas", (r) => (r.backend.replicas = -1), "synergyflow-db:backend.replicas", "must be > 0"],
        ["bad split-mode stack name", (r) => (r.infraStack = "infra-prod"), "synergyflow-db:infraStack", "org/project/stack"],
        ["bad refresh interval", (r) => (r.externalSecrets.refreshInterval = "hourly"), "synergyflow-db:externalSecrets.refreshInterval", "Go duration"],
        ["a day is no Go duration", (r) => (r.externalSecrets.refreshInterval = "1d"), "synergyflow-db:externalSecrets.refreshInterval", "Go duration"],
        ["wrong type", (r) => (r.tenant.connectionLimit = "forty"), "synergyflow-db:tenant.connectionLimit", "not a number"],
        ["an evidence wait that cannot wait", (r) => (r.evidenceTimeoutSeconds = 0), "synergyflow-db:evidenceTimeoutSeconds", "must be > 0"],
        ["a source extension name that is no extension name", (r) => Object.assign(r, { migration: { phase: "copy", source: { clusterName: "old", secretName: "old-app" }, extensions: { "citext; DROP": "copy" } } }), "synergyflow-db:migration.extensions", "must be an extension name"],
        ["an extension creator that is neither copy nor platform", (r) => Object.assign(r, { migration: { phase: "copy", source: { clusterName: "old", secretName: "old-app" }, extensions: { citext: "superuser" } } }), "synergyflow-db:migration.extensions.citext", '"copy" | "platform"'],
    ];

    test.each(cases)("%s", (_what, mutate, key, fragment) => {
        const error = problemsOf(mutate);
        const problem = error.problems.find((p) => p.key === key);
        expect(problem).toBeDefined();
        expect(problem?.message).toContain(fragment);
        expect(error.message).toContain(`${key}: `);
    });

    test("images: a tag or a sha256 digest (validated), each problem naming its key; uids non-root; the hardening keys' defaults", () => {
        const digest = "a".repeat(64);
        const pinned = parseStackConfig({ ...devRaw(), backend: { ...devRaw().backend, image: `registry.example.internal/synergyflow/backend:1.0.0@sha256:${digest}`, waitForDbImage: `postgres@sha256:${digest}` } });
        expect(pinned.backend.image).toBe(`registry.example.internal/synergyflow/backend:1.0.0@sha256:${digest}`);
        const error = problemsOf((r) => {
            r.backend.image = "registry.example.internal/backend@sha256:abc";
            r.backend.waitForDbImage = "Postgres:16";
            r.pooler.bootstrapImage = `postgres@sha512:${digest}`;
            r.backend.runAsUser = 0;
            r.networkPolicies = { backend: { extraPorts: [70000] } };
        });
        expect(error.problems.map((p) => [p.key, p.message])).toEqual([
            ["synergyflow-db:pooler.bootstrapImage", expect.stringContaining("has a malformed digest: pin as <name>[:tag]@sha256:<64 lowercase hex digits>")],
            ["synergyflow-db:backend.image", expect.stringContaining("has a malformed digest")],
            ["synergyflow-db:backend.runAsUser", expect.stringContaining("must be >= 1: the pods run as non-root")],
            ["synergyflow-db:backend.waitForDbImage", expect.stringContaining("must be an image reference")],
            ["synergyflow-db:networkPolicies.backend.extraPorts[0]", expect.stringContaining("must be a port from 1 to 65535")],
        ]);
        const defaults = parseStackConfig(devRaw());
        expect([defaults.backend.runAsUser, defaults.pooler.bootstrapRunAsUser]).toEqual([10001, 10001]);
        expect(defaults.networkPolicies).toEqual({
            jobs: true,
            backend: { mode: "ingress", name: "synergyflow-backend", ingressFrom: [], extraPorts: [] },
            dnsNamespaceSelector: { "kubernetes.io/metadata.name": "kube-system" },
            dnsPodSelector: { "k8s-app": "kube-dns" },
        });
    });

    test("every problem is reported at once", () => {
        const error = problemsOf((r) => {
            r.pooler.poolMode = "statement";
            r.tenant.roleName = "postgres";
            r.backend.replicas = 0;
            r.vault.kvMount = "secret/data";
            r.backend.typo = true;
        });
        expect(error.problems.map((p) => p.key).sort()).toEqual([
            "synergyflow-db:backend.replicas",
            "synergyflow-db:backend.typo",
            "synergyflow-db:pooler.poolMode",
            "synergyflow-db:tenant.roleName",
            "synergyflow-db:vault.kvMount",
        ]);
    });

    test("the first design's pool sizes fail with the arithmetic in the message", () => {
        const error = problemsOf((r) => {
            r.tenant.connectionLimit = 50;
            r.pooler.instances = 3;
            r.pooler.parameters.max_db_connections = 50;
        });
        const messages = error.problems.map((p) => `${p.key}: ${p.message}`).join("\n");
        expect(messages).toContain("3 pooler pods x max_db_connections 50 = 150 server connections > tenant.connectionLimit 50");
    });

    test("what the target systems accept, the config accepts: quantities, Go durations, IPv6, any rotation scalar", () => {
        const raw = devRaw();
        raw.backend.resources = { requests: { cpu: "0.5", memory: "1500M" }, limits: { cpu: "1", memory: "1G" } };
        raw.externalSecrets.refreshInterval = "1h30m";
        raw.pooler.exposure.appsNodeCidrs = ["10.81.20.0/24", "fd00:81::/64"];
        raw.tenant.passwordRotation = 2;
        const config = parseStackConfig(raw);
        expect(config.tenant.passwordRotation).toBe("2");
        expect(config.backend.resources.limits.memory).toBe("1G");
    });

    test("pulumi:disable-default-providers must cover kubernetes, vault, random and spare the dynamic provider", () => {
        const { config } = readStackFile(path.join(ROOT, "Pulumi.dev.yaml"));
        const clusterPatch = JSON.stringify({ ...JSON.parse(config["synergyflow-db:sharedCluster"] as string), roleStrategy: "clusterPatch" });
        expect(() => loadStackConfig({ ...config, "synergyflow-db:sharedCluster": clusterPatch, "pulumi:disable-default-providers": JSON.stringify(["*"]) })).toThrow(
            /pulumi:disable-default-providers: \["\*"\] disables pulumi-nodejs, the provider of the clusterPatch role patch/,
        );
        expect(() => loadStackConfig({ ...config, "pulumi:disable-default-providers": JSON.stringify(["kubernetes"]) })).toThrow(
            /pulumi:disable-default-providers: \["kubernetes"\] must include vault, random/,
        );
    });

    test("keys of other namespaces are rejected: default providers are disabled", () => {
        const { config } = readStackFile(path.join(ROOT, "Pulumi.dev.yaml"));
        expect(() => loadStackConfig({ ...config, "kubernetes:context": "infra", "synergyflow-db:tenat": "{}" })).toThrow(
            /kubernetes:context: is not read by this program[\s\S]*synergyflow-db:tenat: unknown key/,
        );
    });
});
