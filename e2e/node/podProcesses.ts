// The host's view of a pod on a node: its containers' processes, found by the pod's UID in their cgroup path (the
// kubelet names the pod's cgroup after it: pod<uid> with the cgroupfs driver, pod<uid with _> with systemd's).
import * as fs from "node:fs";

export interface PodProcess {
    pid: number;
    argv: string[];
    /** The last entry of NSpid: its pid inside the container's pid namespace (1 for the container's command). */
    containerPid: number;
}

export function podProcesses(podUid: string): PodProcess[] {
    const uidForms = [podUid, podUid.replace(/-/g, "_")];
    const found: PodProcess[] = [];
    for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
        try {
            const cgroup = fs.readFileSync(`/proc/${pid}/cgroup`, "utf8");
            if (!uidForms.some((uid) => cgroup.includes(uid))) continue;
            const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
            const nspid = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]?.trim().split(/\s+/) ?? [];
            found.push({ pid: Number(pid), argv, containerPid: Number(nspid[nspid.length - 1]) });
        } catch {
            // A process that ended while it was read.
        }
    }
    return found;
}
