// One real Kubernetes node for the e2e: containerd + runc, the kubelet, kube-proxy (iptables mode, nf_tables
// backend) and CoreDNS, registered with a kube-apiserver that e2e/controlPlane.ts started on loopback.
//
// Everything the node changes is kept off the host where the kernel allows it:
// - its processes run in a network namespace and a private mount namespace of the test's own, each held by a
//   bind mount under /run/synergyflow-db-e2e/<site>/ns (not /run/netns, so `ip netns` stays as it was);
// - in that mount namespace /run, /var/lib and /var/log are bind mounts of the run's work dir, so what containerd,
//   the kubelet and the CNI plugins write there despite their root-dir flags (/run/containerd, /var/lib/kubelet,
//   /var/log/pods, /var/lib/cni, /run/netns, /run/xtables.lock) lands in the work dir, and every container, volume
//   and pod-netns mount lives and dies with the namespace;
// - the bridge, pod veths and kube-proxy's rules are in the node's netns; the host gets one veth and routes
//   through it (sites.ts), all gone with the netns; the apps node's link to the infra node lives in the two
//   nodes' namespaces only;
// - pods' cgroups go under one cgroupRoot (/synergyflow-db-e2e-<site>) in every hierarchy, removed at stop.
// What cannot be kept off (the kubelet's kernel tunables are global sysctls) is saved before the first node and
// restored after the last. A state file per node (/run/synergyflow-db-e2e/<site>/node.json) lets a later run
// remove what a killed one left (cleanupStale).
//
// Two nodes may run at once, one per site (sites.ts: infra, apps), each a machine of its own: its own netns,
// mount namespace, containerd, kubelet, kube-proxy and CoreDNS. Addresses: only 198.18.0.0/15. Each node's API
// server on 127.0.0.1 is reached from the node at <site's hostIp>:<its port> through a socat forwarder.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { type ApiServer, kubeRequest } from "../controlPlane";
import { GLOBAL_SYSCTLS, readSysctl, sysctlPath } from "./hostState";
import { copyImageStore, ensureImageStore, imageStoreDir } from "./imageStore";
import { NODE_SITES, type NodeSite, type NodeSiteId } from "./sites";

/** The label a real node carries (kwok's fake nodes do not). */
export const REAL_NODE_LABEL = "e2e.synergyflow-db/real-node";

const STATE_ROOT = "/run/synergyflow-db-e2e";
/** The host's global sysctls as they were before the first node of a run: restored once no node is left. */
const HOST_SYSCTLS_FILE = path.join(STATE_ROOT, "host-sysctls.json");

/** Everything a node of one site is found by: its state, its namespaces' files, its link, bridge and cgroups. */
interface SitePaths {
    site: NodeSite;
    stateDir: string;
    stateFile: string;
    nsDir: string;
    mntNs: string;
    netNs: string;
    /** Interface names stay under 15 characters (IFNAMSIZ). */
    hostVeth: string;
    nodeVeth: string;
    /** Its end of the link to site.peerLink.peer (in its netns), and the peer's end (in the peer's). */
    peerVeth: string;
    peerEndVeth: string;
    bridge: string;
    cgroupRoot: string;
    cni: string;
}

function sitePaths(id: NodeSiteId): SitePaths {
    const stateDir = path.join(STATE_ROOT, id);
    const nsDir = path.join(stateDir, "ns");
    return {
        site: NODE_SITES[id],
        stateDir,
        stateFile: path.join(stateDir, "node.json"),
        nsDir,
        mntNs: path.join(nsDir, "mnt"),
        netNs: path.join(nsDir, "net"),
        hostVeth: `sfdb-${id}-h`,
        nodeVeth: `sfdb-${id}-n`,
        peerVeth: `sfdb-${id}-p`,
        peerEndVeth: `sfdb-to-${id}`,
        bridge: `sfdb-${id}-br`,
        cgroupRoot: `synergyflow-db-e2e-${id}`,
        cni: `synergyflow-e2e-${id}`,
    };
}

export function toolchainDir(): string {
    return process.env["SYNERGYFLOW_TOOLCHAIN"] ?? path.join(process.env["HOME"] ?? "/root", ".cache", "synergyflow-db-toolchain");
}

export interface NodeBinaries {
    kubelet: string;
    kubeProxy: string;
    coredns: string;
    containerd: string;
    ctr: string;
    runc: string;
    socat: string;
    nft: string;
    cniDir: string;
    images: Record<string, { ref: string; file: string }>;
}

/** The node's binaries and images, or what is missing and which script builds it. */
export function findNodeBinaries(dir = toolchainDir()): { binaries?: NodeBinaries; missing: string[] } {
    const missing: string[] = [];
    const need = (file: string, how: string) => {
        if (!fs.existsSync(file)) missing.push(`${file} (${how})`);
        return file;
    };
    const kube = "e2e/toolchain/build-kube-apiserver.sh";
    const pkgs = "e2e/toolchain/build-node-packages.sh";
    const binaries = {
        kubelet: need(path.join(dir, "bin", "kubelet"), kube),
        kubeProxy: need(path.join(dir, "bin", "kube-proxy"), kube),
        coredns: need(path.join(dir, "bin", "coredns"), "e2e/toolchain/build-node-coredns.sh"),
        containerd: need("/usr/bin/containerd", pkgs),
        ctr: need("/usr/bin/ctr", pkgs),
        runc: need("/usr/sbin/runc", pkgs),
        socat: need("/usr/bin/socat", pkgs),
        nft: need("/usr/sbin/nft", pkgs),
        cniDir: "/usr/lib/cni",
        images: {} as NodeBinaries["images"],
    };
    for (const plugin of ["bridge", "host-local", "loopback"]) need(path.join(binaries.cniDir, plugin), pkgs);
    const imagesJson = need(path.join(dir, "node", "images", "images.json"), "e2e/toolchain/build-node-images.sh");
    if (fs.existsSync(imagesJson)) {
        const listed = JSON.parse(fs.readFileSync(imagesJson, "utf8")) as Record<string, { ref: string; file: string }>;
        for (const [name, image] of Object.entries(listed)) binaries.images[name] = { ref: image.ref, file: need(path.join(dir, "node", "images", image.file), "e2e/toolchain/build-node-images.sh") };
        if (!listed["pause"]) missing.push("the pause image (e2e/toolchain/build-node-images.sh pause)");
    }
    return missing.length > 0 ? { missing } : { binaries, missing };
}

