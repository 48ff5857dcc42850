// The CloudNativePG operator outside a cluster, against the infra API server: its CRDs (from its module), its
// validating and mutating webhooks registered on the API server and pointed at https://127.0.0.1:PORT with a
// CA of the test's own, WEBHOOK_CERT_DIR holding that certificate (CNPG then skips its own PKI), started from
// its folder (it looks for operator/manager_amd64 beside itself). PostgreSQL itself never starts (no kubelet).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import YAML from "yaml";
import { type RunningController, playedController, startProcess } from "./controllers";
import { type ApiServer, kubeRequest, writeKubeconfig } from "./controlPlane";

export interface CnpgOperator extends RunningController {
    version: string;
}

/** The operator's folder in the toolchain cache, if that version is built. */
export function cnpgOperatorDir(toolchainDir: string, version: string): string | undefined {
    const dir = path.join(toolchainDir, `cnpg-${version}`);
    return fs.existsSync(path.join(dir, "manager")) && fs.existsSync(path.join(dir, "operator", "manager_amd64")) ? dir : undefined;
}

/** The CRDs the operator's version ships (it watches every one of its kinds). */
export function cnpgCrds(dir: string): any[] {
    const bases = path.join(dir, "config", "crd", "bases");
    return fs.readdirSync(bases).filter((f) => f.endsWith(".yaml")).map((f) => YAML.parse(fs.readFileSync(path.join(bases, f), "utf8")));
}

async function listening(port: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        const open = await new Promise<boolean>((resolve) => {
            const socket = net.connect({ host: "127.0.0.1", port }, () => {
                socket.end();
                resolve(true);
            });
            socket.on("error", () => resolve(false));
        });
        if (open) return true;
        await new Promise((r) => setTimeout(r, 300));
    }
    return false;
}

export async function startCnpgOperator(dir: string, version: string, server: ApiServer, workDir: string, webhookPort: number, metricsPort: number): Promise<CnpgOperator> {
    const certDir = path.join(workDir, `cnpg-${version}-webhook`);
    fs.mkdirSync(certDir, { recursive: true });
    const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=cnpg-webhook-ca", "-days", "1", "-keyout", path.join(certDir, "ca.key"), "-out", path.join(certDir, "ca.crt"));
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", path.join(certDir, "apiserver.key"), "-out", path.join(certDir, "apiserver.csr"));
    fs.writeFileSync(path.join(certDir, "ext"), "subjectAltName = IP:127.0.0.1\n");
    openssl("x509", "-req", "-in", path.join(certDir, "apiserver.csr"), "-CA", path.join(certDir, "ca.crt"), "-CAkey", path.join(certDir, "ca.key"), "-CAcreateserial", "-days", "1", "-extfile", path.join(certDir, "ext"), "-out", path.join(certDir, "apiserver.crt"));
    const caBundle = fs.readFileSync(path.join(certDir, "ca.crt")).toString("base64");

    const kubeconfig = path.join(workDir, `cnpg-${version}.kubeconfig`);
    writeKubeconfig(kubeconfig, [server]);
    const manager = startProcess(`cnpg-operator-${version}`, path.join(dir, "manager"), ["controller", `--webhook-port=${webhookPort}`, `--metrics-bind-address=127.0.0.1:${metricsPort}`, "--leader-elect=false"], workDir, {
        KUBECONFIG: kubeconfig,
        OPERATOR_NAMESPACE: "cnpg-system",
        WEBHOOK_CERT_DIR: certDir,
    }, dir);
    if (!(await listening(webhookPort, 60000))) {
        await manager.stop();
        throw new Error(`the CNPG operator ${version} did not serve its webhooks; see ${manager.log}`);
    }

    // Its webhook configurations, pointed at the local webhook server.
    const registered: string[] = [];
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, "config", "webhook", "manifests.yaml"), "utf8")).map((d) => d.toJS())) {
        if (!doc) continue;
        const plural = doc.kind === "MutatingWebhookConfiguration" ? "mutatingwebhookconfigurations" : "validatingwebhookconfigurations";
        const name = `cnpg-${version}-${doc.metadata.name}`;
        const webhooks = doc.webhooks.map((w: any) => ({ ...w, clientConfig: { url: `https://127.0.0.1:${webhookPort}${w.clientConfig.service.path}`, caBundle } }));
        await kubeRequest(server, "POST", `/apis/admissionregistration.k8s.io/v1/${plural}`, { apiVersion: doc.apiVersion, kind: doc.kind, metadata: { name }, webhooks });
        registered.push(`/apis/admissionregistration.k8s.io/v1/${plural}/${name}`);
    }
    return {
        ...manager,
        version,
        async stop() {
            for (const url of registered) await kubeRequest(server, "DELETE", url).catch(() => undefined);
            await manager.stop();
        },
    };
}

/**
 * Plays what CNPG's instance manager would do for our login roles, which cannot run here (no PostgreSQL): when
 * a role's password Secret changes (the reload label), apply it and report the Secret's resourceVersion it
 * applied, in the Cluster's status.managedRolesStatus.passwordStatus (inline roles) or the DatabaseRole's
 * status.secretResourceVersion. The program's rotation waits for exactly that evidence.
 */
export function playPasswordStatus(server: ApiServer, namespace: string, clusterName: string, roles: string[]): RunningController {
    let transaction = 1000;
    const secretVersion = async (name: string) => (await kubeRequest(server, "GET", `/api/v1/namespaces/${namespace}/secrets/${name}`).catch(() => undefined))?.metadata?.resourceVersion as string | undefined;
    const tick = async () => {
        const cluster = await kubeRequest(server, "GET", `/apis/postgresql.cnpg.io/v1/namespaces/${namespace}/clusters/${clusterName}`);
        const reported = cluster.status?.managedRolesStatus?.passwordStatus ?? {};
        for (const entry of (cluster.spec?.managed?.roles ?? []) as { name: string; passwordSecret?: { name: string } }[]) {
            if (!roles.includes(entry.name) || !entry.passwordSecret) continue;
            const version = await secretVersion(entry.passwordSecret.name);
            if (version && reported[entry.name]?.resourceVersion !== version) {
                const status = { managedRolesStatus: { passwordStatus: { [entry.name]: { transactionID: transaction++, resourceVersion: version } } } };
                await kubeRequest(server, "PATCH", `/apis/postgresql.cnpg.io/v1/namespaces/${namespace}/clusters/${clusterName}/status`, { status }, "application/merge-patch+json");
            }
        }
        const databaseRoles = ((await kubeRequest(server, "GET", `/apis/postgresql.cnpg.io/v1/namespaces/${namespace}/databaseroles`).catch(() => ({ items: [] }))).items ?? []) as any[];
        for (const role of databaseRoles.filter((r) => roles.includes(r.spec?.name) && r.spec?.passwordSecret)) {
            const version = await secretVersion(role.spec.passwordSecret.name);
            if (version && role.status?.secretResourceVersion !== version) {
                await kubeRequest(server, "PATCH", `/apis/postgresql.cnpg.io/v1/namespaces/${namespace}/databaseroles/${role.metadata.name}/status`, { status: { applied: true, secretResourceVersion: version } }, "application/merge-patch+json");
            }
        }
    };
    return playedController("cnpg-instance-manager (played)", tick);
}
