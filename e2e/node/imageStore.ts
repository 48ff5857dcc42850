// The node's images, unpacked once per machine: a containerd root holding every image of images.json (the "image
// store", in the toolchain cache beside the archives, keyed by them), which each node's containerd root starts as a
// hard-linked copy of. Importing the archives took 27-30 s per node (hashing and unpacking ~600 MB) and ran on every
// start; the copy takes about a second. Safe to share: containerd never writes a blob or a committed layer in place
// (overlayfs copies a file up before a container changes it; garbage collection only unlinks), and the two bolt
// databases, which it does write in place, are copied, not linked.
import { createHash } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface StoreImages {
    /** Image name -> its archive (images.json). */
    images: Record<string, { ref: string; file: string }>;
    containerd: string;
}

/** How a store is built: a containerd started with this config (tracked and stopped by the node), ctr against it. */
export interface StoreBuilder {
    /** Starts containerd with `config` (the node's `launch`: in its namespaces, so its unpack mounts die with them). */
    startContainerd(config: string): ChildProcess;
    /** Runs ctr to completion, its output appended to the node's log. */
    ctr(args: string[]): Promise<void>;
    /** A scratch dir of the node's work dir (the builder's socket and state). */
    scratch: string;
}

/** The store's directory for these archives: their names, references, sizes and modification times. */
export function imageStoreDir(toolchain: string, spec: StoreImages): string {
    const hash = createHash("sha256");
    for (const [name, image] of Object.entries(spec.images).sort(([a], [b]) => a.localeCompare(b))) {
        const stat = fs.statSync(image.file);
        hash.update(`${name}\0${image.ref}\0${stat.size}\0${stat.mtimeMs}\n`);
    }
    hash.update(execFileSync(spec.containerd, ["--version"], { encoding: "utf8" }));
    return path.join(toolchain, "node", "image-store", hash.digest("hex").slice(0, 16));
}

const building = new Map<string, Promise<void>>();

/**
 * The store for these images, built if it is missing (once per process: two nodes starting together share one
 * build; two runs never build at once, since a node refuses to start while another run's node of its site lives).
 * A build cut short leaves a `.building` dir, removed by the next; stores of other archives are removed.
 */
export function ensureImageStore(store: string, spec: StoreImages, builder: StoreBuilder): Promise<void> {
    if (fs.existsSync(store)) return Promise.resolve();
    let pending = building.get(store);
    if (!pending) {
        pending = buildImageStore(store, spec, builder);
        building.set(store, pending);
        pending.catch(() => building.delete(store));
    }
    return pending;
}

async function buildImageStore(store: string, spec: StoreImages, builder: StoreBuilder): Promise<void> {
    const parent = path.dirname(store);
    fs.mkdirSync(parent, { recursive: true });
    for (const other of fs.readdirSync(parent)) fs.rmSync(path.join(parent, other), { recursive: true, force: true });
    const root = `${store}.building`;
    fs.mkdirSync(builder.scratch, { recursive: true });
    const socket = path.join(builder.scratch, "containerd.sock");
    const config = path.join(builder.scratch, "containerd.toml");
    fs.writeFileSync(
        config,
        [
            "version = 2",
            `root = "${root}"`,
            `state = "${path.join(builder.scratch, "state")}"`,
            // No CRI: nothing here runs a container, and it would otherwise write under /var/lib and /run.
            `disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]`,
            "[grpc]",
            `  address = "${socket}"`,
            `[plugins."io.containerd.internal.v1.opt"]`,
            `  path = "${path.join(builder.scratch, "opt")}"`,
            "",
        ].join("\n"),
    );
    const containerd = builder.startContainerd(config);
    const exited = new Promise<void>((resolve) => containerd.once("exit", () => resolve()));
    try {
        const deadline = Date.now() + 30000;
        while (!(fs.existsSync(socket) && (await builder.ctr(["--address", socket, "version"]).then(() => true, () => false)))) {
            if (containerd.exitCode !== null || containerd.signalCode !== null) throw new Error(`the image store's containerd exited (${containerd.exitCode ?? containerd.signalCode})`);
            if (Date.now() > deadline) throw new Error("the image store's containerd did not start in 30 s");
            await new Promise((r) => setTimeout(r, 250));
        }
        // One at a time: two cores, and each import is mostly hashing and unpacking its layer.
        for (const image of Object.values(spec.images)) await builder.ctr(["--address", socket, "--namespace", "k8s.io", "images", "import", image.file]);
    } finally {
        containerd.kill("SIGTERM");
        const killed = setTimeout(() => containerd.kill("SIGKILL"), 10000);
        await exited;
        clearTimeout(killed);
    }
    fs.renameSync(root, store);
}

/**
 * A node's containerd root as a copy of the store: files hard-linked, the bolt databases copied. Extended attributes
 * are required, not best effort (overlayfs marks opaque directories with one; cp recreates directories). A work dir
 * on another filesystem than the cache (a tmpfs /tmp) cannot link: the files are copied (reflinked where the
 * filesystem can). Returns how.
 */
export function copyImageStore(store: string, root: string): "linked" | "copied" {
    fs.mkdirSync(root, { recursive: true });
    const link = fs.statSync(store).dev === fs.statSync(root).dev;
    execFileSync("cp", [link ? "-al" : "-a", "--preserve=xattr", ...(link ? [] : ["--reflink=auto"]), `${store}/.`, root]);
    // meta.db (images, content, snapshots) and each snapshotter's metadata.db, one level down.
    for (const plugin of fs.readdirSync(root)) {
        const dir = path.join(root, plugin);
        if (!fs.statSync(dir).isDirectory()) continue;
        for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".db"))) {
            fs.rmSync(path.join(dir, file));
            fs.copyFileSync(path.join(store, plugin, file), path.join(dir, file));
        }
    }
    return link ? "linked" : "copied";
}