interface TrackedProcess {
    name: string;
    pid: number;
    /** /proc/<pid>/stat's start time: a pid reused by another process is never signalled. */
    start: string;
    /** Signal the whole process group (socat forks one child per connection). */
    group?: boolean;
}

interface NodeState {
    site: NodeSiteId;
    ownerPid: number;
    ownerStart: string;
    workDir?: string;
    /** nsDir was bind-mounted onto itself to get private propagation (only where its parent mount is shared). */
    nsDirBound?: boolean;
    /** The watchdog that removes the node if its owner dies without stopping it (SIGKILL). */
    reaper?: { pid: number; start: string };
    processes: TrackedProcess[];
}

function sh(cmd: string, args: string[], input?: string): string {
    try {
        return execFileSync(cmd, args, { encoding: "utf8", stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"], input });
    } catch (e: any) {
        throw new Error(`${cmd} ${args.join(" ")}: ${String(e.stderr || e.message).trim()}`);
    }
}
const inNet = (netNs: string, cmd: string, ...args: string[]) => sh("nsenter", [`--net=${netNs}`, "--", cmd, ...args]);

function sleepSync(ms: number): void {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A process's start time, or undefined when it is gone or a zombie (our own children stay zombies while a
 * synchronous teardown blocks the event loop that would reap them). */
function procStart(pid: number): string | undefined {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return fields[0] === "Z" ? undefined : fields[19];
    } catch {
        return undefined;
    }
}
const alive = (p: TrackedProcess) => procStart(p.pid) === p.start;

const TRASH_SUFFIX = ".removing";
/** Work dirs of earlier runs whose deletion was cut short. */
function trashDirs(): string[] {
    return fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith("synergyflow-node-") && d.endsWith(TRASH_SUFFIX)).map((d) => path.join(os.tmpdir(), d));
}

function writeState(state: NodeState): void {
    const { stateDir, stateFile } = sitePaths(state.site);
    fs.mkdirSync(stateDir, { recursive: true });
    fs.writeFileSync(`${stateFile}.tmp`, JSON.stringify(state, null, 2));
    fs.renameSync(`${stateFile}.tmp`, stateFile);
}

function readState(p: SitePaths): NodeState | undefined {
    try {
        return JSON.parse(fs.readFileSync(p.stateFile, "utf8")) as NodeState;
    } catch {
        return undefined;
    }
}

/** Sites with a node state file: a node running, or one a killed run left. */
function sitesWithState(): NodeSiteId[] {
    return (Object.keys(NODE_SITES) as NodeSiteId[]).filter((id) => fs.existsSync(sitePaths(id).stateFile));
}

/** Before a node starts: the host's sysctls, saved unless another node of this run saved them already. */
function saveHostSysctls(): void {
    if (fs.existsSync(HOST_SYSCTLS_FILE)) return;
    fs.mkdirSync(STATE_ROOT, { recursive: true });
    const values = Object.fromEntries(GLOBAL_SYSCTLS.map((s) => [s, readSysctl(s)]).filter((e): e is [string, string] => e[1] !== undefined));
    fs.writeFileSync(`${HOST_SYSCTLS_FILE}.tmp`, JSON.stringify(values, null, 2));
    fs.renameSync(`${HOST_SYSCTLS_FILE}.tmp`, HOST_SYSCTLS_FILE);
}

/** Once no node is left (none has a state file): the saved sysctls put back, the state root removed. */
function restoreHostSysctlsIfLast(): void {
    if (sitesWithState().length > 0) return;
    if (fs.existsSync(HOST_SYSCTLS_FILE)) {
        const saved = JSON.parse(fs.readFileSync(HOST_SYSCTLS_FILE, "utf8")) as Record<string, string>;
        for (const [name, value] of Object.entries(saved)) if (readSysctl(name) !== value) fs.writeFileSync(sysctlPath(name), `${value}\n`);
        fs.rmSync(HOST_SYSCTLS_FILE, { force: true });
    }
    if (fs.existsSync(STATE_ROOT) && fs.readdirSync(STATE_ROOT).length === 0) fs.rmdirSync(STATE_ROOT);
}

function isMountpoint(dir: string): boolean {
    return fs.readFileSync("/proc/self/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === dir);
}

/** "mnt:[4026532...]"-style identity of a namespace held by a bind mount, if it is held. */
function nsIdentity(kind: "mnt" | "net", file: string): string | undefined {
    if (!isMountpoint(file)) return undefined;
    return `${kind}:[${fs.statSync(file).ino}]`;
}

/** Pids of every process inside either of the node's namespaces (containerd's shims included). */
function processesInNamespaces(p: SitePaths): number[] {
    const mnt = nsIdentity("mnt", p.mntNs);
    const net = nsIdentity("net", p.netNs);
    if (!mnt && !net) return [];
    const pids: number[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            if ((mnt && fs.readlinkSync(`/proc/${entry}/ns/mnt`) === mnt) || (net && fs.readlinkSync(`/proc/${entry}/ns/net`) === net)) pids.push(Number(entry));
        } catch {
            /* exited */
        }
    }
    return pids.filter((p) => p !== process.pid);
}

function cgroupHierarchies(): string[] {
    return fs.readdirSync("/sys/fs/cgroup").map((h) => path.join("/sys/fs/cgroup", h)).filter((h) => isMountpoint(h));
}

/** Every cgroup directory under the node's cgroupRoot, deepest first. */
function nodeCgroups(p: SitePaths): string[] {
    const out: string[] = [];
    const walk = (dir: string) => {
        let entries: fs.Dirent[];
        try {
            entries = fs.readdirSync(dir, { withFileTypes: true });
        } catch {
            return;
        }
        for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name));
        out.push(dir);
    };
    for (const h of cgroupHierarchies()) if (fs.existsSync(path.join(h, p.cgroupRoot))) walk(path.join(h, p.cgroupRoot));
    return out;
}

