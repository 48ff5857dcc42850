// What a real node could leave behind on the host, read in one go, so that a test can compare the machine
// before and after a node's life: the kernel settings the kubelet and the bridge plugin change, links, addresses,
// routes, network namespaces, mounts, nftables (iptables-nft writes there too), cgroup directories, the paths
// containerd and the kubelet write despite their root-dir flags, and processes of the node's binaries.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** Host sysctls the node may change: the kubelet's kernel tunables, and forwarding/bridge netfilter. */
export const GLOBAL_SYSCTLS = [
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
] as const;

/** Paths the runtime and the kubelet write outside their configured roots (DESIGN.md §7). */
export const STRAY_PATHS = [
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/usr/libexec/kubernetes",
    "/run/containerd",
    "/var/lib/containerd",
    "/opt/containerd",
    "/var/lib/cni",
    "/etc/cni/net.d",
    "/run/netns",
    "/run/xtables.lock",
];

/** Executables whose processes must not outlive a node (by path: a host's own PostgreSQL is not ours). */
const NODE_EXECUTABLES = [/\/kubelet$/, /\/kube-proxy$/, /\/coredns$/, /^\/usr\/bin\/containerd/, /^\/usr\/s?bin\/runc$/, /^\/usr\/bin\/socat$/];
/** Cgroup path parts of pod processes: the node's cgroupRoot and the kubelet's default. */
const NODE_CGROUPS = ["synergyflow-db-e2e", "kubepods"];

export function sysctlPath(name: string): string {
    return path.join("/proc/sys", ...name.split("."));
}

export function readSysctl(name: string): string | undefined {
    try {
        return fs.readFileSync(sysctlPath(name), "utf8").trim();
    } catch {
        return undefined;
    }
}

function run(cmd: string, args: string[]): string {
    try {
        return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e: any) {
        return `<${cmd} ${args.join(" ")} failed: ${String(e.stderr || e.message).trim()}>`;
    }
}

/**
 * This machine's command runner puts every command it runs (ours, and anyone else's run beside the test) in a
 * cgroup of its own under process_api/: those come and go with no node involved, so only process_api itself counts.
 */
const FOREIGN_PER_COMMAND_CGROUPS = "process_api";

/** Cgroup directories two levels deep under every hierarchy (the kubelet's kubepods or cgroupRoot live there). */
function cgroupDirs(): string[] {
    const root = "/sys/fs/cgroup";
    const out: string[] = [];
    for (const hierarchy of fs.readdirSync(root)) {
        const base = path.join(root, hierarchy);
        let level1: fs.Dirent[];
        try {
            level1 = fs.readdirSync(base, { withFileTypes: true });
        } catch {
            continue;
        }
        for (const d of level1.filter((e) => e.isDirectory())) {
            out.push(`${hierarchy}/${d.name}`);
            if (d.name === FOREIGN_PER_COMMAND_CGROUPS) continue;
            try {
                for (const e of fs.readdirSync(path.join(base, d.name), { withFileTypes: true })) if (e.isDirectory()) out.push(`${hierarchy}/${d.name}/${e.name}`);
            } catch {
                /* gone meanwhile */
            }
        }
    }
    return out.sort();
}

function nodeProcesses(): string[] {
    const out: string[] = [];
    for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
            const exe = fs.readlinkSync(`/proc/${pid}/exe`);
            const cgroup = fs.readFileSync(`/proc/${pid}/cgroup`, "utf8");
            if (NODE_EXECUTABLES.some((r) => r.test(exe)) || NODE_CGROUPS.some((c) => cgroup.includes(c))) out.push(`${exe} (pid ${pid})`);
        } catch {
            /* exited, or a kernel thread */
        }
    }
    return out.sort();
}

/** Interface lines without the counters and per-boot details that change by themselves. */
function links(): string[] {
    return run("ip", ["-o", "link", "show"])
        .split("\n")
        .filter(Boolean)
        .map((l) => l.replace(/^\d+:\s*/, "").replace(/\s+/g, " ").trim())
        .sort();
}

export interface HostSnapshot {
    [section: string]: string[];
}

export function hostSnapshot(): HostSnapshot {
    return {
        sysctls: GLOBAL_SYSCTLS.map((s) => `${s} = ${readSysctl(s) ?? "<absent>"}`),
        links: links(),
        addresses: run("ip", ["-o", "addr", "show"]).split("\n").filter(Boolean).map((l) => l.replace(/^\d+:\s*/, "").replace(/\s+/g, " ").replace(/valid_lft \S+ preferred_lft \S+/, "")).sort(),
        routes: run("ip", ["route", "show", "table", "all"]).split("\n").filter(Boolean).sort(),
        netns: run("ip", ["netns", "list"]).split("\n").filter(Boolean).sort(),
        mounts: fs.readFileSync("/proc/mounts", "utf8").split("\n").filter(Boolean).sort(),
        nftables: run("nft", ["list", "ruleset"]).split("\n").filter((l) => l.trim()),
        cgroups: cgroupDirs(),
        paths: STRAY_PATHS.filter((p) => fs.existsSync(p)).map((p) => `${p} exists`),
        processes: nodeProcesses(),
    };
}

/** Lines only before ("-") or only after ("+"), per section; empty when the host is as it was. */
export function diffSnapshots(before: HostSnapshot, after: HostSnapshot): string[] {
    const out: string[] = [];
    for (const section of new Set([...Object.keys(before), ...Object.keys(after)])) {
        const a = new Set(before[section] ?? []);
        const b = new Set(after[section] ?? []);
        for (const l of a) if (!b.has(l)) out.push(`${section}: - ${l}`);
        for (const l of b) if (!a.has(l)) out.push(`${section}: + ${l}`);
    }
    return out;
}
