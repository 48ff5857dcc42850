// The checks only the apps node can make (e2e/node/sites.ts: the apps cluster as a second machine): the backend's
// pods and their wait-for-db running for real, across the cluster boundary (apps pod -> apps node, masqueraded ->
// routed link -> the Pooler's LoadBalancer address on the infra node, externalTrafficPolicy Local -> PgBouncer ->
// PostgreSQL), and requests to the backend while the rotations roll its pods.
import * as http from "node:http";
import { BlockList } from "node:net";
import { backendPodSelector } from "../components/build/backend";
import type { StackConfig } from "../components/model/config";
import { assert, check, until } from "./checks";
import { type ApiServer, kubeRequest } from "./controlPlane";
import type { RunningNode } from "./node/node";

export interface AppsNodeContext {
    apps: ApiServer;
    infra: ApiServer;
    appsNode: RunningNode;
    infraNode: RunningNode;
    config: StackConfig;
}

/** The test's Service in front of the backend's pods (the program emits none: SynergyFlow's chart has its own). */
const BACKEND_SERVICE = "e2e-backend";

export interface WorkReply {
    status: number;
    body: any;
}

/** One HTTP request to a backend pod (the host routes the apps pod range through the apps node). */
export function backendRequest(ip: string, path: string, method = "GET", timeoutMs = 5000): Promise<WorkReply> {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: ip, port: 8080, path, method, timeout: timeoutMs }, (res) => {
            let text = "";
            res.on("data", (d) => (text += d));
            res.on("end", () => {
                try {
                    resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
                } catch {
                    resolve({ status: res.statusCode ?? 0, body: text });
                }
            });
        });
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`no answer from ${ip} in ${timeoutMs} ms`)));
        req.end();
    });
}