function processesInCgroups(p: SitePaths): number[] {
    const pids = new Set<number>();
    for (const dir of nodeCgroups(p)) {
        try {
            for (const pid of fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) pids.add(Number(pid));
        } catch {
            /* removed meanwhile */
        }
    }
    return [...pids];
}

function signal(pid: number, sig: NodeJS.Signals): void {
    try {
        process.kill(pid, sig);
    } catch {
        /* already gone */
    }
}

/** SIGKILL until none of find() is left, for at most timeoutMs. */
function killAll(find: () => number[], timeoutMs: number): number[] {
    const deadline = Date.now() + timeoutMs;
    let left = find();
    while (left.length > 0 && Date.now() < deadline) {
        for (const pid of left) signal(pid, "SIGKILL");
        sleepSync(100);
        left = find();
    }
    return left;
}

/**
 * Removes everything a node (this run's or a killed one's) put on the host, step by step, each step whatever the
 * others did; returns what could not be removed. Synchronous, so that it can run in an "exit" handler.
 */
function teardown(p: SitePaths, state: NodeState | undefined): string[] {
    const problems: string[] = [];
    const step = (what: string, body: () => void) => {
        try {
            body();
        } catch (e) {
            problems.push(`${what}: ${(e as Error).message}`);
        }
    };
    const tracked = (state?.processes ?? []).filter(alive);
    // The node's own processes first (a kubelet still running would restart what is killed under it), politely.
    step("stop node processes", () => {
        for (const proc of tracked) signal(proc.group ? -proc.pid : proc.pid, "SIGTERM");
        const deadline = Date.now() + 5000;
        while (tracked.some(alive) && Date.now() < deadline) sleepSync(100);
        for (const proc of tracked.filter(alive)) signal(proc.group ? -proc.pid : proc.pid, "SIGKILL");
    });
    // Containers (in the pod cgroups) and what else is in the namespaces (containerd's shims, stray forks).
    step("kill pod processes", () => {
        const left = killAll(() => processesInCgroups(p), 10000);
        if (left.length) throw new Error(`still running: ${left.join(", ")}`);
    });
    step("kill processes in the node's namespaces", () => {
        const left = killAll(() => processesInNamespaces(p), 10000);
        if (left.length) throw new Error(`still running: ${left.join(", ")}`);
    });
    // Dropping the namespaces' last references drops every mount, pod netns, veth, the bridge and their rules.
    for (const file of [p.mntNs, p.netNs]) {
        step(`release ${file}`, () => {
            if (isMountpoint(file)) sh("umount", [file]);
            fs.rmSync(file, { force: true });
        });
    }
    step("remove the host's veth", () => {
        // Deleting the node's netns deletes the pair (the kernel does it asynchronously, so the link may still be
        // listed and then gone by the time it is deleted); this is for a netns that is gone but a link that is not.
        const listed = () => sh("ip", ["-o", "link", "show"]).includes(` ${p.hostVeth}@`);
        if (listed()) {
            try {
                sh("ip", ["link", "del", p.hostVeth]);
            } catch (error) {
                if (listed()) throw error;
            }
        }
        // Only the routes through this node's link (the other node's may share a destination).
        for (const cidr of p.site.hostRoutes) if (sh("ip", ["route", "show", cidr, "via", p.site.linkIp]).trim()) sh("ip", ["route", "del", cidr, "via", p.site.linkIp]);
    });
    step("remove cgroups", () => {
        let left: string[] = [];
        for (let attempt = 0; attempt < 20; attempt++) {
            left = [];
            for (const dir of nodeCgroups(p)) {
                try {
                    fs.rmdirSync(dir);
                } catch {
                    left.push(dir);
                }
            }
            if (left.length === 0) return;
            sleepSync(250);
        }
        throw new Error(`not removable: ${left.join(", ")}`);
    });
    step("remove the namespace directory", () => {
        if (state?.nsDirBound && isMountpoint(p.nsDir)) sh("umount", [p.nsDir]);
        if (fs.existsSync(p.nsDir) && fs.readdirSync(p.nsDir).length === 0) fs.rmdirSync(p.nsDir);
    });
    step("remove the work dir", () => {
        // Hundreds of MB of unpacked layers take tens of seconds to delete on this disk (mounted with discard):
        // renamed out of the way at once, deleted by a detached rm that outlives this process if need be.
        for (const dir of [state?.workDir, ...trashDirs()]) {
            if (!dir || !fs.existsSync(dir)) continue;
            const trash = dir.endsWith(TRASH_SUFFIX) ? dir : `${dir}${TRASH_SUFFIX}`;
            if (trash !== dir) fs.renameSync(dir, trash);
            spawn("nice", ["rm", "-rf", trash], { detached: true, stdio: "ignore" }).unref();
        }
    });
    if (problems.length === 0) {
        fs.rmSync(p.stateFile, { force: true });
        if (fs.existsSync(p.stateDir) && fs.readdirSync(p.stateDir).length === 0) fs.rmdirSync(p.stateDir);
    }
    step("restore sysctls", restoreHostSysctlsIfLast);
    return problems;
}

/**
 * A script's work dirs (os.tmpdir()/<prefix>*) left by runs that were killed: each holds owner.pid, and a run that
 * ended wrote "keep" beside its logs. Removes those whose owner is gone; returns them.
 */
export function removeKilledRunDirs(prefix: string): string[] {
    const removed: string[] = [];
    for (const dir of fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith(prefix)).map((d) => path.join(os.tmpdir(), d))) {
        if (!fs.existsSync(path.join(dir, "owner.pid")) || fs.existsSync(path.join(dir, "keep"))) continue;
        const owner = Number(fs.readFileSync(path.join(dir, "owner.pid"), "utf8").trim());
        if (procStart(owner) !== undefined && owner !== process.pid) continue;
        fs.rmSync(dir, { recursive: true, force: true });
        removed.push(dir);
    }
    return removed;
}

/**
 * Removes what earlier runs that were killed left on these sites (default: both): each state file names its work
 * dir and pids; namespaces, links and cgroups are found by their fixed names; the host's sysctls are put back
 * once no node is left. Refuses while the run that started a node still lives.
 */
export function cleanupStale(sites: NodeSiteId[] = Object.keys(NODE_SITES) as NodeSiteId[]): { cleaned: boolean; problems: string[] } {
    let cleaned = false;
    const problems: string[] = [];
    for (const id of sites) {
        const p = sitePaths(id);
        let state = readState(p);
        // A killed run's watchdog may be removing it right now: two teardowns at once, or one still running while a
        // new node sets up under the same names, would undo each other. Let it finish.
        if (state?.reaper && state.reaper.pid !== process.pid) {
            const reaper = state.reaper;
            const deadline = Date.now() + 60000;
            while (procStart(reaper.pid) === reaper.start && Date.now() < deadline) sleepSync(200);
            state = readState(p);
        }
        const leftovers = state || isMountpoint(p.mntNs) || isMountpoint(p.netNs) || nodeCgroups(p).length > 0;
        if (!leftovers) continue;
        if (state && state.ownerPid !== process.pid && procStart(state.ownerPid) === state.ownerStart) {
            throw new Error(`a node started by pid ${state.ownerPid} is still running (state in ${p.stateFile}); stop that run first`);
        }
        cleaned = true;
        problems.push(...teardown(p, state).map((problem) => `${id} node: ${problem}`));
    }
    // A run killed between its last node's removal and the sysctls' restore.
    if (fs.existsSync(HOST_SYSCTLS_FILE) && sitesWithState().length === 0) {
        cleaned = true;
        restoreHostSysctlsIfLast();
    }
    return { cleaned, problems };
}

export interface NodeOptions {
    server: ApiServer;
    /** Which machine this node is (sites.ts; default infra): its addresses, names and state. */
    site?: NodeSiteId;
    /** The API server's serving certificate bundle (default server.certFile), to verify it for real; without
     * either the node's clients skip verification as the e2e's own kubeconfigs do. */
    apiServerCertFile?: string;
    /** A CA the API server trusts for client certificates (--client-ca-file; default server.clientCa): the node's
     * components then log in with certificates it signs (system:node:<name> in system:nodes, system:kube-proxy,
     * coredns) instead of the server's token. */
    clientCa?: { certFile: string; keyFile: string };
    /** Node name (default synergyflow-e2e-<site>). */
    name?: string;
    /** Labels the kubelet registers the node with, besides REAL_NODE_LABEL=true (what a nodeSelector picks it by
     * when kwok's fake nodes share the API server). */
    labels?: Record<string, string>;
    /** Where logs go (kept after stop); default a new dir under the system temp dir. */
    logDir?: string;
    toolchainDir?: string;
    /** Stop the node on SIGINT/SIGTERM (and re-raise the signal when nothing else handles it). Default true. */
    handleSignals?: boolean;
    /** Readiness timeout for the whole start, ms (default 180000). */
    timeoutMs?: number;
}

export interface RunningNode {
    name: string;
    network: NodeSite;
    /** Image name (images.json) -> reference as containerd knows it. */
    images: Record<string, string>;
    logDir: string;
    /** Milliseconds each start phase took. */
    timings: Record<string, number>;
    /** A container's log (its CRI log file, read on the node's disk: the API server cannot reach the kubelet's
     * log endpoint without a client certificate of its own), one line per log line, timestamps removed. */
    podLogs(namespace: string, pod: string, container?: string): string;
    /**
     * A local PersistentVolume on this node (nothing here provisions volumes): its directory is made in the node's
     * work dir, owned by uid:gid (CNPG's postgres is 26:26), and goes with the node. Create the returned object
     * with the API; a PVC of the same storageClassName binds to it (the controller-manager's PV binder), and its
     * nodeAffinity keeps the pods that use it on this node.
     */
    localVolume(name: string, options: { size: string; storageClassName: string; uid: number; gid: number }): any;
    /** Stops every process, removes namespaces, link, route, cgroups, work dir, restores sysctls; throws listing
     * whatever it could not remove. Idempotent. */
    stop(): Promise<void>;
}

function httpStatus(url: string): Promise<number> {
    return new Promise((resolve) => {
        const req = http.get(url, { timeout: 2000 }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
        });
        req.on("error", () => resolve(0));
        req.on("timeout", () => {
            req.destroy();
            resolve(0);
        });
    });
}

function runAsync(cmd: string, args: string[], logFile: string): Promise<void> {
    return new Promise((resolve, reject) => {
        const log = fs.openSync(logFile, "a");
        const child = spawn(cmd, args, { stdio: ["ignore", log, log] });
        child.on("error", reject);
        child.on("exit", (code) => {
            fs.closeSync(log);
            if (code === 0) resolve();
            else reject(new Error(`${cmd} ${args.join(" ")} exited ${code}; see ${logFile}`));
        });
    });
}

function openssl(...args: string[]): void {
    sh("openssl", args);
}

/** A client certificate for `subject` signed by the API server's client CA. */
function clientCertificate(ca: { certFile: string; keyFile: string }, dir: string, name: string, subject: string): { cert: string; key: string } {
    const key = path.join(dir, `${name}.key`);
    const csr = path.join(dir, `${name}.csr`);
    const cert = path.join(dir, `${name}.crt`);
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subject, "-keyout", key, "-out", csr);
    fs.writeFileSync(path.join(dir, `${name}.ext`), "extendedKeyUsage = clientAuth\nkeyUsage = critical, digitalSignature\n");
    openssl("x509", "-req", "-in", csr, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-CAcreateserial", "-days", "2", "-extfile", path.join(dir, `${name}.ext`), "-out", cert);
    return { cert, key };
}