export function appsNodeChecks(ctx: AppsNodeContext) {
    const { apps, infra, appsNode, infraNode, config } = ctx;
    const ns = config.backend.namespace;
    const lb = config.pooler.exposure.loadBalancerIP;
    const labels = backendPodSelector({ "app.kubernetes.io/name": config.tenant.appName });
    const selector = encodeURIComponent(Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(","));
    const backendPods = async () => ((await kubeRequest(apps, "GET", `/api/v1/namespaces/${ns}/pods?labelSelector=${selector}`)).items as any[]).filter((p) => !p.metadata.deletionTimestamp);
    /** Addresses of the backend's ready endpoints as the EndpointSlice controller publishes them (what a Service routes to). */
    const readyEndpoints = async (): Promise<string[]> => {
        const slices = (await kubeRequest(apps, "GET", `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${BACKEND_SERVICE}`)}`)).items as any[];
        return slices.flatMap((s) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready === true && e.conditions?.terminating !== true).flatMap((e: any) => e.addresses as string[]));
    };

    return {
        /** One transaction (POST /work) through each ready backend pod: the replies. */
        async workThroughEachPod(): Promise<WorkReply[]> {
            await until("the backend's endpoints", async () => ((await readyEndpoints()).length === config.backend.replicas ? true : undefined), 60000);
            return Promise.all((await readyEndpoints()).map((ip) => backendRequest(ip, "/work", "POST")));
        },
        async afterUp(): Promise<void> {
            await kubeRequest(apps, "POST", `/api/v1/namespaces/${ns}/services`, { metadata: { name: BACKEND_SERVICE, namespace: ns }, spec: { selector: labels, ports: [{ name: "http", port: 8080, targetPort: "http" }] } });
            await check(`apps node: the backend's pods run on the real apps node; each one's wait-for-db logged in through ${lb}:5432 (verify-ca, the CA the program delivered) and saw the owner session before the backend started`, async () => {
                const pods = await backendPods();
                assert(pods.length === config.backend.replicas, `${pods.length} backend pods, expected ${config.backend.replicas}`);
                for (const pod of pods) {
                    assert(pod.spec.nodeName === appsNode.name, `${pod.metadata.name} runs on ${pod.spec.nodeName}, not the apps node`);
                    const init = pod.status.initContainerStatuses?.find((c: any) => c.name === "wait-for-db");
                    const main = pod.status.containerStatuses?.find((c: any) => c.name === "backend");
                    assert(init?.state?.terminated?.exitCode === 0, `${pod.metadata.name}: wait-for-db ${JSON.stringify(init?.state)}`);
                    const finished = Date.parse(init.state.terminated.finishedAt);
                    const started = Date.parse(main?.state?.running?.startedAt ?? "");
                    assert(started >= finished, `${pod.metadata.name}: the backend started at ${main?.state?.running?.startedAt}, before wait-for-db finished at ${init.state.terminated.finishedAt}`);
                    const log = appsNode.podLogs(ns, pod.metadata.name, "wait-for-db");
                    const ok = `ok, the session is "${config.tenant.roleName}|`;
                    assert(log.includes(ok) && log.includes(`through ${lb}:5432/`), `${pod.metadata.name}: wait-for-db's log: ${log}`);
                }
                const env = (await kubeRequest(apps, "GET", `/api/v1/namespaces/${ns}/configmaps`)).items.find((c: any) => c.data?.["PGSSLMODE"])?.data;
                assert(env?.["PGSSLMODE"] === "verify-ca" && env["PGHOST"] === lb, `wait-for-db's connection: ${JSON.stringify(env)}`);
                console.log(`     ${pods.length} pods on ${appsNode.name}; ${pods[0].metadata.name}'s wait-for-db: ${appsNode.podLogs(ns, pods[0].metadata.name, "wait-for-db").trim().split("\n").pop()}`);
            });
            await check("apps node: the backend serves from the shared database (a transaction through each pod: the login role in use, running as the owner)", async () => {
                await until("the backend's endpoints", async () => ((await readyEndpoints()).length === config.backend.replicas ? true : undefined), 60000);
                const pods = await backendPods();
                for (const pod of pods) {
                    const reply = await backendRequest(pod.status.podIP, "/work", "POST");
                    assert(reply.status === 200 && reply.body.currentUser === config.tenant.roleName && String(reply.body.loginRole).startsWith(config.tenant.roleName), `${pod.metadata.name}: ${JSON.stringify(reply)}`);
                    const stats = await backendRequest(pod.status.podIP, "/stats");
                    assert(stats.body.sessionUser === reply.body.loginRole && stats.body.searchPath, `${pod.metadata.name} /stats: ${JSON.stringify(stats.body)}`);
                }
                const stats = (await backendRequest(pods[0].status.podIP, "/stats")).body;
                console.log(`     ${pods[0].metadata.name}: session_user ${stats.sessionUser}, current_user ${stats.currentUser}, search_path ${stats.searchPath}`);
            });
            await check(`apps node: PgBouncer on the infra node sees the backend's connections from the apps node's address ${appsNode.network.nodeIp} (masqueraded; externalTrafficPolicy Local keeps it), never a pod address`, async () => {
                const poolers = ((await kubeRequest(infra, "GET", `/api/v1/namespaces/${config.sharedCluster.namespace}/pods?labelSelector=${encodeURIComponent(`cnpg.io/poolerName=${config.pooler.name}`)}`)).items as any[]);
                const logs = poolers.map((p) => infraNode.podLogs(config.sharedCluster.namespace, p.metadata.name, "pgbouncer")).join("\n");
                // PgBouncer's client logins: "C-0x...: db/user@<client address>:<port> login attempt: ...".
                const clients = [...logs.matchAll(/C-0x[0-9a-f]+: [^@\s]+@(\d+\.\d+\.\d+\.\d+):\d+ login attempt/g)].map((m) => m[1]!);
                const fromApps = clients.filter((ip) => ip === appsNode.network.nodeIp).length;
                // Node's own CIDR matcher: an address in the apps node's pod range reached PgBouncer unmasqueraded.
                const podRange = new BlockList();
                const [podNet, podBits] = appsNode.network.podCidr.split("/");
                podRange.addSubnet(podNet!, Number(podBits));
                const fromPods = clients.filter((ip) => podRange.check(ip));
                assert(fromApps > 0, `no PgBouncer log line names a client at ${appsNode.network.nodeIp} (clients seen: ${[...new Set(clients)].join(", ") || "none"})`);
                assert(fromPods.length === 0, `PgBouncer saw apps pod addresses: ${[...new Set(fromPods)].join(", ")}`);
                console.log(`     ${fromApps} client log lines from ${appsNode.network.nodeIp}; clients seen: ${[...new Set(clients)].join(", ")}`);
            });
        },

        /**
         * Requests to the backend through the rotations, as a Service would route them: to its ready endpoints
         * (refreshed every 200 ms from the EndpointSlices), 4 at a time. Nothing is retried: every refused
         * connection, timeout or non-200 counts. Each pod's own counters (/stats: failed logins and borrows) are
         * read every second while it is ready; the last reading of each pod counts.
         */
        serve() {
            let running = true;
            let endpoints: string[] = [];
            const tally = { ok: 0, failed: 0, byRole: {} as Record<string, number>, errors: [] as string[], failedLogins: 0, failedBorrows: 0, pods: 0 };
            const podStats = new Map<string, { connectionFailures: number; borrowFailures: number }>();
            const refresher = (async () => {
                let tick = 0;
                while (running) {
                    endpoints = await readyEndpoints().catch(() => endpoints);
                    if (tick++ % 5 === 0) {
                        for (const ip of endpoints) {
                            const stats = await backendRequest(ip, "/stats").catch(() => undefined);
                            if (stats?.status === 200) podStats.set(`${stats.body.origin}`, { connectionFailures: stats.body.connectionFailures, borrowFailures: stats.body.borrowFailures });
                        }
                    }
                    await new Promise((r) => setTimeout(r, 200));
                }
            })();
            const worker = async (i: number) => {
                let n = i;
                while (running) {
                    const ip = endpoints[n++ % Math.max(endpoints.length, 1)];
                    if (!ip) {
                        await new Promise((r) => setTimeout(r, 50));
                        continue;
                    }
                    try {
                        const reply = await backendRequest(ip, "/work", "POST");
                        if (reply.status === 200) {
                            tally.ok++;
                            tally.byRole[reply.body.loginRole] = (tally.byRole[reply.body.loginRole] ?? 0) + 1;
                        } else {
                            tally.failed++;
                            if (tally.errors.length < 5) tally.errors.push(`${ip}: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
                        }
                    } catch (error) {
                        tally.failed++;
                        if (tally.errors.length < 5) tally.errors.push(`${ip}: ${(error as Error).message}`);
                    }
                }
            };
            const workers = [0, 1, 2, 3].map(worker);
            return {
                /** The role the backend's requests run as now (each ready pod asked once). */
                async rolesNow(): Promise<string[]> {
                    const roles = new Set<string>();
                    for (const ip of await readyEndpoints()) roles.add((await backendRequest(ip, "/work", "POST")).body.loginRole);
                    return [...roles];
                },
                async finish(): Promise<typeof tally> {
                    running = false;
                    await Promise.all([refresher, ...workers]);
                    for (const stats of podStats.values()) {
                        tally.failedLogins += stats.connectionFailures;
                        tally.failedBorrows += stats.borrowFailures;
                    }
                    tally.pods = podStats.size;
                    return tally;
                },
            };
        },
    };
}

export type AppsNodeChecks = ReturnType<typeof appsNodeChecks>;