/**
 * A detached watchdog (its own session, so a signal to the test's process group spares it): while the owner lives
 * and the state file exists it only polls; if the owner dies with the state file still there (SIGKILL: no exit
 * handler ran) it runs `cli.ts cleanup-stale`, so the host is put back without waiting for a next run.
 */
function startReaper(state: NodeState, logDir: string): void {
    const script = [
        `while [ -e "$STATE" ]; do`,
        // /proc/<pid>/stat after the command name: field 1 is the state, field 20 the start time.
        `  s=$(sed 's/.*) //' /proc/$OWNER/stat 2>/dev/null) || break`,
        `  [ "$(echo "$s" | cut -d' ' -f1)" = Z ] && break`,
        `  [ "$(echo "$s" | cut -d' ' -f20)" = "$OWNER_START" ] || break`,
        "  sleep 1",
        "done",
        `[ -e "$STATE" ] || exit 0`,
        `echo "owner $OWNER gone with the node still up: cleaning up"`,
        `exec "$NODE" -r "$TS_NODE" "$CLI" cleanup-stale "$SITE"`,
    ].join("\n");
    const log = fs.openSync(path.join(logDir, "reaper.log"), "a");
    const child = spawn("sh", ["-c", script], {
        detached: true,
        stdio: ["ignore", log, log],
        env: { ...process.env, SITE: state.site, STATE: sitePaths(state.site).stateFile, OWNER: String(state.ownerPid), OWNER_START: state.ownerStart, NODE: process.execPath, TS_NODE: require.resolve("ts-node/register/transpile-only"), CLI: path.join(__dirname, "cli.ts") },
    });
    fs.closeSync(log);
    child.unref();
    if (child.pid !== undefined) {
        state.reaper = { pid: child.pid, start: procStart(child.pid) ?? "" };
        writeState(state);
    }
}

/** Starts the node; on any failure everything started so far is removed before the error is thrown. */
export async function startNode(options: NodeOptions): Promise<RunningNode> {
    if (process.getuid?.() !== 0) throw new Error("a real node needs root (namespaces, mounts, cgroups)");
    const { binaries, missing } = findNodeBinaries(options.toolchainDir);
    if (!binaries) throw new Error(`the node's toolchain is incomplete: ${missing.join("; ")}`);
    const p = sitePaths(options.site ?? "infra");
    const { site } = p;
    const stale = cleanupStale([site.id]);
    if (stale.problems.length) throw new Error(`an earlier run's node could not be removed: ${stale.problems.join("; ")}`);
    // The node this one links to (it must be started too, before or beside this one).
    const peer = site.peerLink ? sitePaths(site.peerLink.peer) : undefined;

    const name = options.name ?? `synergyflow-e2e-${site.id}`;
    const timeoutMs = options.timeoutMs ?? 180000;
    const started = Date.now();
    const timings: Record<string, number> = {};
    let mark = started;
    const phase = (what: string) => {
        timings[what] = Date.now() - mark;
        mark = Date.now();
    };
    const apiPort = Number(new URL(options.server.url).port);
    const logDir = options.logDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-node-logs-"));
    fs.mkdirSync(logDir, { recursive: true });

    saveHostSysctls();
    const state: NodeState = { site: site.id, ownerPid: process.pid, ownerStart: procStart(process.pid) ?? "", processes: [] };
    writeState(state);
    let stopped = false;
    const stopSync = () => {
        if (stopped) return [];
        stopped = true;
        process.removeListener("exit", onExit);
        for (const sig of ["SIGINT", "SIGTERM"] as const) process.removeListener(sig, onSignal);
        return teardown(p, state);
    };
    const onExit = () => {
        const problems = stopSync();
        if (problems.length) process.stderr.write(`node teardown at exit left: ${problems.join("; ")}\n`);
    };
    const onSignal = (sig: NodeJS.Signals) => {
        onExit();
        // Nobody else handles it: behave as the default action would.
        if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on("exit", onExit);
    if (options.handleSignals !== false) for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, onSignal);
    startReaper(state, logDir);

    const children: ChildProcess[] = [];
    const launch = (component: string, command: string, args: string[], opts: { inNode?: boolean; group?: boolean; env?: Record<string, string> } = {}) => {
        const log = fs.openSync(path.join(logDir, `${component}.log`), "a");
        const argv = opts.inNode === false ? [command, ...args] : ["nsenter", `--mount=${p.mntNs}`, `--net=${p.netNs}`, "--", command, ...args];
        // nsenter execs the command (no fork for mount and net namespaces), so the child's pid is the component's.
        const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", log, log], env: { ...process.env, ...opts.env }, detached: opts.group === true });
        fs.closeSync(log);
        if (child.pid === undefined) throw new Error(`${component} did not start`);
        children.push(child);
        state.processes.push({ name: component, pid: child.pid, start: procStart(child.pid) ?? "", group: opts.group });
        writeState(state);
        return child;
    };
    const exitedEarly = () => children.find((c) => c.exitCode !== null || c.signalCode !== null);
    const waitFor = async (what: string, probe: () => Promise<boolean>) => {
        while (!(await probe())) {
            const dead = exitedEarly();
            if (dead) throw new Error(`${what}: ${dead.spawnfile} ${dead.spawnargs.slice(-3).join(" ")} exited (${dead.exitCode ?? dead.signalCode}); logs in ${logDir}`);
            if (Date.now() - started > timeoutMs) throw new Error(`${what}: not ready after ${timeoutMs / 1000}s; logs in ${logDir}`);
            await new Promise((r) => setTimeout(r, 250));
        }
    };

    try {
        const work = fs.mkdtempSync(path.join(os.tmpdir(), "synergyflow-node-"));
        state.workDir = work;
        writeState(state);
        const fsRoot = (dir: string) => path.join(work, "fs", dir);
        for (const d of ["run", "var-lib", "var-log", "tmp"]) fs.mkdirSync(fsRoot(d), { recursive: true, mode: d === "tmp" ? 0o1777 : 0o755 });

        // Namespaces, each held by a bind mount of its nsfs file (unshare --mount=FILE / --net=FILE). Such a file
        // must sit on a mount without shared propagation.
        fs.mkdirSync(p.nsDir, { recursive: true });
        if (sh("findmnt", ["-no", "PROPAGATION", "--target", p.nsDir]).includes("shared")) {
            sh("mount", ["--bind", p.nsDir, p.nsDir]);
            sh("mount", ["--make-private", p.nsDir]);
            state.nsDirBound = true;
            writeState(state);
        }
        for (const file of [p.mntNs, p.netNs]) fs.writeFileSync(file, "");
        sh("unshare", [`--mount=${p.mntNs}`, "--propagation", "private", `--net=${p.netNs}`, "true"]);
        sh("nsenter", [`--mount=${p.mntNs}`, "--", "sh", "-ec", [`mount --bind ${fsRoot("run")} /run`, `mount --bind ${fsRoot("var-lib")} /var/lib`, `mount --bind ${fsRoot("var-log")} /var/log`].join("\n")]);

        // The host's link (its end hostIp, the node's linkIp); the host reaches pods and Services through the node.
        inNet(p.netNs, "ip", "link", "set", "lo", "up");
        inNet(p.netNs, "ip", "link", "add", p.nodeVeth, "type", "veth", "peer", "name", p.hostVeth, "netns", String(process.pid));
        inNet(p.netNs, "ip", "addr", "add", `${site.linkIp}/${site.linkPrefix}`, "dev", p.nodeVeth);
        inNet(p.netNs, "ip", "link", "set", p.nodeVeth, "up");
        sh("ip", ["addr", "add", `${site.hostIp}/${site.linkPrefix}`, "dev", p.hostVeth]);
        sh("ip", ["link", "set", p.hostVeth, "up"]);
        for (const cidr of site.hostRoutes) sh("ip", ["route", "add", cidr, "via", site.linkIp, "dev", p.hostVeth]);
        // In the node's netns only (both are per-namespace): routing between the link and the bridge, and bridged
        // pod-to-pod traffic through kube-proxy's rules.
        inNet(p.netNs, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1");

        // cgroupRoot in every hierarchy (the kubelet refuses a root that does not exist); cpuset needs its cpus
        // and mems before any task can join.
        for (const h of cgroupHierarchies()) {
            const dir = path.join(h, p.cgroupRoot);
            fs.mkdirSync(dir, { recursive: true });
            for (const f of ["cpuset.cpus", "cpuset.mems"]) if (fs.existsSync(path.join(h, f))) fs.writeFileSync(path.join(dir, f), fs.readFileSync(path.join(h, f)));
        }
        phase("namespaces");

        // Clients of the API server, through the forwarder.
        const apiUrl = `https://${site.hostIp}:${apiPort}`;
        const certDir = path.join(work, "pki");
        fs.mkdirSync(certDir);
        const caBundle = options.apiServerCertFile ?? options.server.certFile;
        const clientCa = options.clientCa ?? options.server.clientCa;
        const kubeconfig = (file: string, user: string, subject: string) => {
            const cluster = caBundle
                ? { server: apiUrl, "certificate-authority": caBundle, "tls-server-name": new URL(options.server.url).hostname }
                : { server: apiUrl, "insecure-skip-tls-verify": true };
            const credentials = clientCa ? (({ cert, key }) => ({ "client-certificate": cert, "client-key": key }))(clientCertificate(clientCa, certDir, user, subject)) : { token: options.server.token };
            fs.writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "Config", clusters: [{ name: "node", cluster }], users: [{ name: user, user: credentials }], contexts: [{ name: "node", context: { cluster: "node", user } }], "current-context": "node" }, null, 2), { mode: 0o600 });
            return file;
        };
        const kubeletKubeconfig = kubeconfig(path.join(work, "kubelet.kubeconfig"), "kubelet", `/O=system:nodes/CN=system:node:${name}`);
        const proxyKubeconfig = kubeconfig(path.join(work, "kube-proxy.kubeconfig"), "kube-proxy", "/CN=system:kube-proxy");
        const dnsKubeconfig = kubeconfig(path.join(work, "coredns.kubeconfig"), "coredns", "/O=synergyflow-e2e/CN=coredns");
        launch("apiserver-forwarder", binaries.socat, [`TCP-LISTEN:${apiPort},bind=${site.hostIp},reuseaddr,fork`, `TCP:127.0.0.1:${apiPort}`], { inNode: false, group: true });

        // containerd: its own root; /run/containerd is the work dir's (bind mount above). restrict_oom_score_adj:
        // this VM withholds CAP_SYS_RESOURCE, so runc could not lower oom_score_adj and every sandbox would fail.
        const cniConfDir = path.join(work, "cni", "net.d");
        fs.mkdirSync(cniConfDir, { recursive: true });
        fs.writeFileSync(
            path.join(cniConfDir, "10-synergyflow-e2e.conflist"),
            JSON.stringify({
                cniVersion: "1.0.0",
                name: p.cni,
                plugins: [
                    {
                        type: "bridge",
                        bridge: p.bridge,
                        isGateway: true,
                        isDefaultGateway: true,
                        ipMasq: false,
                        hairpinMode: true,
                        ipam: { type: "host-local", ranges: [[{ subnet: site.podCidr, gateway: site.podGateway }]] },
                    },
                ],
            }, null, 2),
        );
        const containerdConfig = path.join(work, "containerd.toml");
        fs.writeFileSync(
            containerdConfig,
            [
                "version = 2",
                `root = "${path.join(work, "containerd")}"`,
                `state = "/run/containerd"`,
                `disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]`,
                "[grpc]",
                `  address = "/run/containerd/containerd.sock"`,
                `[plugins."io.containerd.internal.v1.opt"]`,
                `  path = "${path.join(work, "containerd-opt")}"`,
                `[plugins."io.containerd.grpc.v1.cri"]`,
                `  sandbox_image = "${binaries.images["pause"]!.ref}"`,
                "  restrict_oom_score_adj = true",
                "  disable_apparmor = true",
                `  [plugins."io.containerd.grpc.v1.cri".containerd]`,
                `    snapshotter = "overlayfs"`,
                `    default_runtime_name = "runc"`,
                `    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]`,
                `      runtime_type = "io.containerd.runc.v2"`,
                `      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]`,
                `        BinaryName = "${binaries.runc}"`,
                "        SystemdCgroup = false",
                `  [plugins."io.containerd.grpc.v1.cri".cni]`,
                `    bin_dir = "${binaries.cniDir}"`,
                `    conf_dir = "${cniConfDir}"`,
                "    max_conf_num = 1",
                "",
            ].join("\n"),
        );
        // Temp files (containerd mounts layers in temp dirs) in the work dir, seen the same from both namespaces.
        const tmpEnv = { TMPDIR: fsRoot("tmp") };
        // Every image of images.json, from the machine's image store (imageStore.ts), built on the first start.
        const storeImages = { images: binaries.images, containerd: binaries.containerd };
        const store = imageStoreDir(options.toolchainDir ?? toolchainDir(), storeImages);
        const storeBuilder: ChildProcess[] = [];
        await ensureImageStore(store, storeImages, {
            startContainerd: (config) => {
                const child = launch("image-store-containerd", binaries.containerd, ["--config", config], { env: tmpEnv });
                storeBuilder.push(child);
                return child;
            },
            ctr: (args) => runAsync(binaries.ctr, args, path.join(logDir, "ctr.log")),
            scratch: path.join(work, "image-store"),
        });
        // Stopped once the store is built: not a component that exits early.
        for (const child of storeBuilder) children.splice(children.indexOf(child), 1);
        // "images (copied)": the work dir is on another filesystem than the cache, so nothing could be linked.
        phase(copyImageStore(store, path.join(work, "containerd")) === "linked" ? "images" : "images (copied)");

        launch("containerd", binaries.containerd, ["--config", containerdConfig], { env: tmpEnv });
        const socket = fsRoot("run/containerd/containerd.sock");
        const ctr = (...args: string[]): [string, string[]] => [binaries.ctr, ["--address", socket, "--namespace", "k8s.io", ...args]];
        await waitFor("containerd", async () => fs.existsSync(socket) && (await runAsync(...ctr("version"), path.join(logDir, "ctr.log")).then(() => true, () => false)));
        phase("containerd");

        if (peer && site.peerLink) {
            // The peer may be starting beside this one: its namespace is made in its first moments.
            await waitFor(`the ${peer.site.id} node's network namespace`, async () => isMountpoint(peer.netNs));
            // The routed link to the peer node: made in this node's netns with its other end put into the peer's (ip
            // takes a namespace file for `netns`), so it lives only in the two nodes' namespaces and goes with the
            // first of them to stop. The node's InternalIP is its address on this link.
            const { peerIp, prefix, routes } = site.peerLink;
            inNet(p.netNs, "ip", "link", "add", p.peerVeth, "type", "veth", "peer", "name", p.peerEndVeth, "netns", peer.netNs);
            inNet(p.netNs, "ip", "addr", "add", `${site.nodeIp}/${prefix}`, "dev", p.peerVeth);
            inNet(p.netNs, "ip", "link", "set", p.peerVeth, "up");
            inNet(peer.netNs, "ip", "addr", "add", `${peerIp}/${prefix}`, "dev", p.peerEndVeth);
            inNet(peer.netNs, "ip", "link", "set", p.peerEndVeth, "up");
            for (const cidr of routes) inNet(p.netNs, "ip", "route", "add", cidr, "via", peerIp, "dev", p.peerVeth);
            // The pods' egress to the other node leaves with the node's address, as the platform's apps cluster
            // masquerades traffic leaving it (what the Pooler's source ranges admit). A table of its own, apart
            // from kube-proxy's.
            sh("nsenter", [`--net=${p.netNs}`, "--", binaries.nft, "-f", "-"], [
                "table ip synergyflow-e2e-egress {",
                "    chain postrouting {",
                "        type nat hook postrouting priority srcnat; policy accept;",
                `        ip saddr ${site.podCidr} oifname "${p.peerVeth}" masquerade`,
                "    }",
                "}",
                "",
            ].join("\n"));
            phase("peer link");
        }

        // kubelet: cgroupfs (cgroup v1 here, containerd 1.6 does not report a driver), failCgroupV1 false (1.34
        // refuses v1 otherwise), its volume plugin dir in the work dir (else /usr/libexec/kubernetes).
        const resolvConf = path.join(work, "resolv.conf");
        fs.writeFileSync(resolvConf, `nameserver ${site.nodeIp}\n`);
        const kubeletConfig = path.join(work, "kubelet.json");
        fs.writeFileSync(
            kubeletConfig,
            JSON.stringify({
                apiVersion: "kubelet.config.k8s.io/v1beta1",
                kind: "KubeletConfiguration",
                cgroupDriver: "cgroupfs",
                failCgroupV1: false,
                cgroupRoot: `/${p.cgroupRoot}`,
                containerRuntimeEndpoint: "unix:///run/containerd/containerd.sock",
                address: site.nodeIp,
                healthzBindAddress: site.nodeIp,
                readOnlyPort: 0,
                // The API server's kubelet client certificate (logs, exec) is signed by the same client CA.
                authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, ...(clientCa ? { x509: { clientCAFile: clientCa.certFile } } : {}) },
                authorization: { mode: "Webhook" },
                clusterDNS: [site.nodeIp],
                clusterDomain: site.clusterDomain,
                resolvConf,
                volumePluginDir: path.join(work, "volume-plugins"),
                failSwapOn: false,
                shutdownGracePeriod: "0s",
                // The host's disk is shared with everything else: no eviction because the work dir grew.
                evictionHard: { "memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%" },
                imageGCHighThresholdPercent: 100,
                imageGCLowThresholdPercent: 99,
                serializeImagePulls: false,
                maxPods: 40,
            }, null, 2),
        );
        const labels = Object.entries({ [REAL_NODE_LABEL]: "true", ...options.labels }).map(([k, v]) => `${k}=${v}`).join(",");
        launch("kubelet", binaries.kubelet, [`--config=${kubeletConfig}`, `--kubeconfig=${kubeletKubeconfig}`, `--hostname-override=${name}`, `--node-ip=${site.nodeIp}`, `--node-labels=${labels}`, "--v=1"], { env: tmpEnv });

        // kube-proxy: iptables mode (no IPVS in this kernel); conntrack limits untouched (global, and read-only
        // outside the host's netns); NodePorts only on the node's address.
        const proxyConfig = path.join(work, "kube-proxy.json");
        fs.writeFileSync(
            proxyConfig,
            JSON.stringify({
                apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
                kind: "KubeProxyConfiguration",
                mode: "iptables",
                clientConnection: { kubeconfig: proxyKubeconfig },
                hostnameOverride: name,
                clusterCIDR: site.podCidr,
                bindAddress: site.nodeIp,
                healthzBindAddress: `${site.nodeIp}:10256`,
                metricsBindAddress: `${site.nodeIp}:10249`,
                nodePortAddresses: [`${site.nodeIp}/32`],
                conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
                iptables: { syncPeriod: "10s", minSyncPeriod: "0s" },
            }, null, 2),
        );
        launch("kube-proxy", binaries.kubeProxy, [`--config=${proxyConfig}`, "--v=1"], { env: tmpEnv });

        // CoreDNS on the node's address (pods reach it through their gateway): cluster names only, no upstream.
        const corefile = path.join(work, "Corefile");
        fs.writeFileSync(
            corefile,
            [
                ".:53 {",
                "    errors",
                `    health ${site.nodeIp}:8080`,
                `    ready ${site.nodeIp}:8181`,
                `    kubernetes ${site.clusterDomain} in-addr.arpa ip6.arpa {`,
                `        kubeconfig ${dnsKubeconfig} node`,
                "        pods insecure",
                "        fallthrough in-addr.arpa ip6.arpa",
                "        ttl 5",
                "    }",
                "    cache 5",
                "    loadbalance",
                "}",
                "",
            ].join("\n"),
        );
        launch("coredns", binaries.coredns, ["-conf", corefile], { env: tmpEnv });

        await waitFor(`node ${name} Ready`, async () => {
            const node = await kubeRequest(options.server, "GET", `/api/v1/nodes/${name}`).catch(() => undefined);
            return node?.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True") ?? false;
        });
        phase("kubelet");
        // The API server taints a new node not-ready; the node lifecycle controller (not run by the e2e) would lift
        // it once Ready. Lift it here so that the scheduler places pods.
        const node = await kubeRequest(options.server, "GET", `/api/v1/nodes/${name}`);
        const taints = (node.spec?.taints ?? []).filter((t: any) => !String(t.key).startsWith("node.kubernetes.io/not-ready") && !String(t.key).startsWith("node.kubernetes.io/unreachable"));
        await kubeRequest(options.server, "PATCH", `/api/v1/nodes/${name}`, { spec: { taints: taints.length ? taints : null } }, "application/merge-patch+json");
        await waitFor("CoreDNS ready", async () => (await httpStatus(`http://${site.nodeIp}:8181/ready`)) === 200);
        await waitFor("kube-proxy healthy", async () => (await httpStatus(`http://${site.nodeIp}:10256/healthz`)) === 200);
        phase("dns-and-proxy");
        timings["total"] = Date.now() - started;
    } catch (e) {
        const problems = stopSync();
        throw new Error(`${(e as Error).message} (phases done, ms: ${JSON.stringify(timings)})${problems.length ? `; cleanup also failed: ${problems.join("; ")}` : ""}`);
    }

    return {
        name,
        network: site,
        images: Object.fromEntries(Object.entries(binaries.images).map(([k, v]) => [k, v.ref])),
        logDir,
        timings,
        podLogs(namespace: string, pod: string, container?: string): string {
            const pods = path.join(state.workDir!, "fs", "var-log", "pods");
            const dir = fs.readdirSync(pods).find((d) => d.startsWith(`${namespace}_${pod}_`));
            if (!dir) throw new Error(`no logs for pod ${namespace}/${pod} on node ${name}`);
            const containers = fs.readdirSync(path.join(pods, dir));
            const chosen = container ?? containers[0];
            if (!chosen || !containers.includes(chosen)) throw new Error(`no container ${container} in pod ${namespace}/${pod} (has ${containers.join(", ")})`);
            const files = fs.readdirSync(path.join(pods, dir, chosen)).filter((f) => /^\d+\.log$/.test(f)).sort((a, b) => parseInt(a) - parseInt(b));
            // CRI log lines: "<time> <stream> <P|F> <text>"; P marks a partial line continued on the next.
            let out = "";
            for (const f of files) {
                for (const line of fs.readFileSync(path.join(pods, dir, chosen, f), "utf8").split("\n").filter(Boolean)) {
                    const [, , tag, ...text] = line.split(" ");
                    out += text.join(" ") + (tag === "P" ? "" : "\n");
                }
            }
            return out;
        },
        localVolume(volumeName, { size, storageClassName, uid, gid }) {
            // /var/lib in the node's mount namespace is the work dir's var-lib (see the namespaces above).
            const inNode = `/var/lib/e2e-volumes/${volumeName}`;
            const dir = path.join(state.workDir!, "fs", "var-lib", "e2e-volumes", volumeName);
            fs.mkdirSync(dir, { recursive: true });
            fs.chownSync(dir, uid, gid);
            fs.chmodSync(dir, 0o700);
            return {
                apiVersion: "v1",
                kind: "PersistentVolume",
                metadata: { name: volumeName },
                spec: {
                    capacity: { storage: size },
                    accessModes: ["ReadWriteOnce"],
                    persistentVolumeReclaimPolicy: "Retain",
                    storageClassName,
                    local: { path: inNode },
                    nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [name] }] }] } },
                },
            };
        },
        async stop() {
            const problems = stopSync();
            if (problems.length) throw new Error(`node ${name} teardown left: ${problems.join("; ")}`);
        },
    };
}
